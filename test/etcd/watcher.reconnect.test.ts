/**
 * Found by a review (2026-12-05; fixed with it): the watch lost the events written while it was cut off if its
 * connection dropped again right after etcd re-created it (a flapping link), and the table never learned them.
 * etcd3 re-creates a watch from the revision in etcd's answer to its creation (etcd's current revision), before
 * etcd sends the catch-up of an unsynced watch (every 100 ms); a reset in that window skipped the catch-up, with no
 * error, so no resync. Here e1 marks a at 5 (its lease alive all along); while e1's link flaps, e2 moves a to 6 and
 * gives 5 to x: e1's table kept a at 5 for good, and its enroller would have gone on vouching for a at 5. The
 * watcher now makes the watch anew, from the last revision its table has, after each drop.
 */
import { Etcd3 } from 'etcd3';
import { afterEach, expect, it } from 'vitest';
import { EtcdAddressStore } from '../../src/etcd/index.js';
import { describeEtcd, etcdEndpoint, uniquePrefix } from '../support/etcd.js';
import { otherEnroller, quietListener, readKey } from '../support/etcd-races.js';
import { until } from '../support/helpers.js';
import { TcpProxy } from '../support/tcp-proxy.js';

const undo: Array<() => unknown> = [];
afterEach(async () => {
  while (undo.length > 0) await undo.pop()?.();
});

describeEtcd('EtcdAddressStore: a watch re-created on a flapping link', () => {
  const scenario = (flap: boolean) => async () => {
    const prefix = uniquePrefix('watch-reconnect');
    const proxy = await TcpProxy.start(etcdEndpoint());
    undo.push(() => proxy.close());
    const client = new Etcd3({ hosts: proxy.url });
    undo.push(() => client.close());
    // See the store's watchers (made anew after each drop): the events they deliver, and each one's connection.
    let events = 0;
    let onConnected: (() => void) | undefined;
    const watch = client.watch.bind(client);
    client.watch = (() => {
      const builder = watch();
      const make = builder.watcher.bind(builder);
      builder.watcher = () => {
        const w = make();
        w.on('put', () => events++);
        w.on('delete', () => events++);
        w.on('connected', () => onConnected?.());
        return w;
      };
      return builder;
    }) as typeof client.watch;

    const e1 = new EtcdAddressStore({ client, prefix, leaseTtlSecs: 30, callTimeoutMs: 3000 });
    await e1.open({ name: 'e1', shimAddress: 'e1-shim' }, quietListener());
    undo.push(() => e1.close());
    await e1.load();
    const e2 = await otherEnroller(prefix, undo);

    // e1 serves a at 5 (its mark under its lease).
    expect(await e1.bind({ name: 'a', address: 5 })).toBe(true);
    await until(() => e2.addressOf('a') === 5, 2000, 'e2 sees a at 5');

    // e1's link goes down. Meanwhile e2 moves a to 6 and gives 5 to x.
    proxy.cut();
    expect(await e2.bind({ name: 'a', address: 6 })).toBe(true);
    expect(await e2.bind({ name: 'x', address: 5 })).toBe(true);

    // The link comes back; etcd3 re-creates the watch from where it was. The moment etcd answers the creation (its
    // catch-up not sent yet), the link drops once more, and comes back at once.
    let flapped = false;
    let eventsAtFlap = -1;
    onConnected = () => {
      onConnected = undefined;
      eventsAtFlap = events;
      flapped = true;
      if (flap) proxy.restore(); // every connection reset; new ones go through
    };
    const beforeRestore = events;
    proxy.restore();
    await until(() => flapped, 20_000, 'the watch re-created');
    // (The race this test sets up: nothing of the catch-up had arrived when the link dropped. Not `events` now: the
    // watch made anew after the drop may deliver the catch-up before this line runs, which is the fix at work.)
    expect(eventsAtFlap).toBe(beforeRestore);

    // The watch is live again: a change made now reaches e1.
    expect(await e2.bind({ name: 'y', address: 9 })).toBe(true);
    await until(() => e1.addressOf('y') === 9, 20_000, 'e1 sees y at 9');

    // etcd: a is at 6, and 5 is x's.
    expect(await readKey(`${prefix}names/a`)).toBe('6');
    expect(await readKey(`${prefix}addresses/5`)).toBe('x');
    // e1's lease never lapsed: it vouches for what it serves.
    expect(e1.canVouch()).toBe(true);
    // What e1 knows must be etcd's: a at 6, x at 5 (before the fix: a at 5, x unknown, for good).
    expect({ a: e1.addressOf('a'), x: e1.addressOf('x') }).toEqual({ a: 6, x: 5 });
  };
  // Control: the same without the second drop (passed before the fix too).
  it('learns the changes made while it was cut off (control: the link comes back once)', { timeout: 40_000 }, scenario(false));
  // (failed before the fix)
  it(
    'learns the changes made while it was cut off, the link dropping once more as the watch is re-created',
    { timeout: 40_000 },
    scenario(true),
  );
});
