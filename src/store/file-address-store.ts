/**
 * An {@link AddressStore} in a JSON file, written crash-safely.
 *
 * @module
 */
import { dirname } from 'node:path';
import * as z from 'zod/mini';
import { StoreError } from '../errors.js';
import { duplicateKey } from '../util/json.js';
import { integer, issuesOf, lazySchema } from '../util/schema.js';
import { type AddressBinding, type AddressStore, bindingProblem, nameProblem } from './address-store.js';
import { giveLockBack, realFile, takeLock } from './file-lock.js';

const FORMAT = 'rina-enrollment/address-store';

/**
 * node:fs/promises and write-file-atomic, loaded at a store's first use: they
 * bring Node's streams, signal-exit's process hooks and worker_threads, which
 * a member (which never keeps a table) should not pay for at
 * `import('rina-enrollment')`.
 */
const fsp = (): Promise<typeof import('node:fs/promises')> => import('node:fs/promises');

const writeFileAtomic = async (): Promise<typeof import('write-file-atomic')> => (await import('write-file-atomic')).default;

const fileSchema = lazySchema(() =>
  z.strictObject({
    format: z.literal(FORMAT),
    version: z.literal(1),
    // Read key by key below, never through an object zod builds: a name such as
    // "__proto__" would set the prototype of that object instead of a key.
    bindings: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      error: 'bindings must be an object of IPCP names to addresses',
    }),
  }),
);
const addressSchema = lazySchema(() => z.number().check(integer, z.gte(1)));

/**
 * Keeps the bindings in one JSON file. Every change rewrites the file through
 * write-file-atomic (a temporary file, fsync, rename) and then fsyncs the
 * directory, so after a crash or a power cut the file holds either the old
 * table or the new one, never half of one, and a binding a member was told
 * of is on disk.
 *
 * One enroller process at a time: {@link load} takes a lock, `<path>.lock`
 * holding the process id (and on Linux its start time), and {@link close}
 * (the enroller's `stop()`) gives it back. A store in another process
 * refuses to load the same file while the holder lives; the lock of a
 * process that died (SIGKILL, a crash) is taken over, also when its id now
 * belongs to another process (the start times differ). (Within one process the lock is not checked: two stores of one
 * file there are the application's to avoid.)
 *
 * Changes made while a write is under way are written together by the next
 * one (group commit): 10,000 members enrolling at once cost a few dozen
 * writes, not 10,000.
 */
export class FileAddressStore implements AddressStore {
  /** The file's path. */
  readonly path: string;
  readonly #bindings = new Map<string, number>();
  /** The table as the file holds it: what `load` read, or the last write that succeeded. */
  #stored = new Map<string, number>();
  /** False from a failed write to the next one that succeeds: the file may hold what it carried (a rename done, its directory's sync failed). */
  #storedKnown = true;
  /** Counts the changes (binds and releases) made to `#bindings`. */
  #op = 0;
  /** Names changed since the file last took them, with the count of their last change. */
  readonly #changedAt = new Map<string, number>();
  #writing: Promise<void> | undefined;
  /** A change is in memory but not (yet, or not successfully) in the file. */
  #unsaved = false;
  #next: Promise<void> | undefined;
  /** How many times the file was written (for tests and benchmarks). */
  writes = 0;
  /** This store holds `<path>.lock`. */
  #locked = false;
  /** The lock being taken, until it is. */
  #locking: Promise<void> | undefined;
  /** The file {@link path} names, its links followed (set when the lock is taken): where the table is written. */
  #file: string | undefined;

  constructor(path: string) {
    if (typeof path !== 'string' || path === '') throw new StoreError('a FileAddressStore needs a file path');
    this.path = path;
  }

  /** The lock file's path: beside the file {@link path} names, symbolic links resolved, once {@link load} took it. */
  get lockPath(): string {
    return `${this.#file ?? this.path}.lock`;
  }

  /**
   * Takes the lock (see the class) and reads the file; a missing file is an
   * empty table. A corrupt file, a directory that cannot be written, or a
   * lock held by a live process is a {@link StoreError}.
   */
  async load(): Promise<AddressBinding[]> {
    await this.#lock();
    // A write still in flight (an enroller stopped and started again at once) lands first: the table is read after it.
    await this.#settled();
    try {
      return await this.#read();
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Gives the lock back (once a {@link load} taking it has it). The table stays in the file. */
  async close(): Promise<void> {
    await this.#locking?.catch(() => undefined); // (a close() during load() must not leave the lock that load takes)
    if (!this.#locked) return;
    this.#locked = false;
    // The writes in flight land before the lock goes: a store opened next on the file reads what they wrote.
    await this.#settled();
    await giveLockBack(this.lockPath);
  }

  /** Resolves once the writes queued or in flight have landed or failed. */
  async #settled(): Promise<void> {
    await this.#next?.catch(() => undefined);
    await this.#writing?.catch(() => undefined);
  }

  async #lock(): Promise<void> {
    if (this.#locked) return;
    this.#locking ??= (async () => {
      this.#file = await realFile(this.path);
      await takeLock(this.lockPath, this.path);
      this.#locked = true;
    })().finally(() => {
      this.#locking = undefined;
    });
    await this.#locking;
  }

  async #read(): Promise<AddressBinding[]> {
    let text: string;
    try {
      text = await (await fsp()).readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError(`cannot read the address table ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new StoreError(`${this.path} is not an address table of rina-enrollment: ${(err as Error).message}`, { cause: err });
    }
    const checked = fileSchema().safeParse(json);
    if (!checked.success) {
      // one line, as every error the CLI prints (zod's own message is its issues as indented JSON)
      const why = issuesOf(checked.error).map(({ field, rule }) => `${field}: ${rule}`);
      throw new StoreError(`${this.path} is not an address table of rina-enrollment: ${why.join('; ')}`, { cause: checked.error });
    }
    const parsed = checked.data;
    // (JSON.parse keeps the last of two bindings of one name: a hand-edited file would lose the other silently)
    const twice = duplicateKey(text);
    if (twice !== undefined)
      throw new StoreError(`${this.path} names ${JSON.stringify(twice)} twice: which of the two it means is not known`);
    // JSON.parse makes own properties of every key, "__proto__" included; Object.keys lists them all.
    const table = new Map<string, number>();
    const seen = new Map<number, string>();
    for (const name of Object.keys(parsed.bindings)) {
      const address = addressSchema().safeParse(parsed.bindings[name]);
      if (name === '' || !address.success) {
        throw new StoreError(`${this.path} is not an address table of rina-enrollment: bad binding ${JSON.stringify(name)}`);
      }
      const other = seen.get(address.data);
      if (other !== undefined) throw new StoreError(`${this.path} binds address ${address.data} to both "${other}" and "${name}"`);
      seen.set(address.data, name);
      table.set(name, address.data);
    }
    this.#bindings.clear();
    for (const [name, address] of table) this.#bindings.set(name, address);
    this.#stored = new Map(table);
    this.#storedKnown = true;
    this.#changedAt.clear();
    return [...this.#bindings].map(([name, address]) => ({ name, address }));
  }

  bind(binding: AddressBinding): Promise<void> {
    const problem = this.#unloaded('bind') ?? bindingProblem(binding);
    if (problem !== undefined) return Promise.reject(new StoreError(`${this.path}: cannot bind: ${problem}`));
    // The enroller binds on every enrollment: an unchanged, written binding costs no write.
    // (#unsaved covers a write queued and not started too: #persist sets both, the write's start clears both)
    if (this.#bindings.get(binding.name) === binding.address) {
      // The file holds it and no change of it is pending: stored, whatever becomes of the writes of other names.
      const onFile = this.#storedKnown && this.#stored.get(binding.name) === binding.address;
      if (onFile && !this.#changedAt.has(binding.name)) return Promise.resolve();
      if (!this.#unsaved) return this.#writing ?? Promise.resolve();
    }
    this.#bindings.set(binding.name, binding.address);
    this.#changedAt.set(binding.name, ++this.#op);
    return this.#persist();
  }

  release(name: string): Promise<void> {
    const problem = this.#unloaded('release') ?? nameProblem(name);
    if (problem !== undefined) return Promise.reject(new StoreError(`${this.path}: cannot release: ${problem}`));
    if (!this.#bindings.delete(name)) return Promise.resolve();
    this.#changedAt.set(name, ++this.#op);
    return this.#persist();
  }

  /** Why `what` cannot change the table yet: it is not loaded, so the file's bindings and its lock are not this store's. */
  #unloaded(what: string): string | undefined {
    return this.#locked
      ? undefined
      : `${what}() before load(), or after close() (load() takes the lock and reads the table it would overwrite)`;
  }

  /** Resolves once a write that started after this call has finished. */
  #persist(): Promise<void> {
    this.#unsaved = true;
    if (this.#next !== undefined) return this.#next;
    const previous = this.#writing ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        this.#unsaved = false;
        // #writing stays the last write started: what an unchanged binding waits for (settled, it resolves at once;
        // after a failure #unsaved is set, so no binding waits for that one).
        const writing = this.#write().catch((err: unknown) => {
          this.#unsaved = true;
          throw err;
        });
        this.#writing = writing;
        return writing;
      });
    this.#next = next;
    return next;
  }

  /**
   * Writes the table as it is now. Failing, the changes it carried go back to what the file holds (the enroller
   * frees or keeps the addresses in its pool as the failure tells it), so that a later write does not store a
   * binding nobody holds; the changes made since it started stay, for the next write.
   */
  async #write(): Promise<void> {
    const upTo = this.#op;
    const written = new Map(this.#bindings);
    const body = JSON.stringify({ format: FORMAT, version: 1, bindings: Object.fromEntries(written) }, null, 1);
    try {
      await this.#writeDurably(body);
    } catch (err) {
      for (const [name, op] of this.#changedAt) {
        if (op > upTo) continue;
        const stored = this.#stored.get(name);
        if (stored === undefined) this.#bindings.delete(name);
        else this.#bindings.set(name, stored);
        this.#changedAt.delete(name);
      }
      this.#storedKnown = false;
      throw err;
    }
    this.#stored = written;
    this.#storedKnown = true;
    for (const [name, op] of this.#changedAt) if (op <= upTo) this.#changedAt.delete(name);
  }

  async #writeDurably(body: string): Promise<void> {
    try {
      const file = this.#file ?? this.path; // (through links to the file they name, even one not written yet)
      await (await writeFileAtomic())(file, `${body}\n`, { fsync: true });
      // The rename is durable only once the directory is: a power cut must not undo a binding already sent.
      const dir = await (await fsp()).open(dirname(file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      this.writes++;
    } catch (err) {
      throw new StoreError(`cannot write the address table ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
