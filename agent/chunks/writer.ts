/**
 * ChunkWriter: identify → dedup → (compress → encrypt → erasure-code → stage shards), with bounded bytes
 * in flight, and checkpoints that make the staged work durable.
 *
 * `add(plain)` computes the chunk id at once (the caller needs it for the file's chunk list) and returns
 * after the chunk is accepted; sealing and staging run in the background, up to the memory budget, so
 * reading, hashing, sealing and disk writes overlap. Sealing (compress, encrypt, erasure-code, hash the
 * shards) runs on this thread or on sealer threads (`sealers`, seal-pool.ts); staging runs here. A known
 * id (in the catalog or in flight) is not stored again.
 *
 * Durability. Shards are staged under a transaction id; `checkpoint()` waits for the in-flight work,
 * commits the transaction in the shard store, and only then records the chunks in the catalog. So a
 * catalog row always means committed shards; a crash loses at most the uncommitted batch (its staging is
 * rolled back when the next run opens the store), and the next run finds the checkpointed chunks known.
 */
import { randomBytes } from 'node:crypto';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { ReedSolomon } from '../../shared/erasure/index.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { Catalog, ChunkRecord } from '../catalog/index.ts';
import { ByteBudget } from '../util/budget.ts';
import { lazySealPool, type SealerThreads } from './seal-pool.ts';
import { chunkIdHex, type CompressionOptions } from './codec.ts';
import { sealAndStage, type StoredChunk } from './seal-store.ts';
import { KnownChunkFilter } from './known-filter.ts';

export interface ChunkWriterOptions {
  k: number;
  m: number;
  compression: CompressionOptions;
  /** Max bytes in flight (profile memoryBudgetBytes). */
  memoryBudgetBytes: number;
  /** Commit a batch once this many new bytes are staged. */
  checkpointBytes: number;
  /** Where shards live ("local" on a lone gateway). */
  location: string;
  /**
   * Checkpoints whose commit may run while the next batch is being sealed (1: each waits for the last).
   * A commit that is a network round (the edge cluster's hybrid commit) overlaps the next batch's work.
   */
  commitsInFlightMax?: number;
  /**
   * Seal on this many worker threads (seal-pool.ts), started once a run has `afterBytes` new bytes to
   * seal (a small incremental run never pays their start-up); until one has loaded, this thread seals.
   */
  sealers?: SealerThreads;
}

export const defaultChunkWriterOptions: Omit<ChunkWriterOptions, 'k' | 'm' | 'compression' | 'memoryBudgetBytes'> = {
  checkpointBytes: 64 * 1024 * 1024,
  location: 'local',
};

export interface ChunkWriterStats {
  chunks: number;
  chunksNew: number;
  /** New chunks checkpointed (recorded in the catalog). */
  chunksCommitted: number;
  /** Plaintext bytes of new chunks. */
  bytesNew: number;
  /** Bytes of the sealed objects of new chunks (after compression and encryption). */
  sealedNew: number;
  /** Data shard bytes written (without parity) and all shard bytes written. */
  dataShardBytesNew: number;
  shardBytesNew: number;
}

export interface AddedChunk {
  id: string;
  length: number;
  isNew: boolean;
}

/**
 * Where sealing and staging happen: this thread (with sealer threads or without), or the edge cluster (agent/edge). A
 * backend that places shards elsewhere answers `commit` with where each went: chunk id → the node of
 * each shard index; otherwise every shard is at `options.location`.
 */
export interface ChunkBackend {
  put(txId: string, id: string, plain: Uint8Array): Promise<StoredChunk>;
  commit(txId: string): Promise<ReadonlyMap<string, readonly string[]> | void>;
  abort(txId: string): Promise<void>;
  close(): Promise<void>;
}

function inlineBackend(store: ShardStore, rs: ReedSolomon, ring: KeyRing, options: ChunkWriterOptions): ChunkBackend {
  // Chunks sealed at once: about the thread pool's width (brotli and gzip run there), so encoders do not
  // pile up in memory; with sealers, enough to keep each busy while this thread stages the last.
  const slots = new ByteBudget(Math.max(4, 2 * (options.sealers?.threads ?? 0)));
  const { compression } = options;
  const sealers = lazySealPool({ keys: ring.current, compression }, options.sealers);
  return {
    async put(txId, id, plain) {
      await slots.acquire(1);
      try {
        return await sealAndStage(store, rs, ring.current, compression, txId, id, plain, sealers);
      } finally {
        slots.release(1);
      }
    },
    commit: (txId) => store.commit(txId),
    abort: (txId) => store.abort(txId),
    close: () => sealers.close(),
  };
}

export class ChunkWriter {
  readonly stats: ChunkWriterStats = { chunks: 0, chunksNew: 0, chunksCommitted: 0, bytesNew: 0, sealedNew: 0, dataShardBytesNew: 0, shardBytesNew: 0 };
  readonly budget: ByteBudget;
  private readonly txPrefix = `bk-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  private batchNo = 0;
  private txId: string;
  private batchBytes = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The last `add` called: the next waits for it (dedup and batch bookkeeping assume one at a time). */
  private adding: Promise<unknown> = Promise.resolve();
  /** Chunks staged, recorded in the catalog at the checkpoint of their transaction. */
  private readonly staged = new Map<string, { txId: string; record: ChunkRecord }>();
  private failure: unknown;
  /** Commits started and not yet waited for, oldest first; and the chunk ids they hold. */
  private readonly commits: Promise<void>[] = [];
  private readonly committing = new Set<string>();

  private constructor(
    private backend: ChunkBackend,
    private readonly catalog: Catalog,
    private readonly ring: KeyRing,
    private readonly options: ChunkWriterOptions,
    private readonly known: KnownChunkFilter,
  ) {
    this.budget = new ByteBudget(options.memoryBudgetBytes);
    this.txId = this.nextTxId();
  }

  static async create(store: ShardStore, catalog: Catalog, ring: KeyRing, options: ChunkWriterOptions, custom?: ChunkBackend): Promise<ChunkWriter> {
    const backend = custom ?? inlineBackend(store, await ReedSolomon.create(options.k, options.m), ring, options);
    const known = new KnownChunkFilter(await catalog.chunkCount());
    await catalog.forEachChunkId((ids) => ids.forEach((id) => known.add(id)));
    return new ChunkWriter(backend, catalog, ring, options, known);
  }

  /** The chunk id of `plain` (the ring's dedup key; nothing stored). */
  idOf(plain: Uint8Array): string {
    return chunkIdHex(this.ring.idKeys, plain);
  }

  /**
   * The id of `plain`; stores it unless known. Resolves once accepted (not yet durable). Calls made
   * while one is under way (several files read at once) run one after another, in call order.
   */
  add(plain: Uint8Array): Promise<AddedChunk> {
    const run = this.adding.then(() => this.addNow(plain));
    this.adding = run.catch(() => undefined);
    return run;
  }

  private async addNow(plain: Uint8Array): Promise<AddedChunk> {
    this.throwIfFailed();
    const id = this.idOf(plain);
    this.stats.chunks++;
    if (this.inFlight.has(id) || this.staged.has(id) || this.committing.has(id) || (this.known.mayHave(id) && (await this.catalog.hasChunk(id)))) {
      return { id, length: plain.length, isNew: false };
    }
    const cost = this.costOf(plain.length);
    await this.budget.acquire(cost);
    this.throwIfFailed();
    if (this.batchBytes >= this.options.checkpointBytes) await this.checkpointBatch();
    this.batchBytes += plain.length;
    const txId = this.txId;
    const job = this.backend
      .put(txId, id, plain)
      .then((stored) => this.record(txId, id, plain.length, stored))
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inFlight.delete(id);
        this.budget.release(cost);
      });
    this.inFlight.set(id, job);
    return { id, length: plain.length, isNew: true };
  }

  /** Waits for every chunk in flight, commits their shards, then records them in the catalog. */
  async checkpoint(): Promise<void> {
    await this.checkpointBatch();
    await this.drainCommits();
  }

  /**
   * Closes the current batch: once its chunks are staged, its commit starts and the writer goes on with
   * the next batch while at most `commitsInFlightMax` commits run. A failed commit fails the writer.
   */
  private async checkpointBatch(): Promise<void> {
    await Promise.all([...this.inFlight.values()]);
    this.throwIfFailed();
    const txId = this.txId;
    const records = [...this.staged.values()].filter((s) => s.txId === txId).map((s) => s.record);
    for (const r of records) {
      this.staged.delete(r.id);
      this.committing.add(r.id);
    }
    this.batchBytes = 0;
    this.txId = this.nextTxId();
    if (records.length === 0) return;
    const commit = this.commitBatch(txId, records).catch((error: unknown) => {
      this.failure ??= error;
    });
    this.commits.push(commit);
    const max = Math.max(1, this.options.commitsInFlightMax ?? 1);
    while (this.commits.length >= max) await this.commits.shift();
    this.throwIfFailed();
  }

  private async drainCommits(): Promise<void> {
    while (this.commits.length > 0) await this.commits.shift();
    this.throwIfFailed();
  }

  private async commitBatch(txId: string, records: ChunkRecord[]): Promise<void> {
    try {
      await this.commitRecords(txId, records);
      for (const r of records) this.known.add(r.id);
    } finally {
      for (const r of records) this.committing.delete(r.id);
    }
  }

  private async commitRecords(txId: string, records: ChunkRecord[]): Promise<void> {
    const placed = await this.backend.commit(txId);
    if (placed) {
      for (const r of records) {
        const nodes = placed.get(r.id);
        if (!nodes) throw new Error(`invariant violated: the commit placed no shard of chunk ${r.id}`);
        r.shards = r.shards.map((s) => ({ ...s, location: nodes[s.idx] ?? s.location }));
      }
    }
    await this.catalog.addChunks(records);
    this.stats.chunksCommitted += records.length;
  }

  /** Drops the staged shards not yet checkpointed (after a failure). Checkpointed chunks stay. */
  async abort(): Promise<void> {
    await Promise.allSettled([...this.inFlight.values(), ...this.commits.splice(0)]);
    const txIds = new Set([this.txId, ...[...this.staged.values()].map((s) => s.txId)]);
    this.staged.clear();
    for (const txId of txIds) await this.backend.abort(txId).catch(() => undefined);
  }

  /** Ends the writer (stops its sealer threads). Call after checkpoint or abort. */
  close(): Promise<void> {
    return this.backend.close();
  }

  private record(txId: string, id: string, length: number, stored: StoredChunk): void {
    const { location } = this.options;
    const k = stored.k ?? this.options.k;
    const m = stored.m ?? this.options.m;
    this.staged.set(id, {
      txId,
      record: {
        id,
        length,
        sealedLength: stored.sealedLength,
        k,
        m,
        shardBytes: stored.shardBytes,
        createdMs: Date.now(),
        shards: stored.shardIds.map((shardId, idx) => ({ idx, shardId, location })),
      },
    });
    this.stats.chunksNew++;
    this.stats.bytesNew += length;
    this.stats.sealedNew += stored.sealedLength;
    this.stats.dataShardBytesNew += stored.shardBytes * k;
    this.stats.shardBytesNew += stored.shardBytes * (k + m);
  }

  /**
   * Memory a chunk holds at its peak: plaintext, compressed body and n shards, and with sealer
   * threads the sealer's copy of the plaintext too.
   */
  private costOf(length: number): number {
    const { k, m } = this.options;
    return (this.options.sealers ? 2 * length : length) + Math.ceil((length * (k + m)) / k);
  }

  private nextTxId(): string {
    return `${this.txPrefix}-${this.batchNo++}`;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
