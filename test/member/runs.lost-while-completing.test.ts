import { afterEach, expect, it, vi } from 'vitest';
import { type CdapMessage, encodeEnrollmentInfo, ENROLLMENT_OBJECT, MemoryNetwork, OpCode } from '../../src/index.js';
import { cleanup, member, RawPeer } from '../support/helpers.js';

afterEach(async () => {
  await cleanup();
  vi.useRealTimers();
});

// Found by the convergence model (seed 12): an enroller killed and restarted
// from its store while a member's re-enrollment was completing there answered
// the member's M_STOP_R with M_RELEASE (it no longer held that enrollment).
// The release arrived before the re-enrollment run had let go of its place, so
// recovery could not start: the member stayed "enrolled", its outage open,
// with no keepalive and no deadline, forever.
it('a loss right as a re-enrollment completes starts recovery again: the member comes back', async () => {
  vi.useFakeTimers();
  const net = new MemoryNetwork({ seed: 31 });
  // A scripted enroller: enrols anyone with address 5; refuses the first keepalive (it "forgot" the member);
  // answers the M_STOP_R of the second enrollment with M_RELEASE at once.
  const enroller = new RawPeer(net.attach('e'));
  let enrollments = 0;
  let keepalives = 0;
  const reply = (to: string, msg: CdapMessage) => void enroller.send(to, msg);
  enroller.shim.onReceive((_pdu, from) => {
    for (const { msg } of enroller.received.splice(0)) {
      const invokeId = msg.invokeId ?? 0;
      if (msg.opCode === OpCode.M_CONNECT) {
        reply(from, { opCode: OpCode.M_CONNECT_R, invokeId, result: 0, absSyntax: 73, version: 1n, srcApName: 'e', destApName: from });
      } else if (msg.opCode === OpCode.M_START) {
        reply(from, {
          opCode: OpCode.M_START_R,
          invokeId,
          result: 0,
          ...ENROLLMENT_OBJECT,
          objValue: { byteval: encodeEnrollmentInfo({ address: 5, difName: 'd' }) },
        });
        reply(from, {
          opCode: OpCode.M_STOP,
          invokeId: 100 + enrollments,
          ...ENROLLMENT_OBJECT,
          objValue: { byteval: encodeEnrollmentInfo({ ribObjectCount: 0 }) },
        });
      } else if (msg.opCode === OpCode.M_STOP_R) {
        enrollments++;
        if (enrollments === 2) reply(from, { opCode: OpCode.M_RELEASE, invokeId: 900 });
      } else if (msg.opCode === OpCode.M_READ) {
        keepalives++;
        reply(from, { opCode: OpCode.M_READ_R, invokeId, result: keepalives === 1 ? -1 : 0, objClass: msg.objClass, objName: msg.objName });
      }
    }
  });
  const { mgr } = member(net, 'm', {
    heartbeatIntervalSecs: 0.1,
    connectionTimeoutSecs: 0.5,
    timeoutMs: 100,
    reenrollBackoffBaseMs: 10,
    reenrollBackoffCapMs: 20,
    bootstraps: ['e'],
  });
  const reasons: string[] = [];
  let recoveries = 0;
  mgr.on('connection:lost', (i) => reasons.push(i.reason));
  mgr.on('reenroll:success', () => recoveries++);
  await mgr.enrol();
  mgr.startConnectionMonitoring();
  await vi.advanceTimersByTimeAsync(1000);
  expect(reasons).toEqual(['keepalive-refused', 'released']);
  expect(recoveries).toBe(2);
  expect(enrollments).toBe(3);
  expect(mgr.state).toMatchObject({ type: 'enrolled', address: 5 });
  expect(mgr.isConnectionHealthy()).toBe(true);
});
