/**
 * Rendezvous ranking of members for a key (a chunk id, a transaction id). Every node computes the same
 * order from the same member list, without talking to anyone; removing a member only promotes the ones
 * below it, adding one only inserts it, so about 1/n of the keys change their first choice.
 */
import { pairWords, score, type Key } from './hash.ts';
import { toMembers, type Member, type MemberLike } from './member.ts';

export const RANK_TAG = '2baksa/v1/place';

/** Members best first for `key` (ties, which need equal 52-bit hashes, fall back to id order). */
export function rank(key: Key, members: readonly MemberLike[], tag: string = RANK_TAG): Member[] {
  const list = toMembers(members);
  const scored = list.map((m) => ({ m, s: score(pairWords(tag, key, m.id), -1, m.weight ?? 1) }));
  scored.sort((a, b) => b.s - a.s || (a.m.id < b.m.id ? -1 : a.m.id > b.m.id ? 1 : 0));
  return scored.map((x) => x.m);
}
