/**
 * The lock that keeps a table file to one enroller process at a time: a
 * file beside it holding the holder's process id (and, on Linux, its start
 * time, since ids are reused). Taken over when its holder is dead.
 *
 * Two processes can start at the same moment, so no step may leave a
 * window another process could misread: the lock appears with its content
 * (written to a file of this process's own, then hard-linked into place,
 * which fails if a lock is there), and a dead holder's lock is removed by
 * the one process that wins its takeover (an exclusively created file per
 * dead lock), moved aside and checked there first.
 *
 * @module
 */
import { StoreError } from '../errors.js';

/** node:fs/promises, loaded at first use (see file-address-store.ts). */
const fsp = (): Promise<typeof import('node:fs/promises')> => import('node:fs/promises');

/** How long taking the lock keeps trying while other processes take it over, in ms. */
const LOCK_PATIENCE_MS = 8_000;

/** How old a takeover's mark must be to be a dead process's (a takeover is a few file operations), in ms. */
const TAKEN_STALE_MS = 5_000;

/**
 * The file `path` names, its symbolic links followed to the end, also to a
 * file not written yet: the table is written there and the lock goes beside
 * it, so that two paths to one table take one lock.
 */
export async function realFile(path: string): Promise<string> {
  const { dirname, basename, join, resolve } = await import('node:path');
  const { realpath, readlink } = await fsp();
  let at = path;
  for (let hops = 0; hops < 40; hops++) {
    try {
      return await realpath(at);
    } catch {
      // not there (yet), or a link to something not there: follow the link by hand
    }
    const target = await readlink(at).catch(() => undefined);
    if (target === undefined)
      return realpath(dirname(at)).then(
        (dir) => join(dir, basename(at)),
        () => at,
      );
    at = resolve(dirname(at), target);
  }
  return path; // (a loop of links: the load that follows says what is wrong)
}

/** Takes the lock at `lockPath` for this process (`dataPath`: the table it guards, for the errors). */
export async function takeLock(lockPath: string, dataPath: string): Promise<void> {
  const fs = await fsp();
  const started = startTimeOf(process.pid);
  const content = started === undefined ? `${process.pid}\n` : `${process.pid} ${started}\n`;
  const until = Date.now() + LOCK_PATIENCE_MS;
  const patience = (): void => {
    if (Date.now() > until) throw new StoreError(`cannot take the lock ${lockPath}: other processes keep taking it`);
  };
  for (;;) {
    if (await create(fs, lockPath, dataPath, content)) return;
    let seen: string;
    try {
      seen = await fs.readFile(lockPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        throw new StoreError(
          `cannot read the lock ${lockPath} (${code ?? (err as Error).message}): remove it if no enroller uses ${dataPath}`,
          {
            cause: err,
          },
        );
      }
      patience();
      continue; // given back meanwhile
    }
    const holder = liveHolder(seen);
    if (holder !== undefined) {
      throw new StoreError(
        `${dataPath} is in use by another enroller (process ${holder}; lock ${lockPath}): stop it first, or delete the lock if that process is gone`,
      );
    }
    patience();
    // Its holder died without giving it back (or is this process, which can only be a store it dropped): take it over.
    await removeDead(fs, lockPath, seen);
  }
}

/** Gives the lock back. */
export async function giveLockBack(lockPath: string): Promise<void> {
  await (await fsp()).unlink(lockPath).catch(() => undefined);
}

type Fs = typeof import('node:fs/promises');

/** Locks taken by this process so far (each writes its content to a file of its own first). */
let made = 0;

/** Errors of `link` on a file system without hard links. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/** Creates the lock with `content` in one step; false when a lock is there already. */
async function create(fs: Fs, lockPath: string, dataPath: string, content: string): Promise<boolean> {
  // (a file of a dead process given this id, left behind, is overwritten: no live process writes this name)
  const own = `${lockPath}.${process.pid}.${++made}.${Math.random().toString(36).slice(2, 10)}`;
  const failed = (err: unknown): StoreError => {
    const code = (err as NodeJS.ErrnoException).code;
    return new StoreError(
      `cannot use ${dataPath}: cannot create ${lockPath} (${code ?? (err as Error).message}): is the directory there and writable?`,
      { cause: err },
    );
  };
  try {
    await fs.writeFile(own, content, { mode: 0o644 });
  } catch (err) {
    throw failed(err);
  }
  try {
    await fs.link(own, lockPath);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (NO_LINKS.has(code)) return createInPlace(fs, lockPath, content).catch((e: unknown) => Promise.reject(failed(e)));
    throw failed(err);
  } finally {
    await fs.unlink(own).catch(() => undefined);
  }
}

/**
 * Where there are no hard links: created, then written. Another process may
 * read it empty in between and take it for a dead holder's; the lock is
 * weaker there, and only there.
 */
async function createInPlace(fs: Fs, lockPath: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<Fs['open']>>;
  try {
    handle = await fs.open(lockPath, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  return true;
}

/** The live process a lock's `content` names, if it is alive and the same process (started when the holder did). */
function liveHolder(content: string): number | undefined {
  const [pidText = '', started] = content.trim().split(/\s+/);
  const holder = Number.parseInt(pidText, 10);
  if (!Number.isSafeInteger(holder) || holder <= 0 || holder === process.pid || !alive(holder)) return undefined;
  const holderStarted = startTimeOf(holder);
  return started === undefined || holderStarted === undefined || holderStarted === started ? holder : undefined;
}

/**
 * Removes the dead holder's lock that read `seen`, if this process wins the
 * right to: the takeover of one dead lock is one file
 * (`<lock>.<hash of its content>.taken`), which only one process can create
 * (one older than {@link TAKEN_STALE_MS} is a process's that died taking the
 * lock over). Its winner finds the lock still the dead one, moves it aside
 * (a rename) and checks it there: a winner paused past the stale time may
 * find another process's lock made meanwhile, and puts it back.
 */
async function removeDead(fs: Fs, lockPath: string, seen: string): Promise<void> {
  const taken = takenMark(lockPath, seen);
  try {
    await (await fs.open(taken, 'wx', 0o644)).close();
  } catch {
    const age = await fs.stat(taken).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > TAKEN_STALE_MS) await fs.unlink(taken).catch(() => undefined);
    else await new Promise((resolve) => setTimeout(resolve, 10));
    return;
  }
  try {
    if ((await fs.readFile(lockPath, 'utf8').catch(() => undefined)) === seen) await moveDead(fs, lockPath, seen);
  } finally {
    await fs.unlink(taken).catch(() => undefined);
  }
}

/** Moves the lock aside and removes it if it is the dead one (`seen`); another process's lock is put back. */
async function moveDead(fs: Fs, lockPath: string, seen: string): Promise<void> {
  const aside = `${lockPath}.${process.pid}.${++made}.dead`;
  try {
    await fs.rename(lockPath, aside);
  } catch {
    return; // gone meanwhile: try again
  }
  try {
    if ((await fs.readFile(aside, 'utf8').catch(() => undefined)) === seen) return;
    try {
      await fs.link(aside, lockPath);
    } catch (err) {
      if (!NO_LINKS.has((err as NodeJS.ErrnoException).code ?? '')) {
        throw new StoreError(`the lock ${lockPath} was taken by two other processes at once: stop the enrollers of it, then start one`, {
          cause: err,
        });
      }
      await fs.rename(aside, lockPath);
    }
  } finally {
    await fs.unlink(aside).catch(() => undefined);
  }
}

/** The file whose exclusive creation wins the takeover of the dead lock at `lockPath` that read `content`. */
export function takenMark(lockPath: string, content: string): string {
  return `${lockPath}.${fnv1a(content)}.taken`;
}

/** FNV-1a (32 bits) of `text`, in hex: a file name for any lock content. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** Whether process `pid` exists (a process of another user counts: it answers EPERM). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** When process `pid` started (Linux: /proc/<pid>/stat, field 22), to tell it from a later process given the same id; undefined elsewhere. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = process.getBuiltinModule('node:fs').readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    // no /proc (not Linux), or no such process: unknown
  }
  return undefined;
}
