/**
 * Which volume a shard goes to: weighted rendezvous (highest random weight) hashing. Each volume
 * scores -weight / ln(h) with h = hash(volumeId, shardId) mapped into (0, 1); volumes are tried best
 * score first. Deterministic for a given set of volumes and weights, so a shard is found on its first
 * try; adding a volume moves only the shards that now prefer it. Pure: no I/O.
 */
import { createHash } from 'node:crypto';

export interface WeightedVolume {
  id: string;
  weight: number;
}

function unitHash(volumeId: string, shardId: string): number {
  const digest = createHash('sha256').update(volumeId).update('\0').update(shardId).digest();
  // 52 bits → a double in (0, 1), never 0 or 1.
  const hi = digest.readUInt32BE(0) >>> 0;
  const lo = digest.readUInt32BE(4) >>> 12;
  return (hi * 2 ** 20 + lo + 0.5) / 2 ** 52;
}

/** Indices of `volumes`, best first, for `shardId`. */
export function rankVolumes(volumes: readonly WeightedVolume[], shardId: string): number[] {
  if (volumes.length <= 1) return volumes.map((_, i) => i);
  const scored = volumes.map((v, i) => ({ i, score: -Math.max(v.weight, 1) / Math.log(unitHash(v.id, shardId)) }));
  scored.sort((a, b) => b.score - a.score || a.i - b.i);
  return scored.map((s) => s.i);
}
