/** A ledger on a ManualClock with a recording host, logger and released-event list, for the ledger's unit tests. */
import { EventEmitter } from 'eventemitter3';
import { vi } from 'vitest';
import { diagnosticsChannels } from '../../src/diagnostics.js';
import { describeEnrollerEvent, type EnrollerEvents } from '../../src/enroller/events.js';
import { AddressLedger, type LedgerHost } from '../../src/enroller/ledger.js';
import type { AddressStore } from '../../src/store/address-store.js';
import { Telemetry } from '../../src/util/telemetry.js';
import { TICK_MS, Ticker } from '../../src/util/ticker.js';
import { recordingLogger } from '../support/logs.js';
import { ManualClock } from './manual-clock.js';

/** The hold of a {@link ledgerOf} ledger unless given. */
export const HOLD_MS = 1000;

/** A ledger of `store` over the pool 1-9, its host `host` (serving nothing, running, unless said). */
export function ledgerOf(store: AddressStore, host: Partial<LedgerHost> = {}, holdMs = HOLD_MS) {
  const clock = new ManualClock();
  const emitter = new EventEmitter<EnrollerEvents>();
  const released: Array<{ name: string; address: number }> = [];
  emitter.on('address:released', (b) => released.push(b));
  const fullHost: LedgerHost = {
    serves: () => false,
    running: () => true,
    memberCount: () => 0,
    leaseBack: vi.fn(),
    rebound: vi.fn(),
    ...host,
  };
  const { logger, lines: logs } = recordingLogger();
  const ledger = new AddressLedger(
    store,
    { addressPool: { first: 1, last: 9 }, holdMs, ipcpName: 'e', localAddress: 'me', random: () => 0.5 },
    new Ticker(TICK_MS, clock),
    new Telemetry(emitter, logger, describeEnrollerEvent('e'), [diagnosticsChannels.enroller]),
    fullHost,
  );
  return { ledger, clock, released, host: fullHost, logs };
}

/** Binds `name` in the ledger's pool and store, as an enrollment does. */
export async function bound(ledger: AddressLedger, name: string): Promise<number> {
  const assignment = ledger.assign(name, 0);
  if (!assignment.ok) throw new Error(assignment.reason);
  await ledger.bind({ name, address: assignment.address });
  return assignment.address;
}
