/**
 * One backup run: scan → (unchanged? reuse : read, chunk, store) → manifest → checkpoint → snapshot.
 *
 * Commit order makes a crash at any moment safe: shards are committed in batches, their chunk rows are
 * written after each batch, and the snapshot row (with the file states it saw) last, in one transaction.
 * The next run rolls back uncommitted staging and finds the committed chunks known (it resumes without
 * storing them again). Lazy runs (Box Backup's lazy mode) leave files that changed within the settle time
 * at their previous version, or out of the snapshot when they have none yet.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { prepareChunker } from '../../shared/chunking/index.ts';
import type { Catalog, FileState, SnapshotRecord, SnapshotType } from '../catalog/index.ts';
import { ChunkWriter, defaultChunkWriterOptions } from '../chunks/index.ts';
import { sealersFor } from '../chunks/seal-pool.ts';
import type { AgentState } from '../config/index.ts';
import { ManifestWriter, MANIFEST_VERSION, type ManifestEntry } from '../manifest/index.ts';
import { scanSources, type ScanEntry, type ScanItem } from '../sources/scan.ts';
import { selected } from '../restore/select.ts';
import { fsPath, nameOfBytes } from '../sources/names.ts';
import { emptyCounters, type BackupCounters, type BackupListener } from './events.ts';
import { faultsFromEnv, type Faults } from './faults.ts';
import { backupFile, defaultFileReadOptions, inodeOf, unchanged } from './file-reader.ts';
import { acquireLock } from '../../shared/process-lock.ts';
import { edgeGeometry } from '../../shared/placement/index.ts';
import { quorumSize } from '../../shared/ledger/quorum.ts';
import type { FsShardStore } from '../../shared/storage/index.ts';
import { keepKeyCurrent, tenantOf, type KeyRotation } from '../config/index.ts';
import { EDGE_BATCH_BYTES_PER_SHARD, EDGE_CHUNK_BYTES_PER_SHARD_MAX, edgeBackend, edgeCommitsInFlight } from '../edge/backend.ts';
import type { EdgeNode } from '../edge/node.ts';
import type { Profile } from '../profile/index.ts';
import { openRepo, rollBackStaged } from './open.ts';

export interface BackupOptions {
  type: SnapshotType;
  /** Lazy mode: a changed file is taken only once its mtime is this old. */
  settleS?: number;
  /**
   * Lazy mode: a file still changing is taken anyway once it has been waiting this long (a live log never
   * holds still for `settleS`), as Box Backup's MaxUploadWait; counted in `pendingSince`, which the
   * caller keeps from one run to the next (the daemon's job). Without it nothing is taken unsettled.
   */
  maxWaitS?: number;
  pendingSince?: Map<string, number>;
  listener?: BackupListener;
  faults?: Faults;
  progressIntervalMs?: number;
  /** Commit staged shards every this many new bytes (default: checkpointBytesFor the budget). */
  checkpointBytes?: number;
  /** Source list override (default: the config's sources plus the MQTT capture directory). */
  sources?: string[];
  /** Commit no snapshot when the tree equals the last snapshot's (lazy runs every scan interval). */
  skipUnchanged?: boolean;
  /**
   * Read every file whole, as if the catalog knew none of them (restic's --force): for a source whose
   * files may change without their size, mtime or inode moving, or in the middle as they grow.
   */
  force?: boolean;
  /** Stops the run (daemon shutdown): staged work is rolled back, BACKUP_CANCELLED is thrown. */
  signal?: AbortSignal;
  /** Edge cluster mode: the daemon's store and node; every checkpoint is a hybrid-commit transaction. */
  edge?: { store: FsShardStore; node: EdgeNode };
}

export interface BackupSummary {
  /** The new snapshot; with `unchanged`, the previous one (nothing was committed). */
  snapshot: SnapshotRecord;
  unchanged: boolean;
  counters: BackupCounters;
  durationMs: number;
  problems: Array<{ path: string; code: string; message: string }>;
  /** The key rotation this run made before it began (scheduled: config/key-rotation.ts). */
  keyRotation?: KeyRotation;
}

/** Commit staged shards every 4 memory budgets (at least 8 MiB): a crash loses at most that much work. */
export function checkpointBytesFor(memoryBudgetBytes: number): number {
  return Math.max(8 * 1024 * 1024, 4 * memoryBudgetBytes);
}

const TREE_DIGEST_KEY = 'treeDigest';

/**
 * The profile a cluster member backs up with: the cluster's geometry (DESIGN §3: 2+1 on 3 gateways),
 * and chunks small enough that one shard fits one MQTT message (agent/edge/backend.ts). The smallest
 * chunk is at most a quarter of the average (FastCDC's usual ratio): on 3 gateways every built-in
 * profile chunks at 256 KiB / 1 MiB / 2 MiB, whatever its lone-gateway sizes.
 */
export function edgeProfile(profile: Profile, members: number): Profile {
  const g = edgeGeometry(members);
  // The smallest geometry a quorum writes in (1+1 with one of three gateways down) decides the chunk cap.
  const smallest = edgeGeometry(quorumSize(members));
  const maxBytes = Math.min(profile.chunking.maxBytes, EDGE_CHUNK_BYTES_PER_SHARD_MAX * smallest.dataShards);
  const avgBytes = Math.min(profile.chunking.avgBytes, maxBytes / 2);
  const chunking = { maxBytes, avgBytes, minBytes: Math.min(profile.chunking.minBytes, avgBytes / 4) };
  return { ...profile, chunking, erasure: { ...profile.erasure, k: g.dataShards, m: g.parityShards } };
}
/**
 * Files a run reads at once: two on a profile whose memory budget leaves room for their read pieces
 * (each file holds up to two pieces of `chunking.maxBytes` outside the budget), one on small gateways.
 * Two gave the incremental bench run what 4 and 8 did (0.38, 0.38, 0.37 s against 0.40 s for one),
 * for half the extra memory (about 16 MiB on x86-edge).
 */
export function filesInFlightFor(profile: Profile): number {
  return profile.memoryBudgetBytes >= 64 * 1024 * 1024 ? 2 : 1;
}

/** Bytes of changed file states a run holds before it sets them aside in the catalog. */
const STAGE_BYTES = 4 * 1024 * 1024;

/** Entries a run works on at once when they are small files (no chunks) or need no read. */
const SMALL_AHEAD = 32;

/**
 * New bytes a run seals on its own thread before it starts its sealer threads: an incremental run
 * that stores little never pays their start-up. A first backup (an empty catalog) starts them at once.
 */
const SEALERS_AFTER_BYTES = 32 * 1024 * 1024;

function cancelled(): BaksaError {
  return new BaksaError('BACKUP_CANCELLED', 'the backup was stopped before it finished; nothing of it was committed', {
    hint: 'run the backup again (it resumes from its last checkpoint)',
    exitCode: ExitCode.failure,
  });
}

function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled();
}

/**
 * The agent's own state directory is never backed up, whatever the sources and excludes say, except
 * its MQTT capture directory (a source of its own). A source that holds it (`/var/lib` with the state in
 * /var/lib/2baksa, or `/`) otherwise took in the catalog while it was being written, the root key, and
 * the shards of every earlier backup: each backup stored the last one's shards again (tried as a new
 * user would: 404 files in the first backup, 3,189 in the second), as Borg avoids by skipping its own
 * repository and cache.
 */
export function ownPaths(state: AgentState): (path: string) => boolean {
  const root = resolve(state.paths.root);
  const capture = state.config.mqtt ? resolve(state.paths.root, state.config.mqtt.captureDir) : undefined;
  return (path) => selected(path, root) && (capture === undefined || !selected(path, capture));
}

export function sourcesOf(state: AgentState): string[] {
  const list = [...state.config.sources];
  if (state.config.mqtt) list.push(resolve(state.paths.root, state.config.mqtt.captureDir));
  return list;
}

function modeOf(e: ScanEntry): number {
  return Number(e.stat.mode) & 0o7777;
}

function baseEntry(e: ScanEntry): ManifestEntry {
  return {
    path: e.path,
    kind: e.kind,
    mode: modeOf(e),
    uid: Number(e.stat.uid),
    gid: Number(e.stat.gid),
    mtimeNs: e.stat.mtimeNs.toString(),
    size: 0,
  };
}

/** Files of the scan read ahead: their catalog rows come in one query, not one query a file. */
const ROWS_AHEAD = 256;

/**
 * The scan's items, each file with its catalog row (`prev`), looked up ROWS_AHEAD files at a time: a
 * query a file was a round trip to sqlite's thread each, most of an unchanged run over many files.
 */
async function* withCatalogRows(items: AsyncIterable<ScanItem>, catalog: Catalog): AsyncGenerator<{ item: ScanItem; prev: FileState | undefined }> {
  let ahead: ScanItem[] = [];
  const flush = async function* () {
    const rows = await catalog.getFiles(ahead.flatMap((i) => (i.kind === 'file' ? [i.path] : [])));
    for (const item of ahead) yield { item, prev: item.kind === 'file' ? rows.get(item.path) : undefined };
    ahead = [];
  };
  for await (const item of items) {
    ahead.push(item);
    if (ahead.length >= ROWS_AHEAD) yield* flush();
  }
  yield* flush();
}

export async function runBackup(state: AgentState, options: BackupOptions): Promise<BackupSummary> {
  const started = Date.now();
  const emit: BackupListener = options.listener ?? (() => undefined);
  const faults = options.faults ?? faultsFromEnv();
  const counters = emptyCounters();
  const problems: BackupSummary['problems'] = [];
  const snapshotId = randomBytes(16).toString('hex');
  const sources = options.sources ?? sourcesOf(state);
  // The capture directory is the agent's own: before the first sensor message it is empty, not unreadable.
  if (state.config.mqtt) await mkdir(resolve(state.paths.root, state.config.mqtt.captureDir), { recursive: true, mode: 0o700 });
  const lock = await acquireLock(state.paths.lock, `backup ${snapshotId.slice(0, 8)}`);
  let repo: Awaited<ReturnType<typeof openRepo>> | undefined;
  let writer: ChunkWriter | undefined;
  try {
    const keyRotation = await keepKeyCurrent(state, started);
    const edge = options.edge;
    repo = await openRepo(state, edge?.store);
    // In a cluster the participant owns staging (other gateways' transactions live there too).
    if (!edge) await rollBackStaged(repo.store);
    await prepareChunker();
    const profile = edge ? edgeProfile(state.profile, edge.node.members.length) : state.profile;
    const sealers = sealersFor(profile) > 0 ? { threads: sealersFor(profile), afterBytes: (await repo.catalog.chunkCount()) === 0 ? 0 : SEALERS_AFTER_BYTES } : undefined;
    const writerOptions = {
      ...defaultChunkWriterOptions,
      k: profile.erasure.k,
      m: profile.erasure.m,
      compression: profile.compression,
      memoryBudgetBytes: profile.memoryBudgetBytes,
      checkpointBytes: options.checkpointBytes ?? checkpointBytesFor(profile.memoryBudgetBytes),
      ...(sealers ? { sealers } : {}),
    };
    writer = edge
      ? await ChunkWriter.create(
          repo.store,
          repo.catalog,
          repo.ring,
          { ...writerOptions, checkpointBytes: EDGE_BATCH_BYTES_PER_SHARD * profile.erasure.k, location: state.config.name, commitsInFlightMax: edgeCommitsInFlight(profile.memoryBudgetBytes, profile.erasure.k + profile.erasure.m) },
          edgeBackend({
            node: edge.node,
            k: profile.erasure.k,
            m: profile.erasure.m,
            ring: repo.ring,
            compression: profile.compression,
            account: tenantOf(state.config),
            snapshotId,
            ...(sealers ? { sealers } : {}),
          }),
        )
      : await ChunkWriter.create(repo.store, repo.catalog, repo.ring, writerOptions);
    emit({ type: 'backup-start', snapshotId, mode: options.type, sources, timeMs: started });
    const fileOpts = {
      ...defaultFileReadOptions,
      ...(options.signal ? { signal: options.signal } : {}),
      chunker: profile.chunking,
      readPieceBytes: profile.chunking.maxBytes,
      faults,
    };
    const manifest = new ManifestWriter(writer, profile.chunking, {
      v: MANIFEST_VERSION,
      snapshotId,
      timeMs: started,
      host: state.config.name,
      type: options.type,
      paths: sources,
    });
    // Changed file states wait here for the snapshot's commit; past STAGE_BYTES (small files hold
    // their bytes) they are set aside in the catalog instead (Catalog.stageFiles).
    await repo.catalog.clearStagedFiles();
    let changed: FileState[] = [];
    let changedBytes = 0;
    let changedCount = 0;
    const keepChanged = async (state: FileState) => {
      changed.push(state);
      changedCount++;
      changedBytes += state.path.length + 36 * state.chunks.length + (state.inline?.length ?? 0) + 100;
      if (changedBytes < STAGE_BYTES) return;
      const staged = changed;
      changed = [];
      changedBytes = 0;
      await repo!.catalog.stageFiles(staged);
    };
    const seen = new Set<string>();
    const settleNs = BigInt(Math.round((options.settleS ?? 0) * 1000)) * 1_000_000n;
    const nowNs = BigInt(started) * 1_000_000n;
    const pendingSince = options.pendingSince;
    const stillPending = new Set<string>();
    /** Lazy mode: whether an unsettled file has waited `maxWaitS` (noted the first time it is found so). */
    const waitedEnough = (path: string): boolean => {
      if (!pendingSince || options.maxWaitS === undefined) return false;
      const since = pendingSince.get(path);
      if (since === undefined) pendingSince.set(path, started);
      return since !== undefined && started - since >= options.maxWaitS * 1000;
    };
    let lastProgress = 0;
    const progress = (currentPath?: string) => {
      if (faults.killAfterCommittedChunks !== undefined && writer!.stats.chunksCommitted >= faults.killAfterCommittedChunks) process.kill(process.pid, 'SIGKILL');
      const now = Date.now();
      if (now - lastProgress < (options.progressIntervalMs ?? 250)) return;
      lastProgress = now;
      syncStats();
      emit({ type: 'progress', counters: { ...counters }, ...(currentPath ? { currentPath } : {}) });
    };
    const syncStats = () => {
      counters.chunks = writer!.stats.chunks;
      counters.chunksNew = writer!.stats.chunksNew;
      counters.bytesNew = writer!.stats.bytesNew;
      counters.storedNew = writer!.stats.dataShardBytesNew;
      counters.storedWithParityNew = writer!.stats.shardBytesNew;
      if (faults.killAfterChunks !== undefined && counters.chunksNew >= faults.killAfterChunks) process.kill(process.pid, 'SIGKILL');
    };
    const skip = (path: string, code: string, message: string) => {
      counters.filesSkipped++;
      problems.push({ path, code, message });
      emit({ type: 'read-error', path, code, message });
    };
    let fileCount = 0;
    let bytes = 0;
    /** In an edge cluster: every chunk of the snapshot, for its descriptor (agent/edge/descriptor.ts). */
    const described = edge ? new Set<string>() : undefined;

    // Files are read `filesInFlight` at a time (each one's opens, stats and reads wait on the thread
    // pool, so one file's waits overlap another's work); the manifest takes their entries in scan order.
    // A cluster member keeps one: its batch size and transactions in flight were measured so, and its
    // run shares the machine's cores with the other members' work (not measured with more).
    // Small files (read whole into the manifest, no chunks) and entries that read nothing do not
    // count against it: up to SMALL_AHEAD of them wait at once, so a tree of many small files is
    // read as fast as the thread pool opens them, not one open, two stats and a read at a time.
    const filesInFlight = edge ? 1 : filesInFlightFor(profile);
    const pending: Array<{ entry: Promise<ManifestEntry | undefined>; large: boolean }> = [];
    let largeInFlight = 0;
    const addNext = async () => {
      const next = pending.shift()!;
      const entry = await next.entry;
      if (next.large) largeInFlight--;
      if (entry === undefined) return;
      await manifest.add(entry);
      progress();
    };
    try {
      // Hard links: the first name of a file with several (in scan order) is marked, the later ones name it.
      const firstName = new Map<string, string>();
      for await (const { item, prev } of withCatalogRows(scanSources(sources, { excludes: state.config.excludes, skip: ownPaths(state), oneFileSystem: state.config.oneFileSystem === true }), repo.catalog)) {
        throwIfCancelled(options.signal);
        let linkOf: string | undefined;
        let links = false;
        if (item.kind === 'file' && item.stat.nlink > 1n) {
          const inode = inodeOf(item.stat);
          linkOf = firstName.get(inode);
          if (linkOf === undefined) {
            firstName.set(inode, item.path);
            links = true;
          }
        }
        const task = (async (): Promise<ManifestEntry | undefined> => {
          if (item.kind === 'problem') {
            skip(item.path, item.code, item.reason);
            return undefined;
          }
          seen.add(item.path);
          const entry = baseEntry(item);
          if (item.kind === 'dir' || item.kind === 'fifo') return entry; // nothing to read: a FIFO's bytes belong to its writer
          if (item.kind === 'chardev' || item.kind === 'blockdev') {
            entry.rdev = Number(item.stat.rdev); // its number, never its contents (a disk's would be the disk)
            return entry;
          }
          if (item.kind === 'symlink') {
            try {
              entry.target = nameOfBytes(await readlink(fsPath(item.path), { encoding: 'buffer' }));
            } catch (error) {
              skip(item.path, (error as NodeJS.ErrnoException).code ?? 'EIO', (error as Error).message);
              return undefined;
            }
            return entry;
          }
          counters.filesScanned++;
          counters.bytesScanned += Number(item.stat.size);
          const known = options.force === true ? undefined : prev;
          let state_: FileState | undefined;
          if (unchanged(known, item.stat)) {
            counters.filesUnchanged++;
            state_ = prev;
          } else if (options.type === 'lazy' && item.stat.mtimeNs + settleNs > nowNs && !waitedEnough(item.path)) {
            counters.filesPending++;
            stillPending.add(item.path);
            state_ = prev; // not still yet: keep the previous version, if any
            if (prev) {
              entry.mtimeNs = prev.mtimeNs;
            }
          } else {
            progress(item.path);
            const result = await backupFile(item.path, known, writer, counters, fileOpts, item.stat);
            if (result.kind === 'skipped') {
              skip(item.path, result.code, result.message);
              state_ = undefined;
            } else {
              counters.filesRead++;
              if (result.appended) counters.filesAppended++;
              state_ = result.state;
              await keepChanged(result.state);
              entry.mode = Number(result.stat.mode) & 0o7777;
              entry.mtimeNs = result.state.mtimeNs;
            }
          }
          if (state_ === undefined) return undefined;
          if (links) entry.links = true;
          if (linkOf !== undefined) entry.linkOf = linkOf;
          entry.size = state_.size;
          if (state_.inline) entry.inline = state_.inline;
          else entry.chunks = state_.chunks;
          if (described) for (const c of state_.chunks ?? []) described.add(c.id);
          fileCount++;
          bytes += state_.size;
          return entry;
        })();
        task.catch(() => undefined); // waited for in order below; a failure must not go unhandled meanwhile
        const large = item.kind === 'file' && Number(item.stat.size) > fileOpts.inlineMaxBytes;
        pending.push({ entry: task, large });
        if (large) largeInFlight++;
        while (largeInFlight >= filesInFlight || pending.length >= SMALL_AHEAD) await addNext();
      }
      while (pending.length > 0) await addNext();
    } catch (error) {
      await Promise.allSettled(pending.map((p) => p.entry)); // no file of this run writes after it fails
      throw error;
    }

    const rootChunks = await manifest.finish();
    await writer.checkpoint();
    syncStats();
    // A file taken, settled or gone waits afresh the next time it is found changing.
    if (pendingSince) for (const p of pendingSince.keys()) if (!stillPending.has(p)) pendingSince.delete(p);
    const removed = (await repo.catalog.filePaths()).filter((p) => !seen.has(p));
    const treeDigest = manifest.treeDigest();
    if (options.skipUnchanged && changedCount === 0 && removed.length === 0 && (await repo.catalog.getMeta(TREE_DIGEST_KEY)) === treeDigest) {
      const last = await repo.catalog.findSnapshot('latest').catch(() => undefined);
      if (last) {
        await writer.abort();
        const durationMs = Date.now() - started;
        emit({ type: 'backup-finish', snapshotId: last.id, counters: { ...counters }, durationMs });
        return { snapshot: last, unchanged: true, counters, durationMs, problems, ...(keyRotation ? { keyRotation } : {}) };
      }
    }
    if (edge && described) {
      // The peers can migrate this snapshot if this gateway dies: its descriptor is committed before it is acknowledged.
      for (const id of rootChunks) described.add(id);
      const ids = [...described];
      const lengths = await repo.catalog.chunkLengths(ids);
      const chunks = ids.map((id) => {
        const l = lengths.get(id);
        if (!l) throw new Error(`invariant violated: chunk ${id} of the snapshot is not in the catalog`);
        return { id, length: l.length, sealedLength: l.sealedLength };
      });
      // Loaded here: the descriptor's wire codec is only a cluster backup's (a lone gateway's start-up skips it).
      const { commitDescriptors, describe } = await import('../edge/descriptor.ts');
      await commitDescriptors(edge.node, tenantOf(state.config), { k: profile.erasure.k, m: profile.erasure.m }, describe(snapshotId, started, rootChunks, chunks));
    }
    const durationMs = Date.now() - started;
    const snapshot: SnapshotRecord = {
      id: snapshotId,
      timeMs: started,
      type: options.type,
      host: state.config.name,
      paths: sources,
      rootChunks,
      fileCount,
      bytes,
      bytesNew: counters.bytesNew,
      storedNew: counters.storedNew,
      durationMs,
      skipped: counters.filesSkipped,
      profile: state.config.profile,
    };
    await repo.catalog.commitSnapshot(snapshot, changed, removed, { [TREE_DIGEST_KEY]: treeDigest });
    emit({ type: 'backup-finish', snapshotId, counters: { ...counters }, durationMs });
    emit({ type: 'backup-ok', snapshotId, counters: { ...counters }, durationMs });
    return { snapshot, unchanged: false, counters, durationMs, problems, ...(keyRotation ? { keyRotation } : {}) };
  } catch (error) {
    await writer?.abort().catch(() => undefined);
    const e = options.signal?.aborted ? cancelled() : toBackupError(error);
    emit({ type: 'backup-error', code: e.code, message: e.message, counters: { ...counters } });
    throw e;
  } finally {
    await writer?.close().catch(() => undefined);
    await repo?.close();
    await lock.release();
  }
}

function toBackupError(error: unknown): BaksaError {
  if (error instanceof BaksaError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BaksaError('DISK_FULL', `the disk of the state directory is full: ${(error as Error).message}`, {
      hint: 'free space on that disk (or forget and prune old snapshots), then run the backup again; nothing half-done was committed',
      exitCode: ExitCode.unavailable,
      cause: error,
    });
  }
  if (error instanceof Error && !(error.message.startsWith('invariant'))) {
    return new BaksaError('BACKUP_FAILED', `backup failed: ${error.message}`, {
      hint: 'see the message; run the backup again once the cause is fixed (the next run resumes)',
      exitCode: ExitCode.failure,
      cause: error,
    });
  }
  throw error;
}
