/**
 * An {@link AddressStore} in a JSON file, written crash-safely.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';
import { z } from 'zod';
import { StoreError } from '../errors.js';
import type { AddressBinding, AddressStore } from './address-store.js';

const FORMAT = 'rina-enrollment/address-store';

const fileSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.literal(1),
  // Read key by key below, never through an object zod builds: a name such as
  // "__proto__" would set the prototype of that object instead of a key.
  bindings: z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
    error: 'bindings must be an object of IPCP names to addresses',
  }),
});
const addressSchema = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/**
 * Keeps the bindings in one JSON file. Every change rewrites the file through
 * write-file-atomic (a temporary file, fsync, rename), so after a crash the
 * file holds either the old table or the new one, never half of one.
 *
 * Changes made while a write is under way are written together by the next
 * one (group commit): 10,000 members enrolling at once cost a few dozen
 * writes, not 10,000.
 */
export class FileAddressStore implements AddressStore {
  /** The file's path. */
  readonly path: string;
  readonly #bindings = new Map<string, number>();
  #writing: Promise<void> | undefined;
  /** A change is in memory but not (yet, or not successfully) in the file. */
  #unsaved = false;
  #next: Promise<void> | undefined;
  /** How many times the file was written (for tests and benchmarks). */
  writes = 0;

  constructor(path: string) {
    if (typeof path !== 'string' || path === '') throw new StoreError('a FileAddressStore needs a file path');
    this.path = path;
  }

  /** Reads the file; a missing file is an empty table, a corrupt one a {@link StoreError}. */
  async load(): Promise<AddressBinding[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new StoreError(`cannot read the address table ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    let parsed: z.output<typeof fileSchema>;
    try {
      parsed = fileSchema.parse(JSON.parse(text));
    } catch (err) {
      throw new StoreError(`${this.path} is not an address table of rina-enrollment: ${(err as Error).message}`, { cause: err });
    }
    // JSON.parse makes own properties of every key, "__proto__" included; Object.keys lists them all.
    const table = new Map<string, number>();
    const seen = new Map<number, string>();
    for (const name of Object.keys(parsed.bindings)) {
      const address = addressSchema.safeParse(parsed.bindings[name]);
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
    return [...this.#bindings].map(([name, address]) => ({ name, address }));
  }

  bind(binding: AddressBinding): Promise<void> {
    // The enroller binds on every enrollment: an unchanged, written binding costs no write.
    if (this.#bindings.get(binding.name) === binding.address && !this.#unsaved && this.#next === undefined) {
      return this.#writing ?? Promise.resolve();
    }
    this.#bindings.set(binding.name, binding.address);
    return this.#persist();
  }

  release(name: string): Promise<void> {
    if (!this.#bindings.delete(name)) return Promise.resolve();
    return this.#persist();
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
        const writing = this.#write().then(
          () => {
            if (this.#writing === writing) this.#writing = undefined;
          },
          (err: unknown) => {
            if (this.#writing === writing) this.#writing = undefined;
            this.#unsaved = true;
            throw err;
          },
        );
        this.#writing = writing;
        return writing;
      });
    this.#next = next;
    return next;
  }

  async #write(): Promise<void> {
    const body = JSON.stringify({ format: FORMAT, version: 1, bindings: Object.fromEntries(this.#bindings) }, null, 1);
    try {
      await writeFileAtomic(this.path, `${body}\n`, { fsync: true });
      this.writes++;
    } catch (err) {
      throw new StoreError(`cannot write the address table ${this.path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
