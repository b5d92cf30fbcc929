/**
 * `forget`: apply retention rules to the snapshots (the pure policy in policy.ts), delete the snapshots
 * it removes; with prune, delete every chunk no remaining snapshot or file state references, with its
 * shards, plus shards no chunk names and staging left by crashed runs. Run holding the backup lock.
 *
 * On a gateway that migrates, a snapshot is forgotten only once the cloud's receipt for it is kept
 * (DESIGN §6: edge data is freed only after the receipt): the rules may name it, and it stays, with the
 * reason, until it has migrated.
 *
 * In an edge cluster the chunks' shards are on the other members too: `forgetInCluster` releases them
 * through the site ledger (agent/edge/release.ts).
 */
import type { ShardStore } from '../../shared/storage/index.ts';
import type { Catalog, SnapshotRecord } from '../catalog/index.ts';
import { ChunkReader } from '../chunks/index.ts';
import { markReachable } from '../check/reachability.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { applyRetention, type RetentionPolicy } from './policy.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { receiptKey } from '../migrate/plan.ts';
import { clearPendingRelease, readPendingRelease, writePendingRelease, type PendingRelease } from '../edge/release.ts';

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

export interface ForgetOptions {
  dryRun?: boolean;
  utc?: boolean;
  /** The snapshots the cloud holds (their receipts); given, no other snapshot is forgotten. */
  migrated?: ReadonlySet<string>;
}

export const NOT_MIGRATED = 'not migrated yet';

/** The snapshots whose cloud receipt the catalog keeps. */
export async function migratedSnapshots(catalog: Catalog): Promise<Set<string>> {
  const prefix = receiptKey('');
  return new Set((await catalog.metaKeys(prefix)).map((k) => k.slice(prefix.length)));
}

/**
 * The `migrated` option for a gateway that migrates (a cloud in its config, or receipts in its catalog from
 * `migrate --server …`): the snapshots it holds receipts for. Undefined for one that never migrates.
 */
export async function migrationGate(catalog: Catalog, cloudConfigured: boolean): Promise<Pick<ForgetOptions, 'migrated'>> {
  const migrated = await migratedSnapshots(catalog);
  return cloudConfigured || migrated.size > 0 ? { migrated } : {};
}

export async function forgetSnapshots(catalog: Catalog, policy: RetentionPolicy, options: ForgetOptions = {}): Promise<ForgetResult> {
  const result = await planForget(catalog, policy, options);
  if (!options.dryRun && result.remove.length > 0) await catalog.deleteSnapshots(result.remove.map((s) => s.id));
  return result;
}

async function planForget(catalog: Catalog, policy: RetentionPolicy, options: ForgetOptions): Promise<ForgetResult> {
  const snapshots = await catalog.listSnapshots();
  const result: ForgetResult = applyRetention(snapshots, policy, { utc: options.utc ?? false });
  const migrated = options.migrated;
  if (!migrated) return result;
  const held = result.remove.filter((s) => !migrated.has(s.id));
  if (held.length === 0) return result;
  const keep = [...result.keep, ...held.map((snapshot) => ({ snapshot, reasons: [NOT_MIGRATED] }))].sort((a, b) => b.snapshot.timeMs - a.snapshot.timeMs);
  return { keep, remove: result.remove.filter((s) => migrated.has(s.id)) };
}

/** Chunks nothing in `kept` or the file states references (marking reads every manifest; an unreadable one refuses). */
async function deadChunks(catalog: Catalog, reader: ChunkReader, kept: readonly SnapshotRecord[]): Promise<string[]> {
  const mark = await markReachable(catalog, reader, kept);
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
  return dead;
}

export interface ClusterForget {
  catalog: Catalog;
  /** Reads chunks where their shards are (through the edge node). */
  reader: ChunkReader;
  /** The gateway's state directory (the pending release is kept under it). */
  stateRoot: string;
  account: string;
  /** Commits the release notices to the site ledger; resolves with how many. */
  commit(release: PendingRelease): Promise<number>;
  /** Deletes shards of this gateway's store that no ledger record placed (from before the cluster). */
  deleteLocal(shardIds: readonly string[]): Promise<number>;
}

export interface ClusterForgetResult extends ForgetResult {
  /** What the site ledger was told to free (absent on a dry run or when nothing was forgotten). */
  released?: { snapshots: number; chunks: number; notices: number };
}

/**
 * forget in an edge cluster, always with prune: the forgotten snapshots and their dead chunks leave the
 * catalog, then release notices tell every member to free their shards (agent/edge/release.ts). A release
 * left unfinished by a crash is finished first.
 */
export async function forgetInCluster(ctx: ClusterForget, policy: RetentionPolicy, options: ForgetOptions = {}): Promise<ClusterForgetResult> {
  const unfinished = options.dryRun ? undefined : await finishRelease(ctx);
  const result = await planForget(ctx.catalog, policy, options);
  if (options.dryRun || result.remove.length === 0) return unfinished ? { ...result, released: unfinished } : result;
  const dead = await deadChunks(ctx.catalog, ctx.reader, result.keep.map((k) => k.snapshot));
  const localShards: string[] = [];
  for (let i = 0; i < dead.length; i += 500) {
    for (const r of await Promise.all(dead.slice(i, i + 500).map((id) => ctx.catalog.getChunk(id)))) {
      for (const shard of r?.shards ?? []) if (shard.location === 'local') localShards.push(shard.shardId);
    }
  }
  await writePendingRelease(ctx.stateRoot, { account: ctx.account, snapshots: result.remove.map((s) => s.id), chunks: dead, localShards });
  const released = (await finishRelease(ctx))!;
  return { ...result, released };
}

/** Finishes the pending release, if any: catalog rows out, notices committed, shards from before the cluster deleted. */
async function finishRelease(ctx: ClusterForget): Promise<ClusterForgetResult['released']> {
  const pending = await readPendingRelease(ctx.stateRoot);
  if (!pending) return undefined;
  await ctx.catalog.deleteSnapshots(pending.snapshots);
  for (let i = 0; i < pending.chunks.length; i += 500) await ctx.catalog.deleteChunks(pending.chunks.slice(i, i + 500));
  const notices = await ctx.commit(pending);
  await ctx.deleteLocal(await ctx.catalog.unreferencedShards(pending.localShards));
  await clearPendingRelease(ctx.stateRoot);
  return { snapshots: pending.snapshots.length, chunks: pending.chunks.length, notices };
}

export async function prune(catalog: Catalog, store: ShardStore, ring: KeyRing): Promise<PruneResult> {
  const result: PruneResult = { chunksDeleted: 0, shardsDeleted: 0, bytesFreed: 0, orphanShardsDeleted: 0, stagingRolledBack: 0 };
  for (const tx of await store.stagedTransactions()) {
    await store.abort(tx.txId).catch(() => undefined);
    result.stagingRolledBack++;
  }
  const dead = await deadChunks(catalog, new ChunkReader(store, catalog, ring), await catalog.listSnapshots());
  for (let i = 0; i < dead.length; i += 500) {
    const part = dead.slice(i, i + 500);
    const records = await Promise.all(part.map((id) => catalog.getChunk(id)));
    const shardIds = await catalog.deleteChunks(part);
    result.chunksDeleted += part.length;
    for (const r of records) if (r) result.bytesFreed += r.shardBytes * (r.k + r.m);
    result.shardsDeleted += await store.deleteMany(await catalog.unreferencedShards(shardIds));
  }
  // Orphans (staging a crash left committed, a shard whose chunk row went): found a page of the listing
  // at a time, deleted after it.
  const orphans: string[] = [];
  for await (const shardId of catalog.unreferencedOf(store.list())) orphans.push(shardId);
  result.orphanShardsDeleted = await store.deleteMany(orphans);
  return result;
}
