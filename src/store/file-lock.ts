/**
 * The lock that keeps a table file to one enroller process at a time: a
 * file beside it holding the holder's process id (and, on Linux, its start
 * time, since ids are reused). Taken over when its holder is dead.
 *
 * Two processes can start at the same moment, so no step may leave a
 * window another process could misread: the lock appears with its content
 * (written to a file of this process's own, then hard-linked into place,
 * which fails if a lock is there), and a dead holder's lock is removed by
 * one process at a time, only if it is still the one found dead.
 *
 * @module
 */
import { StoreError } from '../errors.js';

/** node:fs/promises, loaded at first use (see file-address-store.ts). */
const fsp = (): Promise<typeof import('node:fs/promises')> => import('node:fs/promises');

/** How long a takeover may last before another process takes it for a dead one's, in ms (a takeover is a few file operations). */
const TAKEOVER_STALE_MS = 10_000;

/** How long taking the lock keeps trying while other processes take it over or hold a takeover, in ms. */
const LOCK_PATIENCE_MS = 3_000;

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
  const own = `${lockPath}.${process.pid}.${++made}`;
  const failed = (err: unknown): StoreError => {
    const code = (err as NodeJS.ErrnoException).code;
    return new StoreError(
      `cannot use ${dataPath}: cannot create ${lockPath} (${code ?? (err as Error).message}): is the directory there and writable?`,
      { cause: err },
    );
  };
  try {
    await fs.writeFile(own, content, { mode: 0o644, flag: 'wx' });
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
 * Removes the dead holder's lock that read `seen`, unless it changed since:
 * under a takeover file only one process at a time holds, so that a process
 * never removes a lock another one took over meanwhile. A takeover file
 * older than {@link TAKEOVER_STALE_MS} is a dead process's, and removed.
 */
async function removeDead(fs: Fs, lockPath: string, seen: string): Promise<void> {
  const takeover = `${lockPath}.takeover`;
  try {
    await (await fs.open(takeover, 'wx', 0o644)).close();
  } catch {
    const since = await fs.stat(takeover).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (since > TAKEOVER_STALE_MS) await fs.unlink(takeover).catch(() => undefined);
    else await new Promise((resolve) => setTimeout(resolve, 20));
    return;
  }
  try {
    if ((await fs.readFile(lockPath, 'utf8').catch(() => undefined)) === seen) await fs.unlink(lockPath).catch(() => undefined);
  } finally {
    await fs.unlink(takeover).catch(() => undefined);
  }
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
