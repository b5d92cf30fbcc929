/**
 * `forget`: apply retention rules to the snapshots (the pure policy in policy.ts), delete the snapshots
 * it removes; with prune, delete every chunk no remaining snapshot or file state references, with its
 * shards, plus shards no chunk names and staging left by crashed runs. Run holding the backup lock.
 */
import type { ShardStore } from '../../shared/storage/index.ts';
import type { Catalog, SnapshotRecord } from '../catalog/index.ts';
import { ChunkReader } from '../chunks/index.ts';
import { markReachable } from '../check/reachability.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { applyRetention, type RetentionPolicy } from './policy.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';

export interface ForgetResult {
  keep: Array<{ snapshot: SnapshotRecord; reasons: string[] }>;
  remove: SnapshotRecord[];
}

export interface PruneResult {
  chunksDeleted: number;
  shardsDeleted: number;
  bytesFreed: number;
  orphanShardsDeleted: number;
  stagingRolledBack: number;
}

export async function forgetSnapshots(catalog: Catalog, policy: RetentionPolicy, options: { dryRun?: boolean; utc?: boolean } = {}): Promise<ForgetResult> {
  const snapshots = await catalog.listSnapshots();
  const result = applyRetention(snapshots, policy, { utc: options.utc ?? false });
  if (!options.dryRun && result.remove.length > 0) await catalog.deleteSnapshots(result.remove.map((s) => s.id));
  return result;
}

export async function prune(catalog: Catalog, store: ShardStore, ring: KeyRing): Promise<PruneResult> {
  const result: PruneResult = { chunksDeleted: 0, shardsDeleted: 0, bytesFreed: 0, orphanShardsDeleted: 0, stagingRolledBack: 0 };
  for (const tx of await store.stagedTransactions()) {
    await store.abort(tx.txId).catch(() => undefined);
    result.stagingRolledBack++;
  }
  const reader = new ChunkReader(store, catalog, ring);
  const snapshots = await catalog.listSnapshots();
  const mark = await markReachable(catalog, reader, snapshots);
  if (mark.unreadable.length > 0) {
    await catalog.endMark();
    // Deleting with a manifest unread would delete what it references: refuse.
    throw new BaksaError('PRUNE_UNSAFE', `cannot read the manifest of ${mark.unreadable.length} snapshot(s); nothing was pruned`, {
      hint: 'run `2baksa check --read-data --repair` first, or forget the damaged snapshots',
      exitCode: ExitCode.data,
      details: { snapshots: mark.unreadable.map((u) => u.snapshot.id) },
    });
  }
  const dead = await catalog.unmarkedChunks();
  await catalog.endMark();
  for (let i = 0; i < dead.length; i += 500) {
    const part = dead.slice(i, i + 500);
    const records = await Promise.all(part.map((id) => catalog.getChunk(id)));
    const shardIds = await catalog.deleteChunks(part);
    result.chunksDeleted += part.length;
    for (const r of records) if (r) result.bytesFreed += r.shardBytes * (r.k + r.m);
    for (const shardId of shardIds) {
      if (await catalog.shardReferenced(shardId)) continue;
      if (await store.delete(shardId)) result.shardsDeleted++;
    }
  }
  for await (const shardId of store.list()) {
    if (await catalog.shardReferenced(shardId)) continue;
    if (await store.delete(shardId)) result.orphanShardsDeleted++;
  }
  return result;
}
