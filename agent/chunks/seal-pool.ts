/**
 * Chunk sealers on worker threads, for a backup on a profile that allows threads. The main thread reads,
 * chunks, ids, dedups and stages; a sealer compresses, encrypts, erasure-codes and hashes each new chunk's
 * shards (`sealChunkShards`, `ReedSolomon.encode`, `shardIdOf`: the same code as on the main thread).
 *
 * Why: zstd, the default compression, runs on the thread that calls it (brotli ran on the libuv pool), so
 * on the main thread it made that thread the bound of a backup. First backup of 280 MB of gateway logs on
 * 2 cores (state on tmpfs, four alternating runs each): brotli 0 inline 1.33–1.41 s against zstd 1
 * inline 1.37–1.44 s; then brotli 0 inline 1.27–1.37 s against zstd 1 with one sealer 1.21–1.29 s,
 * which leaves the main thread (chunk ids, the chunker, staging) and the sealer (zstd 0.6 s, AES-GCM,
 * Reed–Solomon, shard ids) both about 80 % busy. Sealers replaced the store worker (3+ cores only),
 * whose one thread sealed and staged everything: with zstd that thread was the bound, and the main
 * thread idled 724 of the run's 1,550 ms.
 *
 * The plaintext goes over as a copy (it is a view of the reader's buffer) into a buffer that comes back
 * with the answer and is used again (copying into a new one per chunk took the main thread 109 ms in
 * that backup, into reused ones 40–65 ms); the shard buffer comes back by transfer.
 */
import { availableParallelism } from 'node:os';
import type { DataKeys } from '../../shared/crypto/keys.ts';
import type { Profile } from '../profile/index.ts';
import type { CompressionOptions } from './codec.ts';
import { WorkerRpc, type WireError } from '../util/worker-rpc.ts';

export interface SealerInit {
  keys: DataKeys;
  compression: CompressionOptions;
}

export interface SealRequest {
  seq: number;
  id: string;
  /** The plaintext is bytes 0..length of `plain`. */
  plain: ArrayBuffer;
  length: number;
  k: number;
  m: number;
}

export interface SealReply {
  seq: number;
  /** The request's plaintext buffer, back for the next request. */
  plain?: ArrayBuffer;
  buffer?: ArrayBuffer;
  shardBytes?: number;
  sealedLength?: number;
  shardIds?: string[];
  error?: WireError;
}

/** A chunk's k data and m parity shards (views of one buffer) and their ids. */
export interface SealedChunk {
  shards: Uint8Array[];
  shardIds: string[];
  shardBytes: number;
  sealedLength: number;
}

/** Plaintext buffers kept for reuse: a few more than the chunks in flight. */
const SPARE_BUFFERS_MAX = 8;

export class ChunkSealPool {
  private readonly spare: ArrayBuffer[] = [];

  private constructor(private readonly workers: WorkerRpc<SealRequest, SealReply>[]) {}

  static start(init: SealerInit, count: number): ChunkSealPool {
    const workers = Array.from({ length: count }, (_, i) => new WorkerRpc<SealRequest, SealReply>(import.meta.url, './seal-worker.ts', init, `chunk sealer ${i + 1}`));
    return new ChunkSealPool(workers);
  }

  /**
   * `plain` sealed and erasure-coded as k + m shards, with their ids; undefined when no sealer takes
   * it (none has loaded yet, or every one died or was closed): the caller seals it on its own thread.
   * A sealer that dies with the chunk in it passes it to another (the plaintext went over as a copy);
   * a sealing error of a live one stands.
   */
  async seal(id: string, plain: Uint8Array, k: number, m: number): Promise<SealedChunk | undefined> {
    for (;;) {
      const ready = this.workers.filter((w) => w.ready);
      if (ready.length === 0) return undefined;
      const worker = ready.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
      try {
        return await this.sealOn(worker, id, plain, k, m);
      } catch (error) {
        if (worker.ready) throw error;
      }
    }
  }

  private async sealOn(worker: WorkerRpc<SealRequest, SealReply>, id: string, plain: Uint8Array, k: number, m: number): Promise<SealedChunk> {
    const into = this.bufferFor(plain.length);
    new Uint8Array(into, 0, plain.length).set(plain);
    const reply = await worker.call({ id, plain: into, length: plain.length, k, m }, [into]);
    if (reply.plain && this.spare.length < SPARE_BUFFERS_MAX) this.spare.push(reply.plain);
    const buffer = new Uint8Array(reply.buffer!);
    const size = reply.shardBytes!;
    const shards = Array.from({ length: k + m }, (_, i) => buffer.subarray(i * size, (i + 1) * size));
    return { shards, shardIds: reply.shardIds!, shardBytes: size, sealedLength: reply.sealedLength! };
  }

  private bufferFor(length: number): ArrayBuffer {
    const i = this.spare.findIndex((b) => b.byteLength >= length);
    if (i >= 0) return this.spare.splice(i, 1)[0]!;
    return new ArrayBuffer(length);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** How many sealers a run gets, and after how many new bytes it starts them. */
export interface SealerThreads {
  threads: number;
  afterBytes: number;
}

/** A pool that starts itself once `afterBytes` of plaintext have been offered to it. */
export interface LazySealPool {
  /** As `ChunkSealPool.seal`: undefined while no sealer takes the chunk (the caller seals). */
  seal(id: string, plain: Uint8Array, k: number, m: number): Promise<SealedChunk | undefined>;
  close(): Promise<void>;
}

/**
 * Sealers started once a run has `afterBytes` new bytes to seal (a small incremental run never pays
 * their start-up); none when `threads` is undefined or 0.
 */
export function lazySealPool(init: SealerInit, threads: SealerThreads | undefined): LazySealPool {
  let pool: ChunkSealPool | undefined;
  let bytes = 0;
  return {
    seal(id, plain, k, m) {
      bytes += plain.length;
      if (!pool && threads && threads.threads > 0 && bytes >= threads.afterBytes) pool = ChunkSealPool.start(init, threads.threads);
      return pool ? pool.seal(id, plain, k, m) : Promise.resolve(undefined);
    },
    close: async () => pool?.close(),
  };
}

/** Sealers for a backup with `profile` on this machine: one per core beyond the first (at most 3). */
export function sealersFor(profile: Profile): number {
  if (profile.storeWorker !== true) return 0;
  return Math.min(3, availableParallelism() - 1);
}
