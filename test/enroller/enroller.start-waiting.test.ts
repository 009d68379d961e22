/**
 * Found by a review (2026-12-05; fixed with it): the first version of "start() reads the table only once the binds
 * stop() gave up waiting for are answered" waited inside AddressLedger.open(), after start()'s last check for a
 * stop(). A start() waiting there, overtaken by a stop() that returned, loaded the store after that stop() (a file
 * lock taken, an etcd lease granted) and closed it again; with a second start() waiting too, the overtaken one
 * closed the store of the enroller that ran. start() now waits before its check.
 */
import { afterEach, expect, it } from 'vitest';
import { CLOSE_WAIT_MS } from '../../src/enroller/ledger.js';
import { StoreError } from '../../src/index.js';
import { cleanup, settle } from '../support/helpers.js';
import { bindingM, GatedStore, stopGivingUp, watched } from './gated-store.js';

afterEach(cleanup);

class RecordingStore extends GatedStore {
  override load() {
    this.calls.push('load');
    return super.load();
  }
  close(): void {
    this.calls.push('close');
  }
}

it('a start() overtaken by stop() while it waits for an old bind touches the store no more', async () => {
  const { clock, store, enroller, gate } = await bindingM(new RecordingStore());

  await stopGivingUp(enroller, clock); // the store is slow
  const starting = watched(enroller.start());
  await settle();
  expect(starting.settled()).toBe(false); // waits for the old bind

  await stopGivingUp(enroller, clock); // the operator gives up: stop() again; it returned: nothing is written after
  const after = store.calls.length;

  gate.ok(); // the old bind lands at last
  await starting.promise;
  await settle();
  expect(enroller.running).toBe(false);
  expect(store.calls.slice(after), `all calls: ${store.calls.join(', ')}`).toEqual([]);
});

it('start(), stop(), start() while an old bind is in flight: the enroller that runs has its store open', async () => {
  const { clock, store, enroller, gate } = await bindingM(new RecordingStore());
  await stopGivingUp(enroller, clock);
  const first = enroller.start(); // waits for the old bind
  await settle();
  await stopGivingUp(enroller, clock);
  const second = enroller.start(); // waits for the old bind too
  await settle();
  gate.ok();
  await Promise.all([first, second]);
  await settle();
  expect(enroller.running).toBe(true);
  // The running enroller's store (for a FileAddressStore: its lock) must not have been closed after its load.
  expect(store.calls.slice(store.calls.lastIndexOf('load')), `all calls: ${store.calls.join(', ')}`).toEqual(['load']);
});

// Found by an audit (2026-12-06): a bind that never answers held start() for ever, and stop() could not end it.
it('a start() whose old bind is not answered within CLOSE_WAIT_MS rejects with StoreError; a later start() after the answer runs', async () => {
  const { clock, enroller, gate } = await bindingM();
  await stopGivingUp(enroller, clock); // the store does not answer the bind
  const starting = enroller.start().then(
    () => 'started',
    (err: unknown) => err,
  );
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20);
  const outcome = await starting;
  expect(outcome).toBeInstanceOf(StoreError);
  expect((outcome as Error).message).toMatch(/has not answered binds of the last run/);
  expect(enroller.running).toBe(false);
  gate.ok(); // it answers at last
  await settle();
  await enroller.start();
  expect(enroller.running).toBe(true);
});
