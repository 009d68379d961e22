/**
 * Found by a review: LeaseKeeper #renew arms its retry (100 ms doubling to 2 s) with an untracked setTimeout; close()
 * (detach) clears the fence and doubt timers but not that one: after close() a timer is still pending
 * (up to 2 s), against "no timer or socket is leaked after stop()/close()".
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { mockListener, ScriptedEtcd } from '../support/scripted-etcd.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

it('a renewal retry timer survives close()', async () => {
  const etcd = new ScriptedEtcd();
  const store = new EtcdAddressStore({ client: etcd.client, prefix: '/rina/demo.DIF/', leaseTtlSecs: 10, callTimeoutMs: 500 });
  const listener = mockListener();
  await store.open({ name: 'e1', shimAddress: '10.0.0.1:7000' }, listener);
  for (let i = 0; i < 5; i++) etcd.grants.push('refused');
  etcd.leases[0]?.emit('lost'); // lapse: renewal, refused (etcd out of reach): retried with backoff
  await vi.advanceTimersByTimeAsync(350); // a few attempts
  await store.close();
  expect(vi.getTimerCount()).toBe(0); // (before the fix: the retry timer is still pending)
});
