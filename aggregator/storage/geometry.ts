/**
 * The default erasure geometry (k data + m parity shards) for a cluster of n storage nodes.
 *
 *   m = 2 from 5 nodes, 1 from 2 nodes, 0 for one node   (survive two lost shards once there is room)
 *   k = n − m − spare, at least 1 and at most `dataShardsMax`, where spare = 1 from 4 nodes
 *
 * The spare node is what makes writes fault-tolerant: with k + m < n, a shard whose node is down is
 * re-placed on the spare instead of failing the write. So 1 → 1+0, 2 → 1+1 (a mirror), 3 → 2+1,
 * 4 → 2+1, 5 → 2+2, 6 → 3+2, 12 → 8+2. k stays ≤ 8 so an ObjectRef stays small and a read waits on
 * at most 8 nodes.
 *
 * With two racks no rack holds more than m shards only when m ≥ ⌈(k + m) / 2⌉; placement reports
 * when the spread is not possible (Placement.spreadOk) and the store logs it.
 */
import { configError } from '../../shared/errors.ts';

export interface Geometry {
  dataShards: number;
  parityShards: number;
}

export const DATA_SHARDS_MAX_DEFAULT = 8;

export function defaultGeometry(nodes: number, dataShardsMax = DATA_SHARDS_MAX_DEFAULT): Geometry {
  if (!Number.isSafeInteger(nodes) || nodes < 1) throw configError('storage.nodes', `need at least one storage node, got ${nodes}`);
  const parityShards = nodes >= 5 ? 2 : nodes >= 2 ? 1 : 0;
  const spare = nodes >= 4 ? 1 : 0;
  const dataShards = Math.max(1, Math.min(dataShardsMax, nodes - parityShards - spare));
  return { dataShards, parityShards };
}
