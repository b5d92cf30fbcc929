/**
 * Which objects housekeeping removes: a pure, deterministic choice (Box Backup 8.6), so every replica
 * deletes the same thing. Only superseded ("old") and client-deleted ("deleted") objects are ever
 * removable, oldest first in ledger order (seq). Normal housekeeping stops once the account is back
 * under its soft limit; aggressive housekeeping (asked for when the account or one of its groups
 * crossed a soft limit) removes every removable object.
 */
import type { StoredObject } from './types.ts';

export interface HousekeepingPlan {
  remove: StoredObject[];
  removedBytes: number;
  usedBytesAfter: number;
}

export function planHousekeeping(
  objects: readonly StoredObject[],
  usedBytes: number,
  softBytes: number | null,
  aggressive: boolean,
): HousekeepingPlan {
  const removable = objects.filter((o) => o.state !== 'current').sort((a, b) => a.seq - b.seq);
  const remove: StoredObject[] = [];
  let used = usedBytes;
  for (const o of removable) {
    if (!aggressive && (softBytes === null || used <= softBytes)) break;
    remove.push(o);
    used -= o.bytes;
  }
  return { remove, removedBytes: usedBytes - used, usedBytesAfter: used };
}
