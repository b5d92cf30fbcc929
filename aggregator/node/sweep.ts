/**
 * The sweep: frees the shards on this node that no stored object names. Deletion is best effort (a
 * node that is down keeps its shards of what housekeeping or `accounts delete` removed), and an upload
 * that a crash cut off before its record leaves shards nothing names; both cost space, never data.
 * Run by hand (`aggregator sweep`, dry unless told to delete), on one node at a time.
 *
 * What counts as named, by shard id (a shard id is its SHA-256, so a copy that a heal put on another
 * node is named too):
 *   - every layout in the replicated `objects` table: a migrated chunk's blob; an object's manifest
 *     and, read through the cluster, every segment the manifest lists; a snapshot record names none;
 *   - every chunk queued for its record on any node (`migration_pending` is each node's own): every
 *     node is asked, and the sweep stops unless all of them answer.
 * A shard nothing names is freed only when its file is older than the grace period, which covers
 * uploads stored and not yet queued or recorded. A layout the sweep does not understand, a manifest it
 * cannot read, or a node that does not answer stops it before anything is freed.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { Database } from '../../shared/db/index.ts';
import type { FsShardStore } from '../../shared/storage/index.ts';
import { chunkLayout, isSnapshotLayout, queuedShardIds } from '../api/routes-migration.ts';
import { checkBlobRef, checkObjectRef, decodeManifest, type BlobRef, type ClusterStore } from '../storage/index.ts';
import { parseLayout } from './cluster-sink.ts';

export interface SweepDeps {
  db: Database;
  store: ClusterStore;
  local: FsShardStore;
  node: string;
  /** The shard ids queued on every other node; throws naming a node that does not answer. */
  peersQueued: () => Promise<string[]>;
  now: () => number;
}

export interface SweepOptions {
  /** Free what nothing names (false: only count it). */
  delete: boolean;
  /** Shards written less than this long ago are kept whatever names them. */
  graceMs: number;
}

export interface SweepReport {
  node: string;
  dryRun: boolean;
  graceS: number;
  /** Shards this node holds. */
  shards: number;
  /** Of them, named by an object or a queued chunk. */
  named: number;
  /** Named by nothing, but written within the grace period. */
  recent: number;
  /** Named by nothing and older: freed (or, dry, to be freed). */
  unnamed: number;
  unnamedBytes: number;
  freed: number;
}

export const defaultSweepGraceMs = 24 * 3600_000;

function sweepStopped(message: string, hint: string): BaksaError {
  return new BaksaError('SWEEP_STOPPED', `sweep stopped, nothing freed: ${message}`, { hint, exitCode: ExitCode.unavailable });
}

/** Every shard id the replicated object layouts name. */
async function namedByObjects(db: Database, store: ClusterStore, named: Set<string>): Promise<void> {
  const rows = await db.all<{ account: number; object_id: string; layout: string }>('SELECT account, object_id, layout FROM objects WHERE layout IS NOT NULL');
  for (const row of rows) {
    const what = `object ${row.object_id} (account ${row.account})`;
    const chunk = chunkLayout(row.layout);
    if (chunk) {
      try {
        checkBlobRef(chunk.key, chunk.blob);
      } catch (error) {
        throw sweepStopped(`${what}: ${(error as Error).message}`, 'report it: a replicated layout is damaged');
      }
      for (const id of chunk.blob.shards) named.add(id);
      continue;
    }
    const layout = parseLayout(row.layout);
    if (!layout) {
      if (isSnapshotLayout(row.layout)) continue; // a snapshot record holds no bytes
      throw sweepStopped(`${what} has a layout this sweep does not know`, 'run the sweep with the version of 2baksa that wrote it');
    }
    const ref = layout.ref;
    let segments: BlobRef[];
    try {
      checkObjectRef(layout.key, ref);
      const { bytes } = await store.getBlob(`${layout.key}/manifest`, ref.manifest);
      segments = decodeManifest(layout.key, bytes, ref.length).segments;
    } catch (error) {
      throw sweepStopped(`the manifest of ${what} could not be read: ${(error as Error).message}`, 'run it again with the nodes up (aggregator status)');
    }
    for (const id of ref.manifest.shards) named.add(id);
    for (const seg of segments) for (const id of seg.shards) named.add(id);
  }
}

export async function sweepShards(deps: SweepDeps, options: SweepOptions): Promise<SweepReport> {
  const named = new Set<string>();
  // The queues first: a chunk recorded between the two reads is in one or the other.
  for (const id of await queuedShardIds(deps.db)) named.add(id);
  let peers: string[];
  try {
    peers = await deps.peersQueued();
  } catch (error) {
    throw sweepStopped((error as Error).message, 'run it again with every node up (aggregator status)');
  }
  for (const id of peers) named.add(id);
  await namedByObjects(deps.db, deps.store, named);

  const report: SweepReport = { node: deps.node, dryRun: !options.delete, graceS: Math.round(options.graceMs / 1000), shards: 0, named: 0, recent: 0, unnamed: 0, unnamedBytes: 0, freed: 0 };
  const now = deps.now();
  const unnamed: string[] = [];
  for await (const id of deps.local.list()) {
    report.shards++;
    if (named.has(id)) {
      report.named++;
      continue;
    }
    const info = await deps.local.shardInfo(id);
    if (!info) continue; // gone meanwhile
    if (now - info.modifiedMs < options.graceMs) {
      report.recent++;
      continue;
    }
    report.unnamed++;
    report.unnamedBytes += info.bytes;
    unnamed.push(id);
  }
  if (options.delete && unnamed.length > 0) report.freed = await deps.local.deleteMany(unnamed);
  return report;
}
