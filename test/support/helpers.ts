/** Test helpers shared by the enroller and member tests. */
import {
  EnrollmentManager,
  type EnrollmentManagerOptions,
  type CdapMessage,
  decodeCdapMessage,
  ENROLLMENT_OBJECT,
  Enroller,
  type EnrollerOptions,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  MemoryNetwork,
  MemoryRib,
  OpCode,
  parseUdpAddress,
  type Shim,
  ShimError,
  UdpShim,
} from '../../src/index.js';

/** A peer that speaks raw CDAP over a shim and records what it receives. */
export class RawPeer {
  readonly received: Array<{ msg: CdapMessage; from: string }> = [];
  constructor(readonly shim: Shim) {
    shim.onReceive((pdu, from) => {
      try {
        this.received.push({ msg: decodeCdapMessage(pdu), from });
      } catch {
        // undecodable input is not recorded
      }
    });
  }
  send(to: string, msg: CdapMessage): Promise<void> {
    return this.shim.send(to, encodeCdapMessage(msg));
  }
  sendRaw(to: string, pdu: Uint8Array): Promise<void> {
    return this.shim.send(to, pdu);
  }
  /** Messages received so far with this op code. */
  ofType(opCode: number): CdapMessage[] {
    return this.received.filter((r) => r.msg.opCode === opCode).map((r) => r.msg);
  }
  clear(): void {
    this.received.length = 0;
  }
}

const cleanups: Array<() => unknown> = [];

/** Registers something to undo after the test (see {@link cleanup}). */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

/**
 * Stops every enroller and closes every manager and network the helpers made,
 * newest first: the process-wide ticker must be empty between tests, or a
 * test's timer counts would see the previous test's leftovers.
 */
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()?.();
}

/** Waits (in real time) until `check()` holds, polling every 5 ms, for at most `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * `inner` with a send that fails for the PDUs `fails` picks: it throws (as a
 * hand-written mock might) or rejects, with a ShimError; `refused()` counts them.
 */
export function failingShim(inner: Shim, mode: 'throws' | 'rejects', fails: (pdu: Uint8Array) => boolean) {
  let refused = 0;
  const shim: Shim = {
    localAddress: inner.localAddress,
    onReceive: (handler) => inner.onReceive(handler),
    close: () => inner.close(),
    send: (to, pdu) => {
      if (!fails(pdu)) return inner.send(to, pdu);
      refused++;
      if (mode === 'throws') throw new ShimError('the link is down');
      return Promise.reject(new ShimError('the link is down'));
    },
  };
  return { shim, refused: () => refused };
}

/** A MemoryRib whose writes wait until `release()` (a slow RIB: what was asked of it is in flight meanwhile). */
export function heldRib(): { rib: MemoryRib; release: () => void } {
  const rib = new MemoryRib();
  const write = rib.write.bind(rib);
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  rib.write = async (object) => {
    await held;
    return write(object);
  };
  return { rib, release };
}

/** Lets queued microtasks (zero-delay deliveries) run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/**
 * An enroller at shim address `address` (its IPCP name too) of an in-memory network, not started: demo.DIF,
 * the pool 1002-1999 and a MemoryRib unless `options` say otherwise. Stopped, and the network closed, by
 * {@link cleanup}.
 */
export function newEnroller(options: Partial<EnrollerOptions> = {}, net = new MemoryNetwork({ seed: 1 }), address = 'bootstrap') {
  const rib = new MemoryRib();
  const enroller = new Enroller({
    shim: net.attach(address),
    rib,
    ipcpName: address,
    difName: 'demo.DIF',
    addressPool: { first: 1002, last: 1999 },
    ...options,
  });
  onCleanup(() => net.close());
  onCleanup(() => enroller.stop());
  return { net, rib: (options.rib ?? rib) as EnrollerOptions['rib'], enroller };
}

/** {@link newEnroller}, started. */
export async function withEnroller(options: Partial<EnrollerOptions> = {}, net = new MemoryNetwork({ seed: 1 }), address = 'bootstrap') {
  const made = newEnroller(options, net, address);
  await made.enroller.start();
  return made;
}

/** A started enroller on a UdpShim of 127.0.0.1 (or `at`; the DIF and pool of {@link withEnroller}), stopped and closed by {@link cleanup}. */
export async function udpEnroller(options: Partial<EnrollerOptions> = {}, at = '127.0.0.1:0') {
  const shim = await UdpShim.bind(at);
  const enroller = new Enroller({
    shim,
    rib: new MemoryRib(),
    ipcpName: 'bootstrap',
    difName: 'demo.DIF',
    addressPool: { first: 1002, last: 1999 },
    retransmitMs: 20,
    ...options,
  });
  await enroller.start();
  onCleanup(() => shim.close());
  onCleanup(() => enroller.stop());
  return { shim, enroller, address: shim.localAddress, port: parseUdpAddress(shim.localAddress).port };
}

/** A member's config for the enroller named `bootstrap` that notices a lost or refused connection within a third of a second. */
export const QUICK_MONITORED = {
  bootstraps: ['bootstrap'],
  timeoutMs: 2000,
  retransmitMs: 20,
  maxRetransmitMs: 40,
  heartbeatIntervalSecs: 0.05,
  connectionTimeoutSecs: 0.3,
};

/** A member on `net` with its own MemoryRib, closed by {@link cleanup}. */
export function member(
  net: MemoryNetwork,
  name: string,
  config: EnrollmentManagerOptions['config'] = {},
  extra: Partial<EnrollmentManagerOptions> = {},
) {
  const rib = new MemoryRib();
  const mgr = new EnrollmentManager({ shim: net.attach(name), rib, ipcpName: name, config, ...extra });
  onCleanup(() => mgr.close());
  return { mgr, rib };
}

/** An M_CONNECT from `name` to `dest`, as a member sends it. */
export const connectMsg = (invokeId: number, name = 'member-1', dest = 'bootstrap'): CdapMessage => ({
  opCode: OpCode.M_CONNECT,
  absSyntax: 73,
  version: 1n,
  invokeId,
  srcApName: name,
  destApName: dest,
});

/** An M_START of the enrollment object asking for `address` (0: any), as a member sends it. */
export const startMsg = (invokeId: number, address = 0): CdapMessage => ({
  opCode: OpCode.M_START,
  invokeId,
  ...ENROLLMENT_OBJECT,
  objValue: { byteval: encodeEnrollmentInfo({ address }) },
});

/** The M_STOP_R answering the last M_STOP `peer` received (success): what completes an enrollment. */
export const stopReply = (peer: { ofType(opCode: number): CdapMessage[] }): CdapMessage => ({
  opCode: OpCode.M_STOP_R,
  invokeId: peer.ofType(OpCode.M_STOP).at(-1)?.invokeId,
  result: 0,
});

/**
 * `peer` (by default a raw peer at shim address `${name}-shim` of `net`) connected as `name` (invoke id `first`)
 * and started (`first` + 1) with the enroller at "bootstrap": its M_START answered, its M_STOP not.
 */
export async function startedPeer(net: MemoryNetwork, name: string, peer = new RawPeer(net.attach(`${name}-shim`)), first = 1) {
  await peer.send('bootstrap', connectMsg(first, name));
  await settle();
  await peer.send('bootstrap', startMsg(first + 1));
  await settle();
  return peer;
}

/** A raw peer at shim address `${name}-shim`, enrolled in full as `name` with the enroller at "bootstrap" of `net`; what it received is cleared. */
export async function enrolledPeer(net: MemoryNetwork, name: string): Promise<RawPeer> {
  const peer = await startedPeer(net, name);
  await peer.send('bootstrap', stopReply(peer));
  await settle();
  peer.clear();
  return peer;
}
