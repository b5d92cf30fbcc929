/**
 * A member that can hold shards or coordinate transactions: a gateway at the edge, a storage node in the
 * cloud. Only `id` is required; placement reads the rest when present.
 */
import { configError } from '../errors.ts';

export interface Member {
  /** Node id (unique in the cluster). */
  id: string;
  /** Relative capacity; a member with weight 2 gets about twice the shards of weight 1. Default 1. */
  weight?: number;
  /** Failure domain: the rack (cloud) or the gateway (edge). Default: the member itself. */
  domain?: string;
  /** Region for data residency (for example "eu-west"). */
  region?: string;
}

export type MemberLike = string | Member;

export function toMember(m: MemberLike): Member {
  return typeof m === 'string' ? { id: m } : m;
}

/** Normalises a member list: objects, unique ids, positive finite weights (else CONFIG_INVALID). */
export function toMembers(list: readonly MemberLike[]): Member[] {
  const out = list.map(toMember);
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.id)) throw configError('members', `member ${JSON.stringify(m.id)} is listed twice`);
    seen.add(m.id);
    if (m.weight !== undefined && !(Number.isFinite(m.weight) && m.weight > 0)) {
      throw configError(`members.${m.id}.weight`, `must be a positive number, got ${String(m.weight)}`);
    }
  }
  return out;
}

export function domainOf(m: Member): string {
  return m.domain ?? `member:${m.id}`;
}
