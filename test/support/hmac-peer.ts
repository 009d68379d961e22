/**
 * A member that speaks HMAC-SHA256 enrollment by hand, one PDU at a time, so
 * a test can send what a real manager never would (a wrong proof) and stop
 * or answer where it chooses.
 */
import { type MemberAuthSession, memberAuth } from '../../src/auth/auth.js';
import type { SecureChannel } from '../../src/auth/channel.js';
import {
  type CdapMessage,
  decodeCdapMessage,
  ENROLLMENT_OBJECT,
  encodeCdapMessage,
  encodeEnrollmentInfo,
  OpCode,
  type Shim,
} from '../../src/index.js';
import { connectMsg, settle, stopReply } from './helpers.js';

export class HmacPeer {
  /** What it received, opened and decoded (M_CONNECT_R unsealed, the rest through the channel). */
  readonly received: CdapMessage[] = [];
  /** The proof M_START carries, from the enroller's M_CONNECT_R. */
  proof: Uint8Array | undefined;
  #channel: SecureChannel | undefined;
  readonly #auth: MemberAuthSession;

  constructor(
    readonly shim: Shim,
    readonly name: string,
    key: string,
    readonly to = 'bootstrap',
  ) {
    this.#auth = memberAuth({ mechanism: 'hmac-sha256', key }, name, 'demo.DIF');
    shim.onReceive((pdu) => {
      const opened = this.#channel?.open(pdu);
      try {
        const msg = decodeCdapMessage(opened !== undefined && 'body' in opened ? opened.body : pdu);
        if (msg.opCode === OpCode.M_CONNECT_R && msg.result === 0 && this.#channel === undefined) {
          const accepted = this.#auth.accept(msg);
          if (accepted !== false) {
            this.proof = accepted.proof;
            this.#channel = accepted.channel;
          }
        }
        this.received.push(msg);
      } catch {
        // undecodable input is not recorded
      }
    });
  }

  /** Sends M_CONNECT with its nonce (unsealed, as every M_CONNECT is). */
  connect(invokeId: number): Promise<void> {
    const msg = { ...connectMsg(invokeId, this.name, this.to), authMech: this.#auth.authMech, authValue: this.#auth.authValue };
    return this.shim.send(this.to, encodeCdapMessage(msg));
  }

  /** Sends M_START through the channel, carrying `proof` (by default the right one). */
  start(invokeId: number, proof: Uint8Array | undefined = this.proof): Promise<void> {
    return this.send({
      opCode: OpCode.M_START,
      invokeId,
      ...ENROLLMENT_OBJECT,
      objValue: { byteval: encodeEnrollmentInfo({ address: 0, ...(proof === undefined ? {} : { authProof: proof }) }) },
    });
  }

  /** Sends `msg` sealed by the channel M_CONNECT_R opened. */
  send(msg: CdapMessage): Promise<void> {
    if (this.#channel === undefined) throw new Error(`${this.name}: no channel yet (M_CONNECT_R not accepted)`);
    return this.shim.send(this.to, this.#channel.seal(encodeCdapMessage(msg)));
  }

  /** Connects (invoke id 1), starts with its proof (2) and answers the M_STOP: a member, unless the enroller refused. */
  async enrol(): Promise<void> {
    await this.connect(1);
    await settle();
    await this.start(2);
    await settle();
    await this.send(stopReply(this));
    await settle();
  }

  /** Messages received so far with this op code. */
  ofType(opCode: number): CdapMessage[] {
    return this.received.filter((m) => m.opCode === opCode);
  }
}
