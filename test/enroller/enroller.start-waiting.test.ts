/**
 * Found by a review (2026-12-05; fixed with it): the first version of "start() reads the table only once the binds
 * stop() gave up waiting for are answered" waited inside AddressLedger.open(), after start()'s last check for a
 * stop(). A start() waiting there, overtaken by a stop() that returned, loaded the store after that stop() (a file
 * lock taken, an etcd lease granted) and closed it again; with a second start() waiting too, the overtaken one
 * closed the store of the enroller that ran. start() now waits before its check.
 */
import { afterEach, expect, it } from 'vitest';
import { CLOSE_WAIT_MS } from '../../src/enroller/ledger.js';
import { cleanup, settle } from '../support/helpers.js';
import { bindingM, GatedStore } from './gated-store.js';

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

  const stopping = enroller.stop();
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20); // the store is slow: stop() gives up waiting
  await stopping;
  let started = false;
  const starting = enroller.start().then(() => {
    started = true;
  });
  await settle();
  expect(started).toBe(false); // waits for the old bind

  const stopping2 = enroller.stop(); // the operator gives up: stop() again
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20);
  await stopping2; // stop() returned: nothing is written after
  const after = store.calls.length;

  gate.ok(); // the old bind lands at last
  await starting;
  await settle();
  expect(enroller.running).toBe(false);
  expect(store.calls.slice(after), `all calls: ${store.calls.join(', ')}`).toEqual([]);
});

it('start(), stop(), start() while an old bind is in flight: the enroller that runs has its store open', async () => {
  const { clock, store, enroller, gate } = await bindingM(new RecordingStore());
  const stopping = enroller.stop();
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20);
  await stopping;
  const first = enroller.start(); // waits for the old bind
  await settle();
  const stopping2 = enroller.stop();
  await settle();
  clock.advance(CLOSE_WAIT_MS + 20);
  await stopping2;
  const second = enroller.start(); // waits for the old bind too
  await settle();
  gate.ok();
  await Promise.all([first, second]);
  await settle();
  expect(enroller.running).toBe(true);
  // The running enroller's store (for a FileAddressStore: its lock) must not have been closed after its load.
  expect(store.calls.slice(store.calls.lastIndexOf('load')), `all calls: ${store.calls.join(', ')}`).toEqual(['load']);
});
