/**
 * Chunk openers on worker threads, for long reads (restore, from the shard store or from the cloud, and
 * `check --read-data`): the main thread reads shards (or downloads) and writes files while the workers
 * authenticate, decompress and id-check the chunks in flight (`openChunk`, the same code and checks as
 * on the main thread). Sealed objects go over and plaintext comes back by transfer, not copy. On 2
 * cores one opener took a restore of 280 MB of brotli-compressed logs from 1.45–1.61 s to 1.26–1.34 s
 * (six alternating runs each); a second one was slower then (the cores were full). See `openersFor`.
 */
import { availableParallelism } from 'node:os';
import type { DataKeys, KeyRing } from '../../shared/crypto/keys.ts';
import { keyVersionOf } from '../../shared/crypto/aead.ts';
import { CHUNK_HEADER_BYTES, openChunk } from './codec.ts';
import type { Profile } from '../profile/index.ts';
import type { ChunkOpen } from './reader.ts';
import { WorkerRpc, handOver, type WireError } from '../util/worker-rpc.ts';

export interface OpenerInit {
  keys: DataKeys[];
  current: number;
}

export interface OpenRequest {
  seq: number;
  id: string;
  data: ArrayBuffer;
  offset: number;
  length: number;
  lengthMax: number;
}

export interface OpenReply {
  seq: number;
  data?: ArrayBuffer;
  offset?: number;
  length?: number;
  error?: WireError;
}

export class ChunkOpenPool {
  private constructor(
    private readonly ring: KeyRing,
    private readonly workers: WorkerRpc<OpenRequest, OpenReply>[],
    /** The key versions the openers hold. */
    private readonly versions: ReadonlySet<number>,
  ) {}

  /** `count` openers holding every key version `ring` holds now. */
  static start(ring: KeyRing, count: number): ChunkOpenPool {
    const versions = ring.versions();
    const init: OpenerInit = { keys: versions.map((v) => ring.byVersion(v)), current: ring.current.version };
    const workers = Array.from({ length: count }, (_, i) => new WorkerRpc<OpenRequest, OpenReply>(import.meta.url, './open-worker.ts', init, `chunk opener ${i + 1}`));
    return new ChunkOpenPool(ring, workers, new Set(versions));
  }

  /**
   * The plaintext of sealed chunk `id`, verified (`openChunk`). The caller hands `object`'s whole buffer
   * over: it is transferred to the worker (see `handOver`). Until a worker has loaded (about 50 ms
   * after the start, on 2 cores), chunks are opened on this thread: a restore reads its manifest and
   * first chunks meanwhile instead of waiting (restore of 280 MB: the manifest was ready 50–60 ms after
   * the openers started, all of it waiting for the thread to load).
   */
  async open(id: string, object: Uint8Array, lengthMax: number): Promise<Uint8Array> {
    const ready = this.workers.filter((w) => w.ready);
    if (ready.length === 0 && this.workers.some((w) => w.loading)) return openChunk(this.ring, id, object, lengthMax, true);
    // Sealed with a key version the openers were not given (newer than the config this ring was made
    // from): this thread's ring derives it.
    const version = keyVersionOf(object.subarray(CHUNK_HEADER_BYTES)) ?? 0;
    if (!this.versions.has(version) && this.ring.has(version)) return openChunk(this.ring, id, object, lengthMax, true);
    // A dead or closed worker answers with its error (ChunkReader then opens on its own thread).
    const worker = (ready.length > 0 ? ready : this.workers).reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const { data, offset, transfer } = handOver(object);
    const reply = await worker.call({ id, data, offset, length: object.length, lengthMax }, transfer);
    return new Uint8Array(reply.data!, reply.offset!, reply.length!);
  }

  /** Workers loaded and taking chunks. */
  get threadsReady(): number {
    return this.workers.filter((w) => w.ready).length;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/**
 * Openers for a restore with `profile` on this machine: one per core (at most 3), on a profile that
 * allows worker threads (`storeWorker`; small-arm does not, for its memory); none on one core. With
 * zstd an opener (AES-GCM, zstd, the id's HMAC: about 2 ms per 2 MiB chunk) was busy the whole restore
 * while the main thread (shard reads, file writes) idled half of it: on 2 cores a second opener took a
 * restore of 280 MB from 0.65–0.72 s to 0.58–0.65 s (five alternating runs each). With brotli, one
 * opener per core beyond the first was the faster choice.
 */
export function openersFor(profile: Profile): number {
  if (profile.storeWorker !== true) return 0;
  const cores = availableParallelism();
  return cores < 2 ? 0 : Math.min(3, cores);
}

/**
 * Runs `body` with the openers `profile` gets on this machine (`openersFor`), closing them after; `open`
 * is undefined when there are none. It takes over the buffer of each object it is given (`handOver`).
 */
export async function withOpeners<T>(ring: KeyRing, profile: Profile, body: (open: ChunkOpen | undefined) => Promise<T>): Promise<T> {
  const count = openersFor(profile);
  const pool = count > 0 ? ChunkOpenPool.start(ring, count) : undefined;
  try {
    return await body(pool && ((id, object, lengthMax) => pool.open(id, object, lengthMax)));
  } finally {
    await pool?.close();
  }
}
