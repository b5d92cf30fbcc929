/**
 * Repair around gone gateways: every chunk of this gateway's catalog with a shard on a member that is
 * gone is read from any k shards that are left, re-encoded for the members that are up (2 of 3: 1+1)
 * and committed onto them like a backup (one hybrid-commit transaction per batch, placement by
 * rendezvous); only then does the catalog take the new layout, so a crash mid-repair leaves the old
 * layout, still readable from k shards. The sealed object is re-coded as it is: no key is needed and
 * the chunk id does not change.
 *
 * The daemon runs it by itself for members gone longer than `cluster.repairAfterS`, and
 * `2baksa cluster repair` runs it now around every member that is not online. `2baksa rebalance` is the
 * same relayout the other way: back to the full geometry once every member is up. The old layouts' shards
 * are freed afterwards through the site ledger (a relayout release notice, agent/edge/release.ts).
 */
import { createHash } from 'node:crypto';
import { allocShards, ReedSolomon } from '../../shared/erasure/index.ts';
import { edgeGeometry } from '../../shared/placement/index.ts';
import type { ShardPut } from '../../shared/protocol/messages.ts';
import type { Catalog, ChunkRecord } from '../catalog/index.ts';
import type { ChunkReader } from '../chunks/index.ts';
import { EDGE_TX_SHARD_BYTES_MAX } from './backend.ts';
import type { EdgeNode } from './node.ts';

export interface RepairProgress {
  chunksChecked: number;
  chunksTotal: number;
  chunksRepaired: number;
}

export interface RepairReport extends RepairProgress {
  gone: string[];
  /** Chunks that have fewer than k shards left: they cannot be rebuilt here. */
  unrecoverable: string[];
  geometry: { k: number; m: number } | undefined;
}

export interface RepairOptions {
  catalog: Catalog;
  reader: ChunkReader;
  node: Pick<EdgeNode, 'commit' | 'liveMembers'>;
  /** The account the chunks are the gateway's for (the ledger records name it; migration proves chunks by it). */
  account: string;
  gone: readonly string[];
  onProgress?: (p: RepairProgress) => void;
  /** Chunks now in their new layout (the catalog names it), with the shards of the old one this gateway kept as 'local'. */
  onRelaid?: (chunkIds: string[], localShards: string[]) => void;
  signal?: AbortSignal;
}

const PAGE = 256;
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export async function repairAroundGone(options: RepairOptions): Promise<RepairReport> {
  const gone = new Set(options.gone);
  if (gone.size === 0) {
    return { gone: [], chunksChecked: 0, chunksTotal: (await options.catalog.chunkStats()).chunks, chunksRepaired: 0, unrecoverable: [], geometry: undefined };
  }
  const live = options.node.liveMembers().filter((m) => !gone.has(m));
  const g = edgeGeometry(Math.max(1, live.length));
  const report = await relayout(options, { k: g.dataShards, m: g.parityShards }, (r) => r.shards.some((s) => gone.has(s.location)));
  return { ...report, gone: [...gone] };
}

/**
 * `rebalance`: with every member up, chunks written in a smaller geometry (while a member was down, or
 * by a repair) or with two shards on one member go back to the cluster's own geometry, one shard per
 * member, so each chunk again survives the loss of m gateways.
 */
export async function rebalance(options: Omit<RepairOptions, 'gone'> & { members: readonly string[] }): Promise<RepairReport> {
  const g = edgeGeometry(options.members.length);
  const wanted = { k: g.dataShards, m: g.parityShards };
  return relayout(options, wanted, (r) => r.k !== wanted.k || r.m !== wanted.m || new Set(r.shards.map((s) => s.location)).size !== r.shards.length);
}

async function relayout(
  options: Omit<RepairOptions, 'gone'>,
  geometry: { k: number; m: number },
  select: (record: ChunkRecord) => boolean,
): Promise<RepairReport> {
  const { catalog, reader, node } = options;
  const total = (await catalog.chunkStats()).chunks;
  const { k, m } = geometry;
  const report: RepairReport = { gone: [], chunksChecked: 0, chunksTotal: total, chunksRepaired: 0, unrecoverable: [], geometry };
  const rs = await ReedSolomon.create(k, m);

  let batch: Array<{ record: ChunkRecord; shards: ShardPut[]; shardBytes: number }> = [];
  let batchBytes = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const { record } = await node.commit({
      account: options.account,
      snapshotId: 'repair',
      manifestRoot: new Uint8Array(32),
      dataShards: k,
      parityShards: m,
      shards: batch.flatMap((b) => b.shards),
    });
    const placed = new Map<string, string[]>();
    for (const s of record.shards) {
      const id = Buffer.from(s.chunk).toString('hex');
      const nodes = placed.get(id) ?? [];
      nodes[s.index] = s.node;
      placed.set(id, nodes);
    }
    for (const b of batch) {
      const nodes = placed.get(b.record.id)!;
      await catalog.relayoutChunk({
        ...b.record,
        k,
        m,
        shardBytes: b.shardBytes,
        shards: b.shards.map((s) => ({ idx: s.index, shardId: Buffer.from(s.hash).toString('hex'), location: nodes[s.index]! })),
      });
      report.chunksRepaired++;
    }
    options.onRelaid?.(
      batch.map((b) => b.record.id),
      batch.flatMap((b) => b.record.shards.filter((s) => s.location === 'local').map((s) => s.shardId)),
    );
    batch = [];
    batchBytes = 0;
  };

  let after = '';
  for (;;) {
    const page = await catalog.chunkPage(after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    for (const record of page) {
      if (options.signal?.aborted) throw new Error('repair stopped');
      report.chunksChecked++;
      if (!select(record)) continue;
      const { shards } = await reader.fetchShards(record);
      let sealed: Uint8Array;
      try {
        sealed = reader.sealedFrom(record, shards);
      } catch {
        report.unrecoverable.push(record.id);
        continue;
      }
      const layout = allocShards(sealed.length, k, m);
      layout.buffer.set(sealed, 0);
      if (m > 0) rs.encode(layout.shards);
      const chunk = new Uint8Array(Buffer.from(record.id, 'hex'));
      const puts = layout.shards.map((data, index) => ({ chunk, index, hash: sha256(data), data }));
      // One transaction gives a target at most one shard of each chunk: keep their sum within a message.
      if (batchBytes + layout.shardBytes > EDGE_TX_SHARD_BYTES_MAX) await flush();
      batch.push({ record, shards: puts, shardBytes: layout.shardBytes });
      batchBytes += layout.shardBytes;
    }
    options.onProgress?.({ chunksChecked: report.chunksChecked, chunksTotal: total, chunksRepaired: report.chunksRepaired });
  }
  await flush();
  return report;
}
