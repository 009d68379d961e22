/**
 * The manager's public calls on the paths the mutation run found unchecked:
 * bad arguments, calls after close, monitoring with keepalives off, a second
 * close, `await using`, and probes from other enrollers.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { keepaliveRequest } from '../../src/cdap/messages.js';
import { ConfigError, ManagerClosedError, MemoryNetwork, NoBootstrapPeersError, NotEnrolledError, OpCode } from '../../src/index.js';
import { cleanup, member, RawPeer, settle, withEnroller } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

it('a bootstrap that is not a string is a ConfigError naming it', async () => {
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  const error = await mgr.enrolWithBootstrap(42 as unknown as string).catch((err: unknown) => err);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).issues).toEqual([{ field: 'bootstrap', rule: 'must be a non-empty shim address' }]);
});

it('after close: reEnroll and startConnectionMonitoring say the manager is closed, not that it never enrolled', async () => {
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  await mgr.close();
  await expect(mgr.reEnroll()).rejects.toThrow(ManagerClosedError);
  expect(() => mgr.startConnectionMonitoring()).toThrow(ManagerClosedError);
});

it('reEnroll during a first enrollment does not say there is no bootstrap: one is being tried', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  const first = mgr.enrolWithBootstrap('bootstrap');
  const again = mgr.reEnroll().catch((err: unknown) => err);
  await vi.advanceTimersByTimeAsync(1000);
  await first;
  expect(await again).not.toBeInstanceOf(NoBootstrapPeersError);
});

it('monitoring before a first enrollment: NotEnrolledError saying what to do; with keepalives off, a monitor that does not run and no timer', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  expect(() => mgr.startConnectionMonitoring()).toThrow(new NotEnrolledError('enrol with a bootstrap before monitoring the connection'));
  const off = member(net, 'quiet', { heartbeatIntervalSecs: 0 }).mgr;
  expect(off.startConnectionMonitoring().running).toBe(false);
  await off.enrolWithBootstrap('bootstrap');
  const timers = vi.getTimerCount();
  expect(off.startConnectionMonitoring().running).toBe(false);
  expect(vi.getTimerCount()).toBe(timers);
});

it('a second close sends nothing more; `await using` closes', async () => {
  const net = new MemoryNetwork({ seed: 8 });
  await withEnroller({}, net);
  const releases: number[] = [];
  net.tap((p) => {
    if (p.from === 'm' && p.pdu.length > 0) releases.push(p.pdu.length);
  });
  const { mgr } = member(net, 'm');
  await mgr.enrolWithBootstrap('bootstrap');
  releases.length = 0;
  await mgr.close();
  await mgr.close();
  expect(releases).toHaveLength(1);
  const other = member(net, 'm2').mgr;
  await other[Symbol.asyncDispose]();
  expect(other.state.type).toBe('closed');
});

it('a known enroller other than its own asking whether it is alive is answered; a stranger is not', async () => {
  const net = new MemoryNetwork({ seed: 9 });
  await withEnroller({}, net);
  const { mgr } = member(net, 'm', { bootstraps: ['bootstrap', 'b2'] });
  await mgr.enrol();
  const known = new RawPeer(net.attach('b2'));
  const stranger = new RawPeer(net.attach('stranger'));
  await known.send('m', keepaliveRequest(41));
  await stranger.send('m', keepaliveRequest(42));
  await settle();
  expect(known.ofType(OpCode.M_READ_R)).toMatchObject([{ invokeId: 41, result: 0 }]);
  expect(stranger.received).toEqual([]);
});

it('with HMAC-SHA256 the member proves itself in M_START and enrols; without the key it is refused', async () => {
  const auth = { mechanism: 'hmac-sha256', key: 'correct horse battery staple' } as const;
  const { net, enroller } = await withEnroller({ auth });
  const { mgr } = member(net, 'm', {}, { auth, difName: 'demo.DIF' });
  await mgr.enrolWithBootstrap('bootstrap');
  expect(enroller.members()).toMatchObject([{ name: 'm' }]);
  const { mgr: wrong } = member(
    net,
    'w',
    { maxRetries: 1 },
    { auth: { ...auth, key: 'another key, another member' }, difName: 'demo.DIF' },
  );
  await expect(wrong.enrolWithBootstrap('bootstrap')).rejects.toThrow();
  expect(enroller.members().map((m) => m.name)).toEqual(['m']);
});

it('reEnroll() before any enrollment, bootstraps configured: NoBootstrapPeersError, and nothing sent', async () => {
  const { net } = await withEnroller();
  const sent: string[] = [];
  net.tap((p) => sent.push(p.from));
  const { mgr } = member(net, 'm', { bootstraps: ['bootstrap'] });
  await expect(mgr.reEnroll()).rejects.toThrow(new NoBootstrapPeersError('no bootstrap peer is known: enrol with a bootstrap first'));
  expect(sent).toEqual([]);
  expect(mgr.state.type).toBe('idle');
});

it('updateHeartbeat() after close() changes nothing', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const { mgr } = member(net, 'm');
  await mgr.enrolWithBootstrap('bootstrap');
  await mgr.close();
  const last = mgr.lastHeartbeat;
  await vi.advanceTimersByTimeAsync(1000);
  mgr.updateHeartbeat();
  expect(mgr.lastHeartbeat).toBe(last);
});

it('with keepalives off, monitoring before a first enrollment starts no enrollment, bootstraps configured or not', async () => {
  vi.useFakeTimers();
  const { net } = await withEnroller();
  const sent: string[] = [];
  net.tap((p) => sent.push(p.from));
  const { mgr } = member(net, 'm', { heartbeatIntervalSecs: 0, bootstraps: ['bootstrap'] });
  expect(mgr.startConnectionMonitoring().running).toBe(false);
  await vi.advanceTimersByTimeAsync(5000);
  expect(sent).toEqual([]);
  expect(mgr.state.type).toBe('idle');
});
