import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import { describeEnrollerEvent, type EnrollerEvents } from '../../src/enroller/events.js';
import { logSkipped } from '../../src/enroller/started.js';
import { Enroller, type EnrollerOptions, MemoryNetwork, MemoryRib } from '../../src/index.js';
import type { AddressBinding, AddressStoreListener, StoreOwner } from '../../src/store/address-store.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { recordingLogger as recordingLines } from '../support/logs.js';
import { cleanup, onCleanup, withEnroller } from '../support/helpers.js';
import { SharedMemoryStore } from './shared-memory-store.js';

afterEach(cleanup);

/** Starts an enroller on `shim` (stopped by cleanup). */
async function startOn(shim: EnrollerOptions['shim'], logger: EnrollerOptions['logger']) {
  const enroller = new Enroller({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'e',
    difName: 'demo.DIF',
    addressPool: { first: 1, last: 9 },
    logger,
  });
  await enroller.start();
  onCleanup(() => enroller.stop());
}

/** logSkipped on the pool 1-9 of enroller `e`, and the lines it logged. */
function skippedLog() {
  const { logger, lines: logs } = recordingLines();
  const telemetry = new Telemetry(new EventEmitter<EnrollerEvents>(), logger, describeEnrollerEvent('e'), []);
  const report = (skipped: AddressBinding[]) => logSkipped(skipped, 'e', { first: 1, last: 9 }, telemetry);
  return { logs, report };
}

/** A logger that keeps every line, by level. */
function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; text: string }> = [];
  const at = (level: string) => (fields: Record<string, unknown>, text: string) => lines.push({ level, fields, text });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('what an enroller says when it starts', () => {
  it('where it serves, the DIF, and its pool', async () => {
    const { lines, logger } = recordingLogger();
    await withEnroller({ logger });
    expect(lines).toEqual([
      {
        level: 'info',
        fields: expect.objectContaining({
          enroller: 'bootstrap',
          event: 'enroller:started',
          shimAddress: 'bootstrap',
          difName: 'demo.DIF',
        }),
        text: 'serving demo.DIF on bootstrap, pool 1002-1999',
      },
    ]);
  });

  it('with a shared store: how many bindings it found (one, or several), and the other enrollers live, or none', async () => {
    const cases = [
      { others: ['e2:7000', 'e3:7000'], names: ['x'], text: '1 binding' },
      { others: [], names: ['x', 'y'], text: '2 bindings' },
    ];
    for (const { others, names, text } of cases) {
      const { lines, logger } = recordingLogger();
      const store = new (class extends SharedMemoryStore {
        override open(owner: StoreOwner, listener: AddressStoreListener): void {
          super.open(owner, listener);
          listener.enrollers(others);
        }
      })();
      for (const [i, name] of names.entries()) store.bind({ name, address: 1003 + i });
      await withEnroller({ logger, store });
      const started = lines.filter((l) => l.fields.event === 'enroller:started');
      expect(started).toEqual([
        {
          level: 'info',
          fields: expect.objectContaining({ bindings: names.length, sharedStore: true, otherEnrollers: others }),
          text: `serving demo.DIF on bootstrap, pool 1002-1999, address space shared (${text}; other enrollers live: ${others.join(', ') || 'none'})`,
        },
      ]);
      await cleanup();
    }
  });

  it('a warning when its shim can queue under 1 MiB of datagrams: a burst of enrollments would be dropped', async () => {
    const { lines, logger } = recordingLogger();
    const shim = Object.assign(new MemoryNetwork().attach('e:1'), { recvBufferSize: 425_984 }); // Linux's default cap, doubled
    await startOn(shim, logger);
    expect(lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        fields: { enroller: 'e', event: 'enroller:small-receive-buffer', shimAddress: 'e:1', recvBufferSize: 425_984 },
        text:
          'the receive buffer of e:1 is 416 KiB: a burst of enrollments beyond it is dropped and retransmitted; ' +
          'on Linux raise net.core.rmem_max (sysctl -w net.core.rmem_max=4194304)',
      },
    ]);
  });

  it('no warning from 1 MiB up, nor for a shim that has no receive buffer to tell', async () => {
    for (const recvBufferSize of [1024 * 1024, 8 * 1024 * 1024, undefined]) {
      const { lines, logger } = recordingLogger();
      const attached = new MemoryNetwork().attach('e:1');
      await startOn(recvBufferSize === undefined ? attached : Object.assign(attached, { recvBufferSize }), logger);
      expect(lines.map((l) => l.level)).toEqual(['info']);
    }
  });
});

describe('logSkipped: the stored bindings an enroller ignored at its start', () => {
  const skipped = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `n${i}`, address: 10 + i }));

  it('says nothing when nothing was skipped', () => {
    const { logs, report } = skippedLog();
    report([]);
    expect(logs).toEqual([]);
  });

  it('one warning naming the skipped bindings, the pool, and "..." past the tenth', () => {
    const { logs, report } = skippedLog();
    report(skipped(1));
    report(skipped(10));
    report(skipped(11));
    const names = (n: number) => Array.from({ length: n }, (_, i) => `"n${i}"=${10 + i}`).join(', ');
    expect(logs.map((l) => [l.level, l.message])).toEqual([
      ['warn', `1 stored binding ignored (outside the pool 1-9, or an address bound twice): ${names(1)}`],
      ['warn', `10 stored bindings ignored (outside the pool 1-9, or an address bound twice): ${names(10)}`],
      ['warn', `11 stored bindings ignored (outside the pool 1-9, or an address bound twice): ${names(10)}, ...`],
    ]);
    expect(logs[0]?.fields).toEqual({ enroller: 'e', event: 'store:skipped', skipped: skipped(1) });
  });

  it('its fields carry the first 100 skipped bindings', () => {
    const { logs, report } = skippedLog();
    report(skipped(101));
    expect(logs[0]?.fields).toEqual({ enroller: 'e', event: 'store:skipped', skipped: skipped(100) });
  });
});
