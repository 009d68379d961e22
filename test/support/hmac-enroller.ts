/**
 * An `hmac-sha256` enroller written by hand at shim address "bootstrap" of
 * its own MemoryNetwork: it answers M_CONNECT as the library's enroller does
 * (its proof, its channel), records what it receives, and otherwise does only
 * what the test tells it, sealed by the channel or not, so a test can send a
 * member what a real enroller never would.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { EnrollerAuth } from '../../src/auth/auth.js';
import type { SecureChannel } from '../../src/auth/channel.js';
import { type CDAPMessageFields, writeCDAPMessage } from '../../src/cdap/gen/cdap_wire.js';
import { enrollmentMessage, Result, replyTo } from '../../src/cdap/messages.js';
import { type CdapMessage, decodeCdapMessage, encodeCdapMessage, MemoryNetwork, OpCode, type Shim } from '../../src/index.js';
import { onCleanup, RawPeer } from './helpers.js';

/** An M_READ that names a class but no object: a request the codec refuses with its op code and invoke id. */
export function malformedRead(invokeId: number): Uint8Array {
  const writer = new BinaryWriter();
  writeCDAPMessage(writer, { opCode: OpCode.M_READ, invokeId, objClass: 'keepalive' } as unknown as CDAPMessageFields);
  return writer.finish();
}

export class HmacEnroller {
  /** What came sealed by the channel, opened and decoded. */
  readonly opened: CdapMessage[] = [];
  /** What came unsealed, decoded. */
  readonly unsealed: CdapMessage[] = [];
  /** The M_STARTs received (sealed). */
  readonly starts: CdapMessage[] = [];
  #channel: SecureChannel | undefined;
  readonly #auth: EnrollerAuth;

  private constructor(
    readonly net: MemoryNetwork,
    readonly shim: Shim,
    key: string,
    readonly member = 'm',
  ) {
    this.#auth = new EnrollerAuth({ mechanism: 'hmac-sha256', key }, 'bootstrap', 'demo.DIF');
    shim.onReceive((pdu) => this.#receive(pdu));
  }

  /** A fresh network with this enroller at "bootstrap", closed by the helpers' cleanup(). */
  static on(key: string): HmacEnroller {
    const net = new MemoryNetwork({ seed: 3 });
    onCleanup(() => net.close());
    return new HmacEnroller(net, net.attach('bootstrap'), key);
  }

  /** Another peer on the same network. */
  peer(address: string): RawPeer {
    return new RawPeer(this.net.attach(address));
  }

  /** `msg` (or raw CDAP bytes) sealed by the channel of the member's last M_CONNECT, as the next PDU on it. */
  seal(msg: CdapMessage | Uint8Array): Uint8Array {
    if (this.#channel === undefined) throw new Error('no channel: the member has not connected');
    return this.#channel.seal(msg instanceof Uint8Array ? msg : encodeCdapMessage(msg));
  }

  /** Sends `msg` (or raw CDAP bytes) to the member sealed by that channel. */
  sendSealed(msg: CdapMessage | Uint8Array): Promise<void> {
    return this.shim.send(this.member, this.seal(msg));
  }

  /** Sends `msg` (or raw bytes) to the member as it is. */
  sendUnsealed(msg: CdapMessage | Uint8Array): Promise<void> {
    return this.shim.send(this.member, msg instanceof Uint8Array ? msg : encodeCdapMessage(msg));
  }

  /** Answers the last M_START with `address`, then sends M_STOP: the member completes its enrollment. */
  async admit(address: number): Promise<void> {
    const start = this.starts.at(-1);
    if (start === undefined) throw new Error('no M_START to answer');
    await this.sendSealed(enrollmentMessage(OpCode.M_START_R, start.invokeId as number, { address, difName: 'demo.DIF' }, Result.OK));
    await this.sendSealed(enrollmentMessage(OpCode.M_STOP, 9001, { startEarly: true, ribObjectCount: 0 }));
  }

  #receive(pdu: Uint8Array): void {
    const opened = this.#channel?.open(pdu);
    if (opened !== undefined && 'body' in opened) {
      const msg = decodeCdapMessage(opened.body);
      this.opened.push(msg);
      if (msg.opCode === OpCode.M_START) this.starts.push(msg);
      return;
    }
    let msg: CdapMessage;
    try {
      msg = decodeCdapMessage(pdu);
    } catch {
      return; // sealed by a channel this enroller no longer holds
    }
    this.unsealed.push(msg);
    if (msg.opCode !== OpCode.M_CONNECT) return;
    const verdict = this.#auth.connect(msg);
    if (!verdict.ok) throw new Error(`hand-made enroller refused M_CONNECT: ${verdict.reason}`);
    this.#channel = verdict.channel;
    void this.sendUnsealed({
      ...replyTo(msg, Result.OK),
      srcApName: 'bootstrap',
      authMech: verdict.authMech,
      authValue: verdict.authValue,
    });
  }
}
