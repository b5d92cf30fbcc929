/**
 * Migration: moves snapshots from the gateway's shard store into the cloud, so they survive the gateway.
 *
 * Snapshots go by priority class (the `migration.priority` of the profile each was taken with: alarm, high,
 * normal, bulk), oldest first within a class. Per snapshot: list every chunk it needs (the manifest's chunks, then every file chunk),
 * offer them to the cloud in batches with their lengths and the SHA-256 of their sealed objects, upload
 * only those the cloud asks for (the sealed object as it is in the local shards: the cloud stores
 * ciphertext and never sees a key), then record the snapshot, and keep the cloud's receipt in the
 * catalog. A snapshot with a receipt is done; a run that stops half way (crash, lost link) is simply
 * run again: the offer answers with what the cloud still lacks, so nothing stored travels twice.
 *
 * Costs kept down: the SHA-256 of a sealed object is computed once, when it is first uploaded, and kept
 * in the catalog (a re-run offers thousands of chunks without reading their shards; a first run offers
 * without it, so no chunk is read twice); a chunk the cloud confirmed in this run (stored or already
 * there) is not offered again for a later snapshot; the offer of the next batch is prepared while the
 * uploads of the current one are in flight; chunks travel several a request (a few MiB; each request
 * costs the node a database round and a batched shard put per node, whatever its size), a few requests
 * at once. A chunk the cloud refuses within a batch goes again alone, with the retries it always had.
 *
 * Ledger-verified (DESIGN §6): when the cloud answers an offer with the edge site the account is bound
 * to, the chunks it needs are first proven with the blocks of the site ledger that committed them
 * (edge-proofs.ts): the cloud checks each block's quorum certificate against the site's registered keys
 * and each upload against the committed shard hashes, and stores nothing that fails. The receipt, signed
 * by a quorum of the cloud's nodes (checked against the cluster CA), is recorded in the site ledger
 * before the snapshot counts as migrated.
 */
import { createHash } from 'node:crypto';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import type { Catalog, SnapshotRecord } from '../catalog/index.ts';
import { ChunkReader } from '../chunks/index.ts';
import { loadState, tenantOf, type AgentState } from '../config/index.ts';
import { loadProfile, type PriorityClass, type Profile } from '../profile/index.ts';
import { openManifest } from '../manifest/index.ts';
import { openRepo } from '../backup/open.ts';
import { Limiter } from '../util/limiter.ts';
import { CLOUD_BATCH_MAX, CloudClient, gatewayConnectOptions, UPLOAD_BATCH_BYTES_MAX, UPLOAD_BATCH_CHUNKS_MAX, batches, checkReceiptSignatures, sizedGroups, type ChunkOffer, type CloudTarget, type SnapshotReceipt } from './cloud-client.ts';
import { collectChunkIds, megabytesPerSecond, migrationOrder, pendingSnapshots, receiptKey } from './plan.ts';
import type { EdgeProver } from './edge-proofs.ts';
import { encodeEdgeProof } from '../../shared/ledger/edge-proof.ts';

export interface MigrateOptions extends CloudTarget {
  /** One snapshot (id, unique id prefix, or `latest`); default every snapshot without a receipt, by priority class, oldest first within one. */
  snapshot?: string;
  logger?: Logger;
  onProgress?: (p: MigrateProgress) => void;
  /** Upload requests in flight (default 4), each of up to UPLOAD_BATCH_CHUNKS_MAX chunks and UPLOAD_BATCH_BYTES_MAX bytes. */
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
  /** The snapshot's priority class (from the profile it was taken with). */
  priority: PriorityClass;
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
  /** The snapshot's priority class (from the profile it was taken with). */
  priority: PriorityClass;
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
  /** The edge site whose blocks proved the chunks sent (null: the cloud binds the account to none). */
  site: string | null;
  /** Chunks proven to the cloud with quorum-certified blocks of that site's ledger. */
  chunksProven: number;
  /** Sealed bytes uploaded. */
  bytesSent: number;
  seconds: number;
  megabytesPerSecond: number;
  /** Every snapshot considered, in migration order (by class, oldest first within one), skipped ones included. */
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

/** Chunk ids per edge proof sent (a proof carries each block that committed one of them once). */
const PROOF_IDS_PER_CALL = 512;

/** The gateway's place in an edge cluster, when it has one: where its site ledger is. */
export interface EdgeSource {
  stateRoot: string;
  site: string;
  account: string;
  /** Records a verified cloud receipt in the site ledger (through the daemon). */
  recordReceipt(snapshotId: string, receipt: SnapshotReceipt): Promise<void>;
}

/**
 * Each snapshot's priority class: `migration.priority` of the profile it was taken with, each profile
 * loaded once (`current` is the profile agent.json names, already loaded). A snapshot from before the
 * catalog kept profiles, or whose profile is gone or no longer loads, is `normal`: an old profile must
 * not stop migration.
 */
export function priorityClassesOf(
  snapshots: readonly SnapshotRecord[],
  current: { ref: string; profile: Profile },
  logger: Logger = silentLogger,
  load: (ref: string) => Profile = loadProfile,
): Map<string, PriorityClass> {
  const byRef = new Map<string, PriorityClass>([[current.ref, current.profile.migration.priority]]);
  const classOf = (ref: string): PriorityClass => {
    let found = byRef.get(ref);
    if (found === undefined) {
      try {
        found = load(ref).migration.priority;
      } catch (error) {
        found = 'normal';
        const code = error instanceof BaksaError ? error.code : undefined;
        logger.info({ profile: ref, code, error: (error as Error).message }, 'the profile of a snapshot does not load: it migrates as priority normal');
      }
      byRef.set(ref, found);
    }
    return found;
  };
  return new Map(snapshots.map((s) => [s.id, s.profile === undefined ? 'normal' : classOf(s.profile)]));
}

interface Totals {
  chunksProven: number;
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
  readonly totals: Totals = { chunksProven: 0, chunksOffered: 0, chunksSent: 0, bytesSent: 0 };
  private current: Omit<MigrateProgress, 'chunksOffered' | 'chunksSent' | 'bytesSent'> | undefined;
  /** The edge site the cloud binds the account to (from its offer answers), once known. */
  site: string | null = null;
  private prover: Promise<EdgeProver> | undefined;

  constructor(
    private readonly catalog: Catalog,
    private readonly reader: ChunkReader,
    private readonly client: CloudClient,
    private readonly options: MigrateOptions,
    private readonly logger: Logger,
    private readonly edge: EdgeSource | undefined,
    /** The cluster CA (PEM) the receipts' signatures are checked against; undefined: not checked (a client given by a test). */
    private readonly caPem: string | undefined,
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

  async snapshot(s: SnapshotRecord, priority: PriorityClass, index: number, count: number): Promise<SnapshotMigration> {
    const before = { ...this.totals };
    this.current = { phase: 'listing', snapshotId: s.id, priority, snapshotIndex: index, snapshotCount: count, snapshotChunks: 0, snapshotChunksDone: 0 };
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
    if (this.caPem !== undefined) await checkReceiptSignatures(receipt, this.caPem);
    // In an edge cluster the receipt goes into the site ledger first; a run that fails here asks again.
    await this.edge?.recordReceipt(s.id, receipt);
    await this.catalog.setMeta(receiptKey(s.id), JSON.stringify(receipt));
    this.report({ phase: 'done' });
    const sent = this.totals.chunksSent - before.chunksSent;
    const bytes = this.totals.bytesSent - before.bytesSent;
    this.logger.info({ snapshotId: s.id, priority, chunks: ids.length, chunksSent: sent, bytesSent: bytes, position: receipt.position }, 'snapshot migrated');
    return { snapshotId: s.id, priority, status: 'migrated', chunks: ids.length, chunksSent: sent, bytesSent: bytes, receipt };
  }

  /** Offers `ids` in batches; uploads what the cloud asks for, one batch's uploads overlapping the next offer. */
  private async offerAndUpload(ids: readonly string[]): Promise<void> {
    let uploading: Promise<void> = Promise.resolve();
    for (const batch of batches(ids, CLOUD_BATCH_MAX)) {
      const offers = await this.offersFor(batch);
      const answer = await this.client.offer(offers);
      const need = new Set(answer.need);
      this.site = answer.site;
      if (answer.site !== null && need.size > 0) await this.prove(answer.site, [...need]);
      this.totals.chunksOffered += offers.length;
      let had = 0;
      for (const o of offers) {
        if (need.has(o.id)) continue;
        this.inCloud.add(o.id);
        had++;
      }
      this.report({ snapshotChunksDone: (this.current?.snapshotChunksDone ?? 0) + had });
      await uploading;
      const groups = sizedGroups(offers.filter((o) => need.has(o.id)), UPLOAD_BATCH_CHUNKS_MAX, UPLOAD_BATCH_BYTES_MAX);
      const next = Promise.all(groups.map((g) => this.uploads.run(() => this.uploadGroup(g)))).then(() => undefined);
      next.catch(() => undefined); // awaited below; a failure of the next offer must not leave it unhandled
      uploading = next;
    }
    await uploading;
  }

  /** Proves `ids` to the cloud with the blocks of the site ledger that committed them. */
  private async prove(site: string, ids: readonly string[]): Promise<void> {
    const edge = this.edge;
    if (!edge || edge.site !== site) {
      throw new BaksaError('EDGE_PROOF_UNAVAILABLE', `the cloud takes account ${this.client.account}'s chunks only with blocks of edge site ${site}, and this gateway ${edge ? `is in site ${edge.site}` : 'is not in an edge cluster'}`, {
        exitCode: ExitCode.config,
        hint: `migrate from a gateway of site ${site}, or have an administrator change the site's accounts (2baksa sites register ${site} --accounts …)`,
        details: { site },
      });
    }
    this.prover ??= import('./edge-proofs.ts').then(({ EdgeProver }) => EdgeProver.open(edge.stateRoot, edge.site, edge.account, this.logger));
    const prover = await this.prover;
    for (const group of batches(ids, PROOF_IDS_PER_CALL)) {
      const { proof, unproven } = prover.prove(group);
      if (unproven.length > 0) {
        throw new BaksaError('EDGE_PROOF_UNAVAILABLE', `${unproven.length} chunks the cloud needs are in no block of site ${site}'s ledger on this gateway (e.g. ${unproven[0]})`, {
          exitCode: ExitCode.data,
          hint: 'they were written before this gateway kept them in the edge cluster; run `2baksa cluster status` and `2baksa ledger verify STATE/edge/ledger`',
          details: { site, count: unproven.length, ids: unproven.slice(0, 20) },
        });
      }
      if (proof) this.totals.chunksProven += await this.client.proveEdge(encodeEdgeProof(proof));
    }
  }

  /**
   * Offers for chunks of the catalog: lengths from the catalog, and the sealed SHA-256 when it is
   * recorded. An unrecorded one is left out (the cloud does not need it to answer): the upload reads
   * the chunk anyway, hashes it once and records it, so no chunk is read twice.
   */
  private async offersFor(ids: readonly string[]): Promise<Offer[]> {
    const lengths = await this.catalog.chunkLengths(ids);
    const hashes = await this.catalog.sealedHashes(ids);
    return ids.map((id) => {
      const l = lengths.get(id);
      if (!l) throw this.unknownChunk(id);
      const sha256 = hashes.get(id);
      return { id, length: l.length, sealedLength: l.sealedLength, ...(sha256 !== undefined ? { sha256 } : {}) };
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

  /** Reads and hashes a chunk for its upload, recording its SHA-256 when the catalog had none or a wrong one. */
  private async prepare(offer: Offer): Promise<{ offer: ChunkOffer; sealed: Uint8Array; record?: string }> {
    const sealed = await this.hashing.run(() => this.sealed(offer.id));
    const sha = sha256Hex(sealed);
    // The recorded hash cannot change; a different one means a damaged catalog: keep the true one.
    if (offer.sha256 !== undefined && (sha !== offer.sha256 || sealed.length !== offer.sealedLength)) {
      this.logger.warn({ id: offer.id }, 'the recorded SHA-256 of a sealed chunk was wrong: corrected');
    }
    return { offer: { ...offer, sha256: sha, sealedLength: sealed.length }, sealed, ...(sha !== offer.sha256 ? { record: sha } : {}) };
  }

  private sent(offer: ChunkOffer, bytes: number): void {
    this.inCloud.add(offer.id);
    this.totals.chunksSent++;
    this.totals.bytesSent += bytes;
    this.report({ snapshotChunksDone: (this.current?.snapshotChunksDone ?? 0) + 1 });
  }

  /**
   * Uploads a group of chunks in one request. A chunk the cloud refuses alone, or a request that failed
   * in a way worth retrying, goes again by itself (`upload`, with its retries and re-proving).
   */
  private async uploadGroup(group: readonly Offer[]): Promise<void> {
    const items = await Promise.all(group.map((o) => this.prepare(o)));
    const fresh = new Map(items.flatMap((it) => (it.record !== undefined ? [[it.offer.id, it.record] as const] : [])));
    if (fresh.size > 0) await this.catalog.setSealedHashes(fresh);
    const bytes = items.reduce((sum, it) => sum + it.sealed.length, 0);
    await this.pacer.take(bytes);
    let outcomes: Array<{ stored: boolean } | BaksaError>;
    try {
      outcomes = await this.client.putChunks(items);
    } catch (error) {
      const code = error instanceof BaksaError ? error.code : '';
      if (!RETRYABLE.has(code)) throw error;
      this.logger.warn({ chunks: items.length, code }, 'chunk batch upload failed: sending its chunks one by one');
      for (const it of items) await this.upload(it.offer, it.sealed);
      return;
    }
    for (const [i, outcome] of outcomes.entries()) {
      const it = items[i]!;
      if (!(outcome instanceof BaksaError)) this.sent(it.offer, it.sealed.length);
      else if (RETRYABLE.has(outcome.code) || (outcome.code === 'EDGE_PROOF_MISSING' && this.site !== null)) await this.upload(it.offer, it.sealed, outcome);
      else throw outcome;
    }
  }

  /** Uploads one chunk, retrying what is worth it; `failed` is a first attempt's refusal (in a batch). */
  private async upload(offer: ChunkOffer, first: Uint8Array, failed?: BaksaError): Promise<void> {
    let sealed = first;
    let error: unknown = failed;
    for (let attempt = 1; ; attempt++) {
      if (error === undefined) {
        try {
          await this.pacer.take(sealed.length);
          await this.client.putChunk(offer, sealed);
          this.sent(offer, sealed.length);
          return;
        } catch (e) {
          error = e;
        }
      }
      const code = error instanceof BaksaError ? error.code : '';
      if (code === 'EDGE_PROOF_MISSING' && this.site !== null && attempt < UPLOAD_ATTEMPTS) {
        // Another cloud node answers now (fail-over), or the proof was forgotten there: prove it again.
        this.logger.warn({ id: offer.id }, 'the cloud lacks the proof of a chunk: sending it again');
        await this.prove(this.site, [offer.id]);
      } else {
        if (attempt >= UPLOAD_ATTEMPTS || !RETRYABLE.has(code)) throw error;
        this.logger.warn({ id: offer.id, code, attempt }, 'chunk upload failed: trying again');
        await sleep(500 * attempt);
        // Read it again: a mismatch may come from a bad read of the local shards.
        const again = await this.prepare(offer);
        if (again.record !== undefined) await this.catalog.setSealedHashes(new Map([[offer.id, again.record]]));
        sealed = again.sealed;
        offer = again.offer;
      }
      error = undefined;
    }
  }
}

/** An offer as the agent makes it: the sealed SHA-256 only when the catalog has it recorded. */
type Offer = Omit<ChunkOffer, 'sha256'> & { sha256?: string };

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
    const listed = options.snapshot !== undefined ? [await repo.catalog.findSnapshot(options.snapshot)] : await repo.catalog.listSnapshots();
    const classes = priorityClassesOf(listed, { ref: state.config.profile, profile: state.profile }, logger);
    const all = migrationOrder(listed, (s) => classes.get(s.id)!);
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
      client = options.client ?? (await CloudClient.connect(options, account, gatewayConnectOptions(state.paths, logger)));
      const { recordReceiptThroughDaemon } = await import('../edge/cli.ts');
      const edge: EdgeSource | undefined = state.config.cluster
        ? { stateRoot: state.paths.root, site: state.config.site, account, recordReceipt: (id, r) => recordReceiptThroughDaemon(state, account, id, r) }
        : undefined;
      const caPem = options.client ? undefined : (await import('../../shared/crypto/pki-read.ts')).loadTlsMaterial(options.tlsDir, options.certName).ca;
      run = new Migration(repo.catalog, reader, client, { ...options, bandwidthBytesPerS: bandwidth }, logger, edge, caPem);
    }
    for (const s of all) {
      const receipt = done.get(s.id);
      if (receipt) {
        results.push({ snapshotId: s.id, priority: classes.get(s.id)!, status: 'skipped', chunks: 0, chunksSent: 0, bytesSent: 0, receipt });
        continue;
      }
      try {
        results.push(await run!.snapshot(s, classes.get(s.id)!, todo.indexOf(s) + 1, todo.length));
      } catch (error) {
        throw explainForbidden(error, account, options.certName);
      }
    }
    const totals = run?.totals ?? { chunksProven: 0, chunksOffered: 0, chunksSent: 0, bytesSent: 0 };
    const seconds = (performance.now() - started) / 1000;
    return {
      account,
      server: options.server,
      snapshotsMigrated: results.filter((r) => r.status === 'migrated').length,
      snapshotsSkipped: results.filter((r) => r.status === 'skipped').length,
      chunksOffered: totals.chunksOffered,
      chunksSent: totals.chunksSent,
      chunksDeduplicated: totals.chunksOffered - totals.chunksSent,
      site: run?.site ?? null,
      chunksProven: totals.chunksProven,
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
