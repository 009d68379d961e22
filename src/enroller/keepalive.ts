/**
 * The enroller's answer to an enrolled member's keepalive: answered only
 * while the enroller can vouch for the member's binding.
 *
 * @module
 */
import type { SecureChannel } from '../auth/channel.js';
import { Result } from '../cdap/messages.js';
import type { CdapMessage } from '../cdap/types.js';
import type { MemberRecord } from './members.js';
import type { EnrollerParts } from './parts.js';

/** A keepalive's refusal when the shared store binds the member's name or address otherwise now. */
const MOVED_REASON = 'not enrolled: the shared store binds this name or address otherwise now; enrol again';

/** A member's keepalive: answered while vouched for; left unanswered while that waits on the store; else refused. */
export function answerKeepalive(
  { members, stats, outbox }: Pick<EnrollerParts, 'members' | 'stats' | 'outbox'>,
  msg: CdapMessage,
  from: string,
  member: MemberRecord,
  channel: SecureChannel | null,
): void {
  if (!members.holdsAddress(member.name, member.address)) {
    members.retire(member, 'unproven'); // (its binding went elsewhere: see MemberRegistry.holdsAddress)
    outbox.reply(from, msg, Result.FAILED, MOVED_REASON, channel);
  } else if (members.vouchesFor(member)) {
    stats.keepalives++;
    outbox.answerKeepalive(from, msg, channel);
  } else if (members.waits()) {
    // The store is asking whether its lease lives, or proving bindings again: neither answered nor turned away (it asks again).
    stats.keepalivesInDoubt++;
  } else {
    // Never answered as enrolled while its binding cannot be proven current: told
    // it is not enrolled here, it is not (it enrols again, here or elsewhere).
    members.retire(member, 'unvouched');
    outbox.reply(from, msg, Result.FAILED, 'not enrolled: this enroller lost its lease in the shared store; enrol again', channel);
  }
}
