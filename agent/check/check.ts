/**
 * `check`: structure (catalog consistency, manifests decode, every referenced chunk is known and has
 * enough shard records, every recorded shard is in the store) and, with `readData`, every shard read and
 * hash-checked and every chunk decrypted and id-checked. `repair` rebuilds missing or corrupt shards from
 * the others (Reed–Solomon reconstruct) and writes them back.
 */
import { BaksaError } from '../../shared/errors.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { Catalog, ChunkRecord } from '../catalog/index.ts';
import { ChunkReader, openChunk, reedSolomon, type ShardFetch, type ShardProblem } from '../chunks/index.ts';
import type { ChunkOpen } from '../chunks/reader.ts';
import { markReachable } from './reachability.ts';
import { Limiter } from '../util/limiter.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';

export interface CheckOptions {
  readData: boolean;
  repair: boolean;
  /** Chunks checked at once (bounds memory with --read-data). */
  concurrency?: number;
  onProgress?: (p: { chunksChecked: number; chunksTotal: number }) => void;
  /**
   * Edge cluster mode (run by the daemon): shards are read from the member their location names;
   * without --read-data only this gateway's shards are looked at; a bad shard is rebuilt onto this
   * gateway; a member that does not answer (SHARD_UNREACHABLE) is reported, not repaired around.
   */
  edge?: { self: string; fetch: ShardFetch };
  /**
   * Opens the chunks (the manifests' and, with readData, those whose shards all read good), taking over
   * their buffer (worker threads: `withOpeners`; ChunkReader.open).
   */
  open?: ChunkOpen;
}

export type Severity = 'error' | 'warning';

export interface CheckIssue {
  severity: Severity;
  code: string;
  message: string;
  chunkId?: string;
  snapshotId?: string;
  shardId?: string;
  idx?: number;
  repaired?: boolean;
  /** The edge member that holds the shard, for SHARD_UNREACHABLE (a member that does not answer). */
  node?: string;
}

export interface CheckReport {
  snapshots: number;
  chunks: number;
  shards: number;
  bytesRead: number;
  issues: CheckIssue[];
  repaired: number;
  unrecoverable: number;
  orphanShards: number;
}

const PAGE = 256;

export async function runCheck(catalog: Catalog, store: ShardStore, ring: KeyRing, options: CheckOptions): Promise<CheckReport> {
  const edge = options.edge;
  const reader = new ChunkReader(store, catalog, ring, edge?.fetch);
  if (options.open) reader.open = options.open;
  const here = (location: string) => !edge || location === edge.self || location === 'local';
  const report: CheckReport = { snapshots: 0, chunks: 0, shards: 0, bytesRead: 0, issues: [], repaired: 0, unrecoverable: 0, orphanShards: 0 };
  const issue = (i: CheckIssue) => report.issues.push(i);

  // 1. Structure: manifests decode; everything they reference is known.
  const snapshots = await catalog.listSnapshots();
  report.snapshots = snapshots.length;
  const mark = await markReachable(catalog, reader, snapshots);
  for (const u of mark.unreadable) {
    issue({ severity: 'error', code: 'MANIFEST_UNREADABLE', snapshotId: u.snapshot.id, message: `snapshot ${u.snapshot.id.slice(0, 8)}: ${u.error}` });
  }
  for (const id of await catalog.markedButMissing()) {
    issue({ severity: 'error', code: 'CHUNK_MISSING', chunkId: id, message: `chunk ${id} is referenced but not in the catalog` });
  }
  await catalog.endMark();

  // 2. Every chunk: enough shard records, each present (and, with readData, intact).
  const stats = await catalog.chunkStats();
  let after = '';
  let checked = 0;
  const window = new Limiter(Math.max(1, options.concurrency ?? 8));
  for (;;) {
    const page = await catalog.chunkPage(after, PAGE);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    // A window of chunks in flight, not groups: a group waits for its slowest chunk, and then reading
    // and opening (on an opener thread) take turns instead of overlapping.
    await Promise.all(page.map((record) => window.run(() => checkChunk(record))));
    checked += page.length;
    options.onProgress?.({ chunksChecked: checked, chunksTotal: stats.chunks });
  }

  async function checkChunk(record: ChunkRecord): Promise<void> {
    report.chunks++;
    report.shards += record.shards.length;
    const n = record.k + record.m;
    const problems: ShardProblem[] = [];
    let shards: Array<Uint8Array | null> | undefined;
    if (options.readData) {
      const fetched = await reader.fetchShards(record, true);
      shards = fetched.shards;
      problems.push(...fetched.problems);
      for (const s of shards) if (s) report.bytesRead += s.length;
    } else {
      for (let idx = 0; idx < n; idx++) {
        const s = record.shards.find((x) => x.idx === idx);
        if (!s) problems.push({ chunkId: record.id, idx, shardId: '', code: 'SHARD_UNRECORDED' });
        else if (here(s.location) && !(await store.has(s.shardId))) problems.push({ chunkId: record.id, idx, shardId: s.shardId, code: 'SHARD_MISSING' });
      }
    }
    const good = n - problems.length;
    let decodedOk = true;
    if (options.readData && shards && good >= record.k) {
      try {
        // A chunk with a bad shard is opened on this thread: its shards may be needed for the repair.
        if (problems.length === 0) await reader.openFetched(record, shards, true);
        else await openChunk(ring, record.id, reader.sealedFrom(record, shards), record.length);
      } catch (error) {
        decodedOk = false;
        issue({ severity: 'error', code: error instanceof BaksaError ? error.code : 'CHUNK_CORRUPT', chunkId: record.id, message: `chunk ${record.id}: ${(error as Error).message}` });
      }
    }
    if (problems.length === 0) return;
    const canRepair = good >= record.k && decodedOk && !problems.some((p) => p.code === 'SHARD_UNREACHABLE');
    let repaired = false;
    if (options.repair && canRepair) repaired = await repairChunk(record, shards, problems);
    for (const p of problems) {
      const node = p.code === 'SHARD_UNREACHABLE' ? p.location : undefined;
      issue({
        severity: 'error',
        code: p.code,
        chunkId: record.id,
        shardId: p.shardId,
        idx: p.idx,
        repaired,
        ...(node ? { node } : {}),
        message: `chunk ${record.id.slice(0, 16)} shard ${p.idx}${p.shardId ? ` (${p.shardId.slice(0, 16)})` : ''}: ${p.code}${node ? ` on ${node}` : ''}${repaired ? ', repaired' : ''}`,
      });
    }
    if (repaired) report.repaired += problems.length;
    if (good < record.k) {
      report.unrecoverable++;
      issue({ severity: 'error', code: 'CHUNK_UNRECOVERABLE', chunkId: record.id, message: `chunk ${record.id} has ${good} of the ${record.k} shards it needs` });
    }
  }

  async function repairChunk(record: ChunkRecord, known: Array<Uint8Array | null> | undefined, problems: ShardProblem[]): Promise<boolean> {
    const shards = known ?? (await reader.fetchShards(record, true)).shards;
    for (const p of problems) shards[p.idx] = null;
    const full = reedSolomon(record.k, record.m).reconstruct(shards);
    for (const p of problems) {
      const location = record.shards.find((x) => x.idx === p.idx)?.location ?? 'local';
      if (p.shardId && here(location)) await store.delete(p.shardId).catch(() => false); // drop a corrupt copy first
      const id = await store.put(full[p.idx]!);
      // In a cluster the rebuilt shard stays on this gateway (the ledger's placement names the old holder).
      await catalog.setShard(record.id, { idx: p.idx, shardId: id, location: edge ? edge.self : 'local' });
    }
    return true;
  }

  // 3. Shards in the store that no chunk names (left by an interrupted run; prune removes them). In a
  // cluster the store also holds the other gateways' shards, which this catalog does not name.
  if (edge) return report;
  for await (const _ of catalog.unreferencedOf(store.list())) report.orphanShards++;
  if (report.orphanShards > 0) {
    issue({ severity: 'warning', code: 'SHARD_ORPHANED', message: `${report.orphanShards} stored shards belong to no chunk (forget --prune removes them)` });
  }
  return report;
}

/** Nagios-style exit code: 0 clean or all repaired, 1 repairable damage left, 2 data lost or structure broken. */
export function checkExitCode(report: CheckReport): number {
  const open = report.issues.filter((i) => i.severity === 'error' && !i.repaired);
  if (open.length === 0) return 0;
  const fatal = open.some((i) => ['CHUNK_UNRECOVERABLE', 'CHUNK_MISSING', 'MANIFEST_UNREADABLE'].includes(i.code)) || report.unrecoverable > 0;
  return fatal ? 2 : 1;
}
