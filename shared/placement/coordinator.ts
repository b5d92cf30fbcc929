/**
 * Who coordinates a transaction (DESIGN §5 step 1): the live members ranked by rendezvous hash of the
 * transaction id. The first coordinates; if it dies, the next one takes over (fast recovery). Weights are
 * ignored: coordination load should spread evenly, not by disk size.
 */
import type { Key } from './hash.ts';
import { toMember, type MemberLike } from './member.ts';
import { rank } from './rendezvous.ts';

export const COORDINATOR_TAG = '2baksa/v1/coordinator';

/** Live member ids in takeover order for `txId`: [coordinator, first standby, …]. */
export function coordinatorOrder(txId: Key, liveMembers: readonly MemberLike[]): string[] {
  return rank(txId, liveMembers.map((m) => ({ id: toMember(m).id })), COORDINATOR_TAG).map((m) => m.id);
}

/** The coordinator of `txId` among `liveMembers`, or undefined when none is live. */
export function coordinatorOf(txId: Key, liveMembers: readonly MemberLike[]): string | undefined {
  return coordinatorOrder(txId, liveMembers)[0];
}
