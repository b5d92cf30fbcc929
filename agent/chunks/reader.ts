/**
 * ChunkReader: fetch a chunk's shards, verify each (the store hash-checks on read), rebuild from parity
 * when data shards are missing or corrupt, decrypt, decompress and check the chunk id.
 * The data shards are read first; parity only when needed (a healthy restore never decodes).
 *
 * `read` (restore, manifests, compare) takes a faster path first on the local store: the data shards
 * unhashed, since the object they make up is authenticated whole (AES-GCM over the body, the chunk id
 * and the header) and its plaintext checked against its id, so a damaged byte of any of them fails the
 * open. Only then are the shards read again, each hash-checked, to find the damaged one and rebuild
 * it from parity, as before. A healthy restore so skips a SHA-256 pass over every stored byte on the
 * main thread. Damage the chunk does not use (a last shard's zero padding) goes unseen by a restore;
 * `check --read-data` reads every shard by its hash, as it did. `fetchShards` and `openFetched`
 * (check, repair, migration) always hash-check.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { ReedSolomon, joinShards } from '../../shared/erasure/index.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { Catalog, ChunkRecord, ShardRecord } from '../catalog/index.ts';
import { openChunk } from './codec.ts';

/**
 * Where chunk plaintext comes from, for the code that only reads chunks (manifest, restore, compare): the
 * local shard store (ChunkReader) or the cloud (migrate/cloud-reader.ts). `read` returns verified plaintext.
 */
export interface ChunkSource {
  read(id: string): Promise<Uint8Array>;
}

export interface ShardProblem {
  chunkId: string;
  idx: number;
  shardId: string;
  /** SHARD_MISSING, SHARD_CORRUPT or another store error code. */
  code: string;
  /** Where the shard is recorded to be (`local`, or the edge member holding it). */
  location?: string;
}

export interface FetchedShards {
  /** One entry per shard index; null where the shard is missing or bad. */
  shards: Array<Uint8Array | null>;
  problems: ShardProblem[];
}

const codecs = new Map<string, ReedSolomon>();

export function reedSolomon(k: number, m: number): ReedSolomon {
  const key = `${k}+${m}`;
  let rs = codecs.get(key);
  if (!rs) codecs.set(key, (rs = new ReedSolomon(k, m)));
  return rs;
}

export function chunkUnrecoverable(record: ChunkRecord, good: number): BaksaError {
  return new BaksaError('CHUNK_UNRECOVERABLE', `chunk ${record.id} has ${good} good shards of the ${record.k} needed`, {
    hint: 'the data of this chunk is lost here: restore it from another copy (the aggregator) if there is one',
    exitCode: ExitCode.data,
    details: { id: record.id, good, needed: record.k },
  });
}

/**
 * Reads one shard into `target` (exactly its size), hash-verified; throws a BaksaError with the reason.
 * The default reads the local store; in an edge cluster the shard's location names the member holding it.
 */
export type ShardFetch = (shard: ShardRecord, target: Uint8Array) => Promise<void>;

/** Authenticates, decompresses and id-checks a sealed object, taking over its whole buffer (`openChunk`, or `ChunkOpenPool.open`). */
export type ChunkOpen = (id: string, object: Uint8Array, lengthMax: number) => Promise<Uint8Array>;

export class ChunkReader implements ChunkSource {
  private readonly fetch: ShardFetch;
  /** The local store's read without the hash check, for `read`'s first try; none for a fetch of the caller's. */
  private readonly fetchUnverified: ShardFetch | undefined;
  private readonly openHere: ChunkOpen = (id, object, lengthMax) => openChunk(this.ring, id, object, lengthMax, true);
  /**
   * Where `read` opens chunks: on this thread unless a restore hands them to worker threads. When that
   * fails other than with a BaksaError (the thread died), `read` opens on this thread from then on.
   */
  open: ChunkOpen = this.openHere;

  constructor(
    store: ShardStore,
    private readonly catalog: Catalog,
    private readonly ring: KeyRing,
    fetch?: ShardFetch,
  ) {
    this.fetch = fetch ?? ((s, target) => store.getInto(s.shardId, target));
    this.fetchUnverified = fetch ? undefined : (s, target) => store.getInto(s.shardId, target, { verify: false });
  }

  async record(id: string): Promise<ChunkRecord> {
    const record = await this.catalog.getChunk(id);
    if (!record) {
      throw new BaksaError('CHUNK_UNKNOWN', `chunk ${id} is not in the catalog`, {
        hint: 'the catalog lost track of this chunk: run `2baksa check` to see the extent of the damage',
        exitCode: ExitCode.data,
        details: { id },
      });
    }
    return record;
  }

  /**
   * Reads shards: `all` reads every shard (check), otherwise data shards first and parity as needed.
   * The data shards land side by side in one buffer (ShardStore.getInto), which is the sealed object
   * itself when all of them are good: no join, no copy (sealedFrom).
   */
  async fetchShards(record: ChunkRecord, all = false): Promise<FetchedShards> {
    const n = record.k + record.m;
    const size = record.shardBytes;
    const shards: Array<Uint8Array | null> = new Array(n).fill(null);
    const problems: ShardProblem[] = [];
    const byIdx = new Map<number, ShardRecord>(record.shards.map((s) => [s.idx, s]));
    const first = all ? n : record.k;
    const buffer = Buffer.allocUnsafe(size * first); // every byte is read into: no zero-fill
    const readOne = async (idx: number): Promise<boolean> => {
      const s = byIdx.get(idx);
      if (!s) {
        problems.push({ chunkId: record.id, idx, shardId: '', code: 'SHARD_UNRECORDED' });
        return false;
      }
      const target = idx < first ? buffer.subarray(idx * size, (idx + 1) * size) : new Uint8Array(size);
      try {
        await this.fetch(s, target); // a shard of another size is SHARD_CORRUPT
        shards[idx] = target;
        return true;
      } catch (error) {
        const code = error instanceof BaksaError ? error.code : 'SHARD_READ_ERROR';
        problems.push({ chunkId: record.id, idx, shardId: s.shardId, code, location: s.location });
        return false;
      }
    };
    let good = (await Promise.all(Array.from({ length: first }, (_, i) => readOne(i)))).filter(Boolean).length;
    for (let idx = first; idx < n && good < record.k; idx++) if (await readOne(idx)) good++;
    return { shards, problems };
  }

  /** The sealed object of a chunk from its shards (rebuilding missing data shards). */
  sealedFrom(record: ChunkRecord, shards: Array<Uint8Array | null>): Uint8Array {
    const good = shards.filter((s) => s !== null).length;
    if (good < record.k) throw chunkUnrecoverable(record, good);
    const data = shards.slice(0, record.k);
    if (data.every((s) => s !== null)) {
      const contiguous = contiguousView(data as Uint8Array[], record.sealedLength);
      if (contiguous) return contiguous;
    }
    const rebuilt = data.every((s) => s !== null)
      ? (data as Uint8Array[])
      : reedSolomon(record.k, record.m).reconstruct(shards, { dataOnly: true });
    return joinShards(rebuilt, record.k, record.sealedLength);
  }

  /** The plaintext of chunk `id`, verified: by the open alone when it succeeds (header comment), else shard by shard. */
  async read(id: string, known?: ChunkRecord): Promise<Uint8Array> {
    const record = known ?? (await this.record(id));
    const object = await this.dataShardsUnverified(record);
    if (object) {
      try {
        return await this.open(record.id, object, record.length);
      } catch {
        // Damaged, or the opener thread died with it: read again with every shard hash-checked.
      }
    }
    return this.openFetched(record, (await this.fetchShards(record)).shards);
  }

  /** The sealed object from the data shards read without their hash check; undefined when one cannot be read. */
  private async dataShardsUnverified(record: ChunkRecord): Promise<Uint8Array | undefined> {
    const fetch = this.fetchUnverified;
    if (!fetch) return undefined;
    const size = record.shardBytes;
    const buffer = Buffer.allocUnsafe(size * record.k);
    const byIdx = new Map<number, ShardRecord>(record.shards.map((s) => [s.idx, s]));
    const read = await Promise.all(
      Array.from({ length: record.k }, (_, idx) => {
        const shard = byIdx.get(idx);
        return shard ? fetch(shard, buffer.subarray(idx * size, (idx + 1) * size)).then(() => true, () => false) : false;
      }),
    );
    if (!read.every(Boolean) || record.sealedLength > buffer.length) return undefined;
    return buffer.subarray(0, record.sealedLength);
  }

  /**
   * The plaintext of `record` from the shards `fetchShards(record, all)` gave, verified; `open` takes
   * their buffer over. When the opener thread dies with it, the shards are read again and opened here.
   */
  async openFetched(record: ChunkRecord, shards: Array<Uint8Array | null>, all = false): Promise<Uint8Array> {
    const open = this.open;
    try {
      return await open(record.id, this.sealedFrom(record, shards), record.length);
    } catch (error) {
      if (error instanceof BaksaError || open === this.openHere) throw error;
      this.open = this.openHere; // the object went to the thread: read the shards again
      return this.openFetched(record, (await this.fetchShards(record, all)).shards, all);
    }
  }
}

/** The first `length` bytes of `shards` as one view when they lie end to end in one buffer (fetchShards). */
function contiguousView(shards: readonly Uint8Array[], length: number): Uint8Array | undefined {
  const first = shards[0]!;
  const size = first.length;
  if (length > size * shards.length) return undefined; // joinShards reports it
  for (let i = 1; i < shards.length; i++) {
    const s = shards[i]!;
    if (s.buffer !== first.buffer || s.byteOffset !== first.byteOffset + i * size || s.length !== size) return undefined;
  }
  return new Uint8Array(first.buffer, first.byteOffset, length);
}
