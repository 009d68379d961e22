/** FileAddressStore makes each write durable: the file is fsynced before the rename (write-file-atomic's fsync), the directory after it. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FileAddressStore } from '../../src/index.js';

/** What was fsynced through a handle opened read-only (a directory), and whether the table was in place then. */
const synced: Array<{ path: string; tableThere: boolean }> = [];
let table = '';
/** The options each atomic write was asked with. */
const atomicOptions = vi.hoisted(() => [] as unknown[]);

vi.mock('write-file-atomic', async (importOriginal) => {
  const real = (await importOriginal<{ default: (...args: unknown[]) => Promise<void> }>()).default;
  return {
    default: (path: string, data: string, options: unknown) => {
      atomicOptions.push(options);
      return real(path, data, options);
    },
  };
});

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      if (args[1] === 'r') {
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          synced.push({ path: String(args[0]), tableThere: existsSync(table) && readFileSync(table, 'utf8').includes('"a": 5') });
          return sync();
        };
      }
      return handle;
    },
  };
});

const dir = mkdtempSync(join(tmpdir(), 'rina-durable-'));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('FileAddressStore durability', () => {
  it('fsyncs the directory after each rename, so a binding sent to a member survives a power cut', async () => {
    table = join(dir, 'table.json');
    const store = new FileAddressStore(table);
    await store.load();
    await store.bind({ name: 'a', address: 5 });
    expect(synced).toEqual([{ path: dir, tableThere: true }]);
    expect(atomicOptions).toEqual([{ fsync: true }]);
    await store.close();
  });
});
