/**
 * Migration: moves snapshots from the gateway's shard store into the cloud, so they survive the gateway.
 *
 * Per snapshot, oldest first: list every chunk it needs (the manifest's chunks, then every file chunk),
 * offer them to the cloud in batches with their lengths and the SHA-256 of their sealed objects, upload
 * only those the cloud asks for (the sealed object as it is in the local shards: the cloud stores
 * ciphertext and never sees a key), then record the snapshot, and keep the cloud's receipt in the
 * catalog. A snapshot with a receipt is done; a run that stops half way (crash, lost link) is simply
 * run again: the offer answers with what the cloud still lacks, so nothing stored travels twice.
 *
 * Costs kept down: the SHA-256 of a sealed object is computed once and kept in the catalog (a re-run
 * offers thousands of chunks without reading their shards); a chunk the cloud confirmed in this run
 * (stored or already there) is not offered again for a later snapshot; the offer of the next batch is
 * prepared while the uploads of the current one are in flight; a few uploads run at once.
 */
import { createHash } from 'node:crypto';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import type { Catalog, SnapshotRecord } from '../catalog/index.ts';
import { ChunkReader } from '../chunks/index.ts';
import { loadState, tenantOf, type AgentState } from '../config/index.ts';
import { openManifest } from '../manifest/index.ts';
import { openRepo } from '../backup/open.ts';
import { Limiter } from '../util/limiter.ts';
import { CLOUD_BATCH_MAX, CloudClient, batches, type ChunkOffer, type CloudTarget, type SnapshotReceipt } from './cloud-client.ts';
import { collectChunkIds, megabytesPerSecond, pendingSnapshots, receiptKey } from './plan.ts';

export interface MigrateOptions extends CloudTarget {
  /** One snapshot (id, unique id prefix, or `latest`); default every snapshot without a receipt, oldest first. */
  snapshot?: string;
  logger?: Logger;
  onProgress?: (p: MigrateProgress) => void;
  /** Uploads in flight (default 4). */
  concurrency?: number;
  /** A connected client to use instead of connecting to `server` (tests). */
  client?: CloudClient;
  /** Average upload rate cap in bytes/s (0: none); default the profile's `migration.bandwidthBytesPerS`. */
  bandwidthBytesPerS?: number;
  /** Local-time window migration may run in; default the profile's `migration.window`; null: any time. */
  window?: { start: string; end: string } | null;
  now?: () => Date;
}

/** Minutes after local midnight of "HH:MM". */
function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** Whether `at` (local time) is inside [start, end], end minute included; a window past midnight (22:00–05:00) wraps; start = end is all day. */
export function insideWindow(window: { start: string; end: string }, at: Date): boolean {
  const start = minutesOf(window.start);
  const end = minutesOf(window.end);
  const now = at.getHours() * 60 + at.getMinutes();
  if (start === end) return true;
  return start < end ? now >= start && now <= end : now >= start || now <= end;
}

/**
 * Paces uploads to an average rate: each send reserves its bytes' share of time on one timeline and
 * waits for its turn, so uploads in flight together still add up to the cap.
 */
export class Pacer {
  private busyUntil = 0;

  constructor(private readonly bytesPerS: number) {}

  async take(bytes: number): Promise<void> {
    if (!(this.bytesPerS > 0)) return;
    const now = performance.now();
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + (bytes * 1000) / this.bytesPerS;
    if (start > now) await sleep(start - now);
  }
}

export type MigratePhase = 'listing' | 'offering' | 'recording' | 'done';

export interface MigrateProgress {
  phase: MigratePhase;
  snapshotId: string;
  /** 1-based position of the snapshot in this run, and how many the run migrates. */
  snapshotIndex: number;
  snapshotCount: number;
  /** Chunks the snapshot needs, and how many of them the cloud has confirmed so far. */
  snapshotChunks: number;
  snapshotChunksDone: number;
  chunksOffered: number;
  chunksSent: number;
  bytesSent: number;
}

export interface SnapshotMigration {
  snapshotId: string;
  status: 'migrated' | 'skipped';
  /** Chunks the snapshot needs (0 when skipped). */
  chunks: number;
  chunksSent: number;
  bytesSent: number;
  receipt: SnapshotReceipt;
}

export interface MigrateSummary {
  account: string;
  server: string;
  snapshotsMigrated: number;
  snapshotsSkipped: number;
  /** Chunks offered to the cloud (need calls). */
  chunksOffered: number;
  /** Chunk objects uploaded. */
  chunksSent: number;
  /** Offered chunks the cloud already held (for this account: earlier runs, other snapshots). */
  chunksDeduplicated: number;
  /** Sealed bytes uploaded. */
  bytesSent: number;
  seconds: number;
  megabytesPerSecond: number;
  snapshots: SnapshotMigration[];
}

const UPLOAD_ATTEMPTS = 3;
const RETRYABLE = new Set(['API_UNREACHABLE', 'CHUNK_HASH_MISMATCH', 'HTTP_502', 'HTTP_503', 'HTTP_504']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A FORBIDDEN from the cloud, explained in the agent's terms. */
function explainForbidden(error: unknown, account: string, certName: string): unknown {
  if (!(error instanceof BaksaError) || error.code !== 'FORBIDDEN') return error;
  return new BaksaError('FORBIDDEN', `${error.message} (account ${account}, certificate --cert-name ${certName})`, {
    hint: `the certificate must have role agent and the account's name as its name: 2baksa pki issue --dir PKI --name ${account} --role agent`,
    exitCode: ExitCode.config,
    cause: error,
  });
}

interface Totals {
  chunksOffered: number;
  chunksSent: number;
  bytesSent: number;
}

/** One migration run over an opened repo. */
class Migration {
  /** Chunks the cloud confirmed holding during this run. */
  private readonly inCloud = new Set<string>();
  private readonly uploads: Limiter;
  private readonly hashing: Limiter;
  private readonly pacer: Pacer;
  readonly totals: Totals = { chunksOffered: 0, chunksSent: 0, bytesSent: 0 };
  private current: Omit<MigrateProgress, 'chunksOffered' | 'chunksSent' | 'bytesSent'> | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly reader: ChunkReader,
    private readonly client: CloudClient,
    private readonly options: MigrateOptions,
    private readonly logger: Logger,
  ) {
    this.uploads = new Limiter(options.concurrency ?? 4);
    this.hashing = new Limiter(options.concurrency ?? 4);
    this.pacer = new Pacer(options.bandwidthBytesPerS ?? 0);
  }

  private report(change: Partial<MigrateProgress> = {}): void {
    if (!this.current) return;
    Object.assign(this.current, change);
    this.options.onProgress?.({ ...this.current, ...this.totals });
  }

  async snapshot(s: SnapshotRecord, index: number, count: number): Promise<SnapshotMigration> {
    const before = { ...this.totals };
    this.current = { phase: 'listing', snapshotId: s.id, snapshotIndex: index, snapshotCount: count, snapshotChunks: 0, snapshotChunksDone: 0 };
    this.report();
    const manifest = await openManifest(this.reader, s.rootChunks);
    const ids = await collectChunkIds(s.rootChunks, manifest.entries);
    const fresh = ids.filter((id) => !this.inCloud.has(id));
    this.report({ phase: 'offering', snapshotChunks: ids.length, snapshotChunksDone: ids.length - fresh.length });
    await this.offerAndUpload(fresh);

    this.report({ phase: 'recording' });
    const record = { createdMs: s.timeMs, rootChunks: [...s.rootChunks], chunks: ids };
    let receipt: SnapshotReceipt;
    try {
      receipt = await this.client.putSnapshot(s.id, record);
    } catch (error) {
      if (!(error instanceof BaksaError) || error.code !== 'CHUNKS_MISSING') throw error;
      // The cloud lost chunks it had confirmed (or dropped them meanwhile): offer them all again.
      this.logger.warn({ snapshotId: s.id, missing: error.details?.count }, 'the cloud lacks chunks it had confirmed: offering the snapshot again');
      for (const id of ids) this.inCloud.delete(id);
      this.report({ phase: 'offering', snapshotChunksDone: 0 });
      await this.offerAndUpload(ids);
      this.report({ phase: 'recording' });
      receipt = await this.client.putSnapshot(s.id, record);
    }
    await this.catalog.setMeta(receiptKey(s.id), JSON.stringify(receipt));
    this.report({ phase: 'done' });
    const sent = this.totals.chunksSent - before.chunksSent;
    const bytes = this.totals.bytesSent - before.bytesSent;
    this.logger.info({ snapshotId: s.id, chunks: ids.length, chunksSent: sent, bytesSent: bytes, position: receipt.position }, 'snapshot migrated');
    return { snapshotId: s.id, status: 'migrated', chunks: ids.length, chunksSent: sent, bytesSent: bytes, receipt };
  }

  /** Offers `ids` in batches; uploads what the cloud asks for, one batch's uploads overlapping the next offer. */
  private async offerAndUpload(ids: readonly string[]): Promise<void> {
    let uploading: Promise<void> = Promise.resolve();
    for (const batch of batches(ids, CLOUD_BATCH_MAX)) {
      const offers = await this.offersFor(batch);
      const need = new Set(await this.client.need(offers));
      this.totals.chunksOffered += offers.length;
      let had = 0;
      for (const o of offers) {
        if (need.has(o.id)) continue;
        this.inCloud.add(o.id);
        had++;
      }
      this.report({ snapshotChunksDone: (this.current?.snapshotChunksDone ?? 0) + had });
      await uploading;
      const next = Promise.all(offers.filter((o) => need.has(o.id)).map((o) => this.uploads.run(() => this.upload(o)))).then(() => undefined);
      next.catch(() => undefined); // awaited below; a failure of the next offer must not leave it unhandled
      uploading = next;
    }
    await uploading;
  }

  /** Offers for chunks of the catalog: lengths from the catalog, sealed SHA-256 recorded or computed once. */
  private async offersFor(ids: readonly string[]): Promise<ChunkOffer[]> {
    const lengths = await this.catalog.chunkLengths(ids);
    const hashes = await this.catalog.sealedHashes(ids);
    const computed = new Map<string, string>();
    await Promise.all(
      ids
        .filter((id) => !hashes.has(id))
        .map((id) =>
          this.hashing.run(async () => {
            const sha = sha256Hex(await this.sealed(id));
            computed.set(id, sha);
            hashes.set(id, sha);
          }),
        ),
    );
    await this.catalog.setSealedHashes(computed);
    return ids.map((id) => {
      const l = lengths.get(id);
      if (!l) throw this.unknownChunk(id);
      return { id, length: l.length, sealedLength: l.sealedLength, sha256: hashes.get(id)! };
    });
  }

  private unknownChunk(id: string): BaksaError {
    return new BaksaError('CHUNK_UNKNOWN', `chunk ${id} of snapshot ${this.current?.snapshotId.slice(0, 8)} is not in the catalog`, {
      hint: 'the catalog lost track of this chunk (was the snapshot forgotten meanwhile?): run `2baksa check`, then migrate again',
      exitCode: ExitCode.data,
      details: { id },
    });
  }

  /** The sealed object of a chunk, from the local shards (rebuilt from parity when needed). */
  private async sealed(id: string): Promise<Uint8Array> {
    const record = await this.reader.record(id);
    const { shards } = await this.reader.fetchShards(record);
    return this.reader.sealedFrom(record, shards);
  }

  private async upload(offer: ChunkOffer): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const sealed = await this.sealed(offer.id);
      const sha = sha256Hex(sealed);
      if (sha !== offer.sha256 || sealed.length !== offer.sealedLength) {
        // The recorded hash is not the object's (it cannot change; a damaged catalog): keep the true one.
        this.logger.warn({ id: offer.id }, 'the recorded SHA-256 of a sealed chunk was wrong: corrected');
        await this.catalog.setSealedHashes(new Map([[offer.id, sha]]));
      }
      try {
        await this.pacer.take(sealed.length);
        await this.client.putChunk({ ...offer, sha256: sha, sealedLength: sealed.length }, sealed);
        this.inCloud.add(offer.id);
        this.totals.chunksSent++;
        this.totals.bytesSent += sealed.length;
        this.report({ snapshotChunksDone: (this.current?.snapshotChunksDone ?? 0) + 1 });
        return;
      } catch (error) {
        const code = error instanceof BaksaError ? error.code : '';
        if (attempt >= UPLOAD_ATTEMPTS || !RETRYABLE.has(code)) throw error;
        this.logger.warn({ id: offer.id, code, attempt }, 'chunk upload failed: trying again');
        await sleep(500 * attempt);
      }
    }
  }
}

async function openLocalRepo(state: AgentState): Promise<{ catalog: Catalog; reader: ChunkReader; close(): Promise<void> }> {
  const repo = await openRepo(state);
  return { catalog: repo.catalog, reader: new ChunkReader(repo.store, repo.catalog, repo.ring), close: () => repo.close() };
}

/** Migrates the snapshots of the agent in `stateDir` to the cloud at `options.server`. */
export async function migrate(stateDir: string, options: MigrateOptions): Promise<MigrateSummary> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const state = await loadState(stateDir);
  const account = tenantOf(state.config);
  // In an edge cluster the chunks' shards are read through the daemon, from whichever gateways hold them.
  const repo = state.config.cluster ? await (await import('../edge/cli.ts')).openClusterRepo(state) : await openLocalRepo(state);
  let client: CloudClient | undefined;
  try {
    const all = options.snapshot !== undefined ? [await repo.catalog.findSnapshot(options.snapshot)] : await repo.catalog.listSnapshots();
    const done = new Map<string, SnapshotReceipt>();
    for (const s of all) {
      const text = await repo.catalog.getMeta(receiptKey(s.id));
      if (text !== undefined) done.set(s.id, JSON.parse(text) as SnapshotReceipt);
    }
    const todo = pendingSnapshots(all, new Set(done.keys()));
    const window = options.window === undefined ? state.profile.migration.window : options.window;
    const at = (options.now ?? (() => new Date()))();
    if (todo.length > 0 && window && !insideWindow(window, at)) {
      throw new BaksaError(
        'MIGRATION_WINDOW_CLOSED',
        `migration may run from ${window.start} to ${window.end} (local time, profile ${state.profile.name}); it is ${at.toTimeString().slice(0, 5)}`,
        { exitCode: ExitCode.unavailable, hint: 'run it inside the window, or pass --ignore-window', details: { window, at: at.toISOString() } },
      );
    }
    const bandwidth = options.bandwidthBytesPerS ?? state.profile.migration.bandwidthBytesPerS;
    const results: SnapshotMigration[] = [];
    const reader = repo.reader;
    let run: Migration | undefined;
    if (todo.length > 0) {
      client = options.client ?? (await CloudClient.connect(options, account));
      run = new Migration(repo.catalog, reader, client, { ...options, bandwidthBytesPerS: bandwidth }, logger);
    }
    for (const s of all) {
      const receipt = done.get(s.id);
      if (receipt) {
        results.push({ snapshotId: s.id, status: 'skipped', chunks: 0, chunksSent: 0, bytesSent: 0, receipt });
        continue;
      }
      try {
        results.push(await run!.snapshot(s, todo.indexOf(s) + 1, todo.length));
      } catch (error) {
        throw explainForbidden(error, account, options.certName);
      }
    }
    const totals = run?.totals ?? { chunksOffered: 0, chunksSent: 0, bytesSent: 0 };
    const seconds = (performance.now() - started) / 1000;
    return {
      account,
      server: options.server,
      snapshotsMigrated: results.filter((r) => r.status === 'migrated').length,
      snapshotsSkipped: results.filter((r) => r.status === 'skipped').length,
      chunksOffered: totals.chunksOffered,
      chunksSent: totals.chunksSent,
      chunksDeduplicated: totals.chunksOffered - totals.chunksSent,
      bytesSent: totals.bytesSent,
      seconds,
      megabytesPerSecond: megabytesPerSecond(totals.bytesSent, seconds),
      snapshots: results,
    };
  } finally {
    if (client !== options.client) client?.close();
    await repo.close();
  }
}
