/**
 * The ChunkWriter backend of a gateway in an edge cluster: each chunk is sealed and erasure-coded here
 * (the cluster's geometry, e.g. 2+1 on 3 gateways), and a checkpoint is one hybrid-commit transaction:
 * the coordinator (this gateway) places the shards of every chunk on distinct live members by rendezvous
 * hashing, they stage them, and a quorum-signed ledger block commits them. `commit` answers where each
 * shard went, which the writer records in the catalog as the shard's location.
 *
 * A transaction's shards stay in memory until it commits, and the PrepareRequest a target receives
 * carries all of its shards in one MQTT message. The writer closes a batch after EDGE_BATCH_BYTES_PER_SHARD
 * of plaintext per data shard, which sensor logs (compressing 4–5×) turn into well under a message per
 * target; a batch of data that did not compress is committed as several transactions, each holding at
 * most EDGE_TX_SHARD_BYTES_MAX for any one target (`commitGroups`). Chunks are capped so that one shard
 * fits, even in the smallest geometry a quorum may write (1+1 on 3 gateways).
 */
import { createHash } from 'node:crypto';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { reedSolomonFor } from '../../shared/erasure/index.ts';
import { edgeGeometry } from '../../shared/placement/index.ts';
import type { ShardPut } from '../../shared/protocol/messages.ts';
import type { ChunkBackend } from '../chunks/writer.ts';
import { sealChunkShards, type CompressionOptions } from '../chunks/codec.ts';
import { lazySealPool, type SealerThreads } from '../chunks/seal-pool.ts';
import type { EdgeNode } from './node.ts';

/**
 * Plaintext per batch, per data shard. The protocol costs about 20 KB a transaction (signed PBFT, ledger
 * and commit messages to every member), so bigger transactions keep it a smaller share of the input:
 * 1 MiB gave 1.02 % on the edge bench, 4 MiB gives about a quarter of that.
 */
export const EDGE_BATCH_BYTES_PER_SHARD = 4 * 1024 * 1024;
/** Most shard bytes one target receives in one transaction (one shard of each chunk), so its PrepareRequest fits a 4 MiB message. */
export const EDGE_TX_SHARD_BYTES_MAX = 3 * 1024 * 1024;
/**
 * Transactions of one backup in flight at once: while some are prepared and ordered (network rounds),
 * the next batches are sealed and sent. Each holds its shards in memory until it commits (about
 * EDGE_BATCH_BYTES_PER_SHARD × n), so the profile's memory budget bounds them; 8 is where the edge bench
 * stopped gaining (3 gateways on one 2-core machine: 4 in flight gave 23–26 MB/s, 8 gave 31–37).
 */
export function edgeCommitsInFlight(memoryBudgetBytes: number, shardsPerChunk: number): number {
  return Math.max(2, Math.min(8, Math.floor(memoryBudgetBytes / (EDGE_BATCH_BYTES_PER_SHARD * shardsPerChunk))));
}
/** Largest chunk per data shard, so one shard (plus the batch) fits the 4 MiB message body. */
export const EDGE_CHUNK_BYTES_PER_SHARD_MAX = 2 * 1024 * 1024;

export interface EdgeBackendConfig {
  node: Pick<EdgeNode, 'commit' | 'liveMembers'>;
  /** The cluster's geometry (all members up). */
  k: number;
  m: number;
  ring: KeyRing;
  compression: CompressionOptions;
  account: string;
  snapshotId: string;
  /** Seal on worker threads (seal-pool.ts), as a lone gateway's backup does. */
  sealers?: SealerThreads;
}

const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

/**
 * The shards of a batch in transactions that each give any one target at most `limit` bytes: the shards of
 * one chunk go to distinct members, so a target holds at most one shard of each chunk. Chunk order is kept.
 */
export function commitGroups(shards: readonly ShardPut[], shardBytes: ReadonlyMap<string, number>, limit: number): ShardPut[][] {
  const groups: ShardPut[][] = [];
  let group: ShardPut[] = [];
  let bytes = 0;
  let last = '';
  for (const s of shards) {
    const id = Buffer.from(s.chunk).toString('hex');
    if (id !== last) {
      const size = shardBytes.get(id) ?? s.data.length;
      if (group.length > 0 && bytes + size > limit) {
        groups.push(group);
        group = [];
        bytes = 0;
      }
      bytes += size;
      last = id;
    }
    group.push(s);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The cluster's geometry (k + m) with every member up; with fewer up, the geometry of those that are. */
export function edgeGeometryNow(node: Pick<EdgeNode, 'liveMembers'>, k: number, m: number): { k: number; m: number } {
  const live = node.liveMembers().length;
  if (live >= k + m) return { k, m };
  const g = edgeGeometry(Math.max(1, live));
  return { k: g.dataShards, m: g.parityShards };
}

/**
 * With members down, a transaction takes the geometry of the members that are up (2 of 3 gateways:
 * 1+1), so every shard of a chunk still lands on a distinct gateway and one more loss is survived; the
 * geometry is fixed per transaction at its first chunk and recorded per chunk.
 */
export function edgeBackend(config: EdgeBackendConfig): ChunkBackend {
  const pending = new Map<string, { k: number; m: number; shards: ShardPut[]; shardBytes: Map<string, number> }>();
  const geometryNow = () => edgeGeometryNow(config.node, config.k, config.m);
  const sealers = lazySealPool({ keys: config.ring.current, compression: config.compression }, config.sealers);
  return {
    async put(txId, id, plain) {
      let tx = pending.get(txId);
      if (!tx) pending.set(txId, (tx = { ...geometryNow(), shards: [], shardBytes: new Map() }));
      const { k, m } = tx;
      const sealed = await sealers.seal(id, plain, k, m);
      let shards: Uint8Array[];
      let hashes: Uint8Array[];
      let shardBytes: number;
      let sealedLength: number;
      if (sealed) {
        ({ shards, shardBytes, sealedLength } = sealed);
        hashes = sealed.shardIds.map((h) => new Uint8Array(Buffer.from(h, 'hex')));
      } else {
        const rs = await reedSolomonFor(k, m);
        ({ shards, shardBytes, sealedLength } = await sealChunkShards(config.ring.current, id, plain, config.compression, k, m));
        if (m > 0) rs.encode(shards);
        hashes = shards.map(sha256);
      }
      const chunk = new Uint8Array(Buffer.from(id, 'hex'));
      const puts = shards.map((data, index) => ({ chunk, index, hash: hashes[index]!, data }));
      tx.shards.push(...puts);
      tx.shardBytes.set(id, shardBytes);
      return { shardIds: puts.map((p) => Buffer.from(p.hash).toString('hex')), shardBytes, sealedLength, k, m };
    },
    async commit(txId) {
      const tx = pending.get(txId);
      pending.delete(txId);
      const placed = new Map<string, string[]>();
      if (!tx || tx.shards.length === 0) return placed;
      for (const shards of commitGroups(tx.shards, tx.shardBytes, EDGE_TX_SHARD_BYTES_MAX)) {
        const { record } = await config.node.commit({
          account: config.account,
          snapshotId: config.snapshotId,
          manifestRoot: new Uint8Array(32),
          dataShards: tx.k,
          parityShards: tx.m,
          shards,
        });
        for (const s of record.shards) {
          const key = Buffer.from(s.chunk).toString('hex');
          let nodes = placed.get(key);
          if (!nodes) placed.set(key, (nodes = []));
          nodes[s.index] = s.node;
        }
      }
      return placed;
    },
    async abort(txId) {
      pending.delete(txId);
    },
    async close() {
      pending.clear();
      await sealers.close();
    },
  };
}
