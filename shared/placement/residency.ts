/**
 * Data residency (DESIGN §8): an account lists the regions its data may live in, and placement and
 * migration refuse anything else. `eligibleMembers` keeps the members in allowed regions (all of them when
 * the account has no list); `checkResidency` re-checks a placement someone else made (migration).
 */
import { residencyViolation } from './errors.ts';
import type { Member } from './member.ts';

/** Members whose region is allowed. A member without a region is never allowed under a list. */
export function eligibleMembers(members: readonly Member[], allowedRegions: readonly string[] | undefined): Member[] {
  if (allowedRegions === undefined) return [...members];
  const allowed = new Set(allowedRegions);
  return members.filter((m) => m.region !== undefined && allowed.has(m.region));
}

/** Throws RESIDENCY_VIOLATION when any node of `nodes` is not a member in an allowed region. */
export function checkResidency(nodes: readonly string[], members: readonly Member[], allowedRegions: readonly string[] | undefined): void {
  if (allowedRegions === undefined) return;
  const byId = new Map(members.map((m) => [m.id, m]));
  for (const node of nodes) {
    const region = byId.get(node)?.region;
    if (region === undefined || !allowedRegions.includes(region)) {
      throw residencyViolation(
        `node ${node} is in region ${region ?? '(unknown)'}, but the account allows only ${allowedRegions.join(', ') || '(none)'}`,
        { node, region, allowedRegions: [...allowedRegions] },
      );
    }
  }
}
