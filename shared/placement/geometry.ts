/**
 * Reed–Solomon geometry (k data + m parity shards) for a cluster.
 *
 * Edge: from the number of gateways n, m = ⌈n/3⌉ (m = 0 for a lone gateway) and k = n − m, so every
 * gateway holds one shard of every chunk:
 *
 *   n     1    2    3    4    5    6    7
 *   k+m  1+0  1+1  2+1  2+2  3+2  4+2  4+3
 *
 * For 4 gateways we choose 2+2 over 3+1: the site is small, shards migrate to the cloud and are freed,
 * and 2+2 survives two dead gateways where 3+1 survives one. The rule also gives m ≥ f + 1 for a site of
 * n = 3f + 1 (4 → 2, 7 → 3): a chunk survives f Byzantine gateways withholding shards plus one crash.
 * Storage overhead stays ≤ 2× (it is 2× only for n = 2 and 4).
 *
 * Cloud: the geometry comes from config (for example 4+2 over 6 nodes, 12+8 over 20); `checkGeometry`
 * refuses a bad one with the field name.
 */
import { configError } from '../errors.ts';
import { SHARDS_PER_CHUNK_MAX } from './place.ts';

export interface Geometry {
  dataShards: number;
  parityShards: number;
}

export function edgeGeometry(members: number | readonly unknown[]): Geometry {
  const n = typeof members === 'number' ? members : members.length;
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`an edge cluster has at least one gateway, got ${n}`);
  const size = Math.min(n, SHARDS_PER_CHUNK_MAX);
  const parityShards = size === 1 ? 0 : Math.ceil(size / 3);
  return { dataShards: size - parityShards, parityShards };
}

/** Validates a configured geometry against the members that will hold it; CONFIG_INVALID with the field. */
export function checkGeometry(g: Geometry, membersCount: number, field = 'geometry'): Geometry {
  if (!Number.isSafeInteger(g.dataShards) || g.dataShards < 1) {
    throw configError(`${field}.dataShards`, `must be a whole number ≥ 1, got ${String(g.dataShards)}`);
  }
  if (!Number.isSafeInteger(g.parityShards) || g.parityShards < 0) {
    throw configError(`${field}.parityShards`, `must be a whole number ≥ 0, got ${String(g.parityShards)}`);
  }
  const n = g.dataShards + g.parityShards;
  if (n > SHARDS_PER_CHUNK_MAX) throw configError(field, `data + parity shards must be ≤ ${SHARDS_PER_CHUNK_MAX}, got ${n}`);
  if (n > membersCount) {
    throw configError(field, `${g.dataShards}+${g.parityShards} needs ${n} members to hold distinct shards, the cluster has ${membersCount}`);
  }
  return { dataShards: g.dataShards, parityShards: g.parityShards };
}
