/**
 * Reading an object the site ledger committed (a chunk's sealed bytes, a descriptor, a release notice) back
 * from any k of its shards, wherever the record placed them. Shared by the leader of a gone gateway
 * (agent/migrate/gone.ts, through the daemon) and by the members applying release notices (release.ts).
 */
import { createHash } from 'node:crypto';
import { joinShards, reedSolomonFor, type MaybeShard } from '../../shared/erasure/index.ts';
import type { BlockRecord } from '../../shared/protocol/messages.ts';

/** One committed shard from `node`; it may throw (a member down, a shard missing). */
export type ReadShard = (node: string, shardId: string) => Promise<Uint8Array>;

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class ObjectReader {

  constructor(private readonly readShard: ReadShard) {}

  /**
   * Object `id` from the shards `record` placed (hash-checked; `skip`: a node not to ask): its first
   * `length` bytes, or all the zero-padded data shards when `length` is undefined.
   */
  async fromRecord(record: BlockRecord, id: string, length?: number, skip?: string): Promise<Uint8Array> {
    const k = record.dataShards;
    const m = record.parityShards;
    const shards: MaybeShard[] = Array.from({ length: k + m }, () => null);
    let have = 0;
    const candidates = record.shards.filter((s) => s.node !== skip && s.index < k + m && hexOf(s.chunk) === id).sort((a, b) => a.index - b.index);
    // k reads at once, data shards first (no decoding then); a read that fails or does not hash to its
    // id hands its place to the next candidate. One after another, each shard cost a round trip to a peer.
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < candidates.length) {
        const s = candidates[next++]!;
        const data = await this.readShard(s.node, hexOf(s.hash)).catch(() => undefined);
        if (!(data instanceof Uint8Array) || !createHash('sha256').update(data).digest().equals(Buffer.from(s.hash))) continue;
        shards[s.index] = data;
        have++;
        return;
      }
    };
    await Promise.all(Array.from({ length: Math.min(k, candidates.length) }, lane));
    if (have < k) throw new Error(`${have} of the ${k} shards needed are readable (transaction of ${record.snapshotId})`);
    let data = shards;
    if (shards.slice(0, k).some((s) => s === null)) {
      data = (await reedSolomonFor(k, m)).reconstruct(shards, { dataOnly: true });
    }
    const size = data.find((s) => s !== null)!.length;
    return joinShards(data as Uint8Array[], k, length ?? size * k);
  }
}
