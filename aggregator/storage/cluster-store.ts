/**
 * The aggregator cluster's blob and object store: Reed–Solomon over the storage nodes, rack-aware,
 * healing what it reads.
 *
 * Blob (one stripe). `putBlob` cuts the bytes into k data shards, adds m parity shards, names each by
 * its SHA-256 and puts shard i on member `place(key, …).nodes[i]` (rendezvous placement, at most m
 * shards per rack when the racks allow it), all in parallel. A member that refuses or does not answer
 * gets its shard re-placed (`replaceShard`: the rack holding the fewest of the stripe's shards, then the
 * best score) on a member the stripe does not use yet, or, when every live member holds one already
 * (k + m = n with a member down), beside another shard of the stripe (at most m on one member): a write
 * goes on with a node down, and that stripe survives one loss fewer until it is spread again. The put succeeds
 * only when all k + m shards are stored; the BlobRef records where each went. `putBlobs` does the same
 * for several blobs, sending each member its shards of all of them in one batched put.
 *
 * Read. `getBlob` asks the k data shards' members first (in parallel; the common case needs no
 * decoding), verifies each shard against its id, and for each one missing or wrong asks the next
 * shards (parity) until k are good. Failing that, it asks every other member for the shards it still
 * lacks (a shard may have been re-placed by an earlier heal). Any k good shards rebuild the stripe; a
 * rebuilt shard is checked against its id too, so what is returned is exactly what was stored.
 * `getBlobs` reads several blobs the same way after one batched read of their data shards per member.
 *
 * Heal. Every shard that was missing or corrupt at its recorded member is rebuilt and put back there
 * (or, when that member refuses, re-placed like a failed write) before the read returns; `healed`
 * lists them and `ref` says where the shards are now (a caller that keeps refs may store it).
 * `scrubBlob` reads all k + m shards, not just k, so it finds bad parity too, and gives a stripe written
 * with a member down (two shards on one) a copy of the second on a member it does not use (#respread).
 *
 * Object. `putObject` streams its input in segments of `segmentBytes` (one segment in memory at a
 * time), each a blob keyed `${key}/${i}`, hashing the whole content on the way, then stores the list of
 * segment BlobRefs as the blob `${key}/manifest` (refs.ts). `getObject` yields the segments in order
 * (reading one ahead) and checks the length and SHA-256 at the end: a consumer has seen the bytes
 * before that check, but every shard was already verified against ids the ObjectRef authenticates.
 *
 * Keys. A key names one blob (placement and whitening derive from it): read a blob with the key it
 * was put under. Each blob's bytes are whitened with a keystream from its key before they are cut
 * (whiten.ts), so equal content under two keys gives different shards and `deleteObject` can remove
 * one object's shards without touching another's. Deletion is best effort: shards of a member that is
 * down stay (they cost space, never correctness) until `aggregator sweep` frees what no layout names
 * (aggregator/node/sweep.ts). A put that fails or is refused removes what it stored, best effort,
 * before it throws.
 */
import { createHash, type Hash } from 'node:crypto';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { ReedSolomon, allocShards, joinShards, shardBytesFor, type MaybeShard } from '../../shared/erasure/index.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { place, replaceShard, type Member } from '../../shared/placement/index.ts';
import { SHARD_BYTES_MAX_DEFAULT, shardIdOf } from '../../shared/storage/index.ts';
import { payloadTooLarge } from '../api/object-sink.ts';
import { blobRefInvalid, blobStoreFailed, blobUnrecoverable, objectCorrupt, type ShardFailure } from './errors.ts';
import type { ShardPeer } from './peers.ts';
import { Whitener, whiten } from './whiten.ts';
import { checkBlobRef, checkObjectRef, decodeManifest, encodeManifest, type BlobRef, type ObjectRef } from './refs.ts';

export interface ClusterMember {
  /** Node name, as in the peers map and the BlobRefs. */
  id: string;
  /** Failure domain: no rack should hold more than m shards of one stripe. */
  rack: string;
}

export interface ClusterStoreOptions {
  /** This node's member id. */
  self: string;
  /** Every storage node, this one included. */
  members: readonly ClusterMember[];
  /** One peer per member (this node: a LocalShardPeer). */
  peers: ReadonlyMap<string, ShardPeer>;
  /** The code new blobs are written with (k = dataShards, m = parityShards); see defaultGeometry. */
  rs: ReedSolomon;
  /** Bytes per object segment (one stripe each); a segment is the most an object put holds in memory. */
  segmentBytes?: number;
  /** Largest shard the members accept; segmentBytes / k must fit. */
  shardBytesMax?: number;
  /** Members tried per shard when a put fails: the placed one, then re-placements. */
  shardPutAttemptsMax?: number;
  logger?: Logger;
}

export const defaultClusterStoreOptions = {
  segmentBytes: 4 * 1024 * 1024,
  shardBytesMax: SHARD_BYTES_MAX_DEFAULT,
  shardPutAttemptsMax: 4,
} as const;

export interface BlobRead {
  bytes: Uint8Array;
  /** Indexes of the shards that were missing or corrupt at their recorded member and are stored again. */
  healed: number[];
  /** The blob's ref with where its shards are now (equal to the one given unless a heal moved a shard). */
  ref: BlobRef;
}

export interface ScrubResult {
  /** Shards read and verified. */
  checked: number;
  healed: number[];
  /** Shards of a member holding two of the stripe, copied to a member the stripe does not use. */
  respread: number[];
  ref: BlobRef;
}

export interface PutObjectOptions {
  /** Refuse (PAYLOAD_TOO_LARGE) once the object passes this many bytes. */
  bytesMax: number;
}

/** A blob on its way into putBlobs: shards, their ids and members, the first put's outcome per shard. */
interface Stripe {
  key: string;
  ids: string[];
  shards: Uint8Array[];
  nodes: string[];
  first: Array<string | undefined>;
  ref: BlobRef;
}

/** Shards a batched read brought, by member and id (not verified yet). */
type Prefetched = Map<string, Map<string, Uint8Array>>;

/** A member that did not answer (as opposed to one that answered "not here" or sent bad bytes). */
const UNREACHABLE = Symbol('unreachable');

/** The shards of one stripe as gathered by a read. */
interface Gathered {
  /** Verified shard bytes by index (undefined: not obtained). */
  shards: (Uint8Array | undefined)[];
  /** Indexes missing or corrupt at their recorded member. */
  bad: Set<number>;
  /** Indexes whose recorded member did not answer (down, unreachable): not known to be bad. */
  unreachable: Set<number>;
  /** Where a bad shard was found intact on another member. */
  foundAt: Map<number, string>;
  /** Shards fetched (for scrub's count). */
  fetched: number;
}

const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

export class ClusterStore {
  readonly self: string;
  readonly rs: ReedSolomon;
  readonly segmentBytes: number;
  readonly shardBytesMax: number;
  readonly #members: Member[];
  readonly #peers: ReadonlyMap<string, ShardPeer>;
  readonly #attemptsMax: number;
  readonly #logger: Logger;
  /** Decoders for blobs written with another geometry than `rs` (the cluster grew or shrank). */
  readonly #codes = new Map<string, ReedSolomon>();
  #spreadWarned = false;

  constructor(options: ClusterStoreOptions) {
    const o = { ...defaultClusterStoreOptions, ...options };
    this.self = o.self;
    this.rs = o.rs;
    this.segmentBytes = o.segmentBytes;
    this.shardBytesMax = o.shardBytesMax;
    this.#attemptsMax = o.shardPutAttemptsMax;
    this.#logger = o.logger ?? silentLogger;
    this.#peers = o.peers;
    this.#members = o.members.map((m) => ({ id: m.id, domain: m.rack }));
    const ids = new Set<string>();
    for (const m of o.members) {
      if (ids.has(m.id)) throw configError('storage.members', `member ${JSON.stringify(m.id)} is listed twice`);
      ids.add(m.id);
      if (!o.peers.has(m.id)) throw configError('storage.peers', `no peer for member ${JSON.stringify(m.id)}`);
    }
    if (!ids.has(o.self)) throw configError('storage.self', `${JSON.stringify(o.self)} is not one of the members`);
    const n = o.rs.totalShards;
    if (o.members.length < n) {
      throw configError('storage.members', `${o.rs.dataShards}+${o.rs.parityShards} shards need ${n} distinct members, there are ${o.members.length}`,
        'add storage nodes or choose fewer shards (defaultGeometry picks a geometry for the cluster size)');
    }
    if (!Number.isSafeInteger(o.segmentBytes) || o.segmentBytes < 1) throw configError('storage.segmentBytes', 'must be a positive whole number of bytes');
    if (shardBytesFor(o.segmentBytes, o.rs.dataShards) > o.shardBytesMax) {
      throw configError('storage.segmentBytes', `segments of ${o.segmentBytes} bytes over ${o.rs.dataShards} data shards exceed shardBytesMax ${o.shardBytesMax}`);
    }
    if (!Number.isSafeInteger(o.shardPutAttemptsMax) || o.shardPutAttemptsMax < 1) throw configError('storage.shardPutAttemptsMax', 'must be a whole number ≥ 1');
    this.#codes.set(`${o.rs.dataShards}+${o.rs.parityShards}`, o.rs);
  }

  // ---- blobs --------------------------------------------------------------------------------------

  async putBlob(key: string, bytes: Uint8Array): Promise<BlobRef> {
    const [result] = await this.putBlobs([{ key, bytes }]);
    if (result instanceof BaksaError) throw result;
    return result!;
  }

  /**
   * Puts several blobs at once: each member gets its shards of all of them in one batched put
   * (ShardPeer.putMany: one request, its shards fsynced side by side), then each shard that failed is re-placed as in
   * putBlob. One result per blob, in order: its ref, or the error putBlob would throw for it (what it
   * stored is removed again); one blob failing does not fail the others.
   */
  async putBlobs(blobs: readonly { key: string; bytes: Uint8Array }[]): Promise<Array<BlobRef | BaksaError>> {
    const stripes = blobs.map(({ key, bytes }) => {
      try {
        return this.#stripe(key, bytes);
      } catch (e) {
        if (e instanceof BaksaError) return e;
        throw e;
      }
    });
    const byNode = new Map<string, Array<{ stripe: Stripe; index: number }>>();
    for (const stripe of stripes) {
      if (stripe instanceof BaksaError) continue;
      stripe.nodes.forEach((node, index) => {
        const list = byNode.get(node) ?? [];
        byNode.set(node, list);
        list.push({ stripe, index });
      });
    }
    await Promise.all(
      [...byNode].map(async ([node, list]) => {
        const outcomes = await this.#putMany(node, list.map(({ stripe, index }) => ({ id: stripe.ids[index]!, bytes: stripe.shards[index]! })));
        list.forEach(({ stripe, index }, j) => (stripe.first[index] = outcomes[j]));
      }),
    );
    return Promise.all(
      stripes.map(async (stripe) => {
        if (stripe instanceof BaksaError) return stripe;
        const { key, ids, shards, nodes, ref } = stripe;
        if (ref.length === 0) return ref;
        const failures = await this.#storeShards(key, range(0, ids.length), ids, shards, nodes, new Map(), stripe.first);
        if (failures.length > 0) {
          const failed = new Set(failures.map((f) => f.index));
          await this.#deleteShards(key, ids.map((id, i) => ({ id, node: nodes[i]! })).filter((_, i) => !failed.has(i)));
          return blobStoreFailed(key, failures);
        }
        return { ...ref, nodes: [...nodes] };
      }),
    );
  }

  /** The encoded, whitened stripe of a blob and where its shards go first. */
  #stripe(key: string, bytes: Uint8Array): Stripe {
    const k = this.rs.dataShards;
    const m = this.rs.parityShards;
    if (bytes.length === 0) return { key, ids: [], shards: [], nodes: [], first: [], ref: { length: 0, shardBytes: 0, k, m, shards: [], nodes: [] } };
    const shardBytes = shardBytesFor(bytes.length, k);
    if (shardBytes > this.shardBytesMax) {
      throw new BaksaError('SHARD_TOO_LARGE', `blob ${key}: shards of ${shardBytes} bytes are larger than the limit of ${this.shardBytesMax}`, {
        hint: 'store large data with putObject (it cuts segments), or use more data shards', exitCode: ExitCode.data,
        details: { key, shardBytes, shardBytesMax: this.shardBytesMax },
      });
    }
    // The blob whitened straight into its data shards (no copy of it first), then the zeroed padding
    // after it, as if the padded data shards had been whitened whole.
    const { buffer, shards } = allocShards(bytes.length, k, m);
    const whitener = new Whitener(key);
    whitener.xor(bytes, buffer);
    const padding = buffer.subarray(bytes.length, k * shardBytes);
    whitener.xor(padding, padding);
    this.rs.encode(shards);
    const ids = shards.map(shardIdOf);
    const placement = place(key, k + m, this.#members, { parityShards: m });
    if (!placement.spreadOk && !this.#spreadWarned) {
      this.#spreadWarned = true;
      this.#logger.warn({ warning: placement.warning, k, m }, 'cluster store: racks too few or too uneven for a rack to be lost without losing data');
    }
    const nodes = [...placement.nodes];
    return { key, ids, shards, nodes, first: ids.map(() => 'not tried'), ref: { length: bytes.length, shardBytes, k, m, shards: ids, nodes } };
  }

  /** Shards put on one member in one batch; why each was not stored (undefined: stored). */
  async #putMany(node: string, shards: readonly { id: string; bytes: Uint8Array }[]): Promise<Array<string | undefined>> {
    const peer = this.#peers.get(node);
    if (peer === undefined) return shards.map(() => 'not a member with a peer');
    try {
      return await peer.putMany(shards);
    } catch (e) {
      const why = e instanceof BaksaError ? `${e.code}: ${e.message}` : String(e);
      return shards.map(() => why);
    }
  }

  async getBlob(key: string, ref: BlobRef): Promise<BlobRead> {
    return this.#getBlob(key, ref, new Map());
  }

  /**
   * Reads several blobs: the data shards of all of them are asked for first in one batched read per
   * member (ShardPeer.getMany), then each blob is read as getBlob reads it, taking what came (verified
   * like any shard) and asking for the rest one by one. One result per blob, in order: what getBlob
   * returns, or the error it would throw.
   */
  async getBlobs(blobs: readonly { key: string; ref: BlobRef }[]): Promise<Array<BlobRead | BaksaError>> {
    const byNode = new Map<string, string[]>();
    for (const { key, ref } of blobs) {
      try {
        checkBlobRef(key, ref);
      } catch {
        continue; // refused by the read itself
      }
      for (let i = 0; i < ref.k; i++) {
        const list = byNode.get(ref.nodes[i]!) ?? [];
        byNode.set(ref.nodes[i]!, list);
        list.push(ref.shards[i]!);
      }
    }
    const prefetched: Prefetched = new Map();
    await Promise.all([...byNode].map(async ([node, ids]) => {
      const peer = this.#peers.get(node);
      if (peer) prefetched.set(node, await peer.getMany(ids).catch(() => new Map<string, Uint8Array>()));
    }));
    return Promise.all(blobs.map(({ key, ref }) => this.#getBlob(key, ref, prefetched).catch((e: unknown) => {
      if (e instanceof BaksaError) return e;
      throw e;
    })));
  }

  async #getBlob(key: string, ref: BlobRef, prefetched: Prefetched): Promise<BlobRead> {
    checkBlobRef(key, ref);
    if (ref.length === 0) return { bytes: new Uint8Array(0), healed: [], ref: { ...ref, shards: [], nodes: [] } };
    const got = await this.#gather(key, ref, false, prefetched);
    // Every data shard came back verified and none was bad: the parity is needed neither to rebuild nor
    // to heal, so it is not computed (nor hashed against the reference) for a read.
    const dataShards = got.shards.slice(0, ref.k);
    const { data, healed, nodes } = got.bad.size === 0 && dataShards.every((s) => s !== undefined)
      ? { data: dataShards as Uint8Array[], healed: [], nodes: [...ref.nodes] }
      : await this.#rebuildAndHeal(key, ref, got, false);
    const bytes = joinShards(data, ref.k, ref.length);
    whiten(key, bytes);
    return { bytes, healed, ref: { ...ref, shards: [...ref.shards], nodes } };
  }

  /** Reads and verifies every shard of the blob (not only k) and heals the bad ones. */
  async scrubBlob(key: string, ref: BlobRef): Promise<ScrubResult> {
    checkBlobRef(key, ref);
    if (ref.length === 0) return { checked: 0, healed: [], respread: [], ref: { ...ref, shards: [], nodes: [] } };
    const got = await this.#gather(key, ref, true);
    const { healed, nodes, full } = await this.#rebuildAndHeal(key, ref, got, true);
    const down = new Set([...got.unreachable].map((i) => ref.nodes[i]!));
    const respread = await this.#respread(key, ref, nodes, full, down);
    return { checked: got.fetched, healed, respread, ref: { ...ref, shards: [...ref.shards], nodes } };
  }

  /**
   * A stripe written with a member down holds two shards on one member (putBlob). Once a member the
   * stripe does not use answers, the second of them gets a copy there: the ref stays as recorded (reads
   * go where it says), and a read that misses both shards of that member finds the copy by asking the
   * others (#gather). The target is deterministic, so a later scrub finds the copy and adds none.
   */
  async #respread(key: string, ref: BlobRef, nodes: readonly string[], full: readonly Uint8Array[], down: ReadonlySet<string>): Promise<number[]> {
    const out: number[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < nodes.length; i++) {
      if (!seen.has(nodes[i]!)) {
        seen.add(nodes[i]!);
        continue;
      }
      const target = replaceShard(key, i, this.#members, nodes.filter((_, j) => j !== i), down);
      if (target === undefined) continue;
      const there = await this.#fetch(key, target, ref.shards[i]!, ref.shardBytes);
      if (there instanceof Uint8Array || there === UNREACHABLE) continue;
      if ((await this.#tryPut(target, ref.shards[i]!, full[i]!)) === undefined) out.push(i);
    }
    if (out.length > 0) this.#logger.info({ key, shards: out }, 'cluster store: a stripe with two shards on one member is spread again');
    return out;
  }

  // ---- objects ------------------------------------------------------------------------------------

  async putObject(key: string, data: AsyncIterable<Uint8Array>, options: PutObjectOptions): Promise<ObjectRef> {
    const hash = createHash('sha256');
    const segments: BlobRef[] = [];
    try {
      return await this.#putSegments(key, data, options, hash, segments);
    } catch (e) {
      // What was stored of a refused or failed upload goes again, best effort.
      for (const [i, seg] of segments.entries()) await this.deleteBlob(`${key}/${i}`, seg).catch(() => undefined);
      throw e;
    }
  }

  async #putSegments(key: string, data: AsyncIterable<Uint8Array>, options: PutObjectOptions, hash: Hash, segments: BlobRef[]): Promise<ObjectRef> {
    const segment = new Uint8Array(this.segmentBytes);
    let fill = 0;
    let total = 0;
    for await (const chunk of data) {
      total += chunk.length;
      if (total > options.bytesMax) throw payloadTooLarge(options.bytesMax);
      hash.update(chunk);
      for (let at = 0; at < chunk.length; ) {
        const take = Math.min(this.segmentBytes - fill, chunk.length - at);
        segment.set(chunk.subarray(at, at + take), fill);
        fill += take;
        at += take;
        if (fill === this.segmentBytes) {
          segments.push(await this.putBlob(`${key}/${segments.length}`, segment));
          fill = 0;
        }
      }
    }
    if (fill > 0) segments.push(await this.putBlob(`${key}/${segments.length}`, segment.subarray(0, fill)));
    const manifest = encodeManifest({ length: total, segmentBytes: this.segmentBytes, k: this.rs.dataShards, m: this.rs.parityShards, segments });
    return { length: total, sha256: hash.digest('hex'), manifest: await this.putBlob(`${key}/manifest`, manifest) };
  }

  /** The object's bytes, segment by segment; throws OBJECT_CORRUPT at the end if length or SHA-256 differ. */
  async *getObject(key: string, ref: ObjectRef): AsyncIterable<Uint8Array> {
    checkObjectRef(key, ref);
    const { bytes: raw } = await this.getBlob(`${key}/manifest`, ref.manifest);
    const { segments } = decodeManifest(key, raw, ref.length);
    const hash = createHash('sha256');
    let total = 0;
    const read = (i: number): Promise<BlobRead> => {
      const p = this.getBlob(`${key}/${i}`, segments[i]!);
      p.catch(() => undefined); // awaited below; a consumer that stops early leaves it unobserved
      return p;
    };
    let next = segments.length > 0 ? read(0) : undefined;
    for (let i = 0; i < segments.length; i++) {
      const { bytes } = await next!;
      next = i + 1 < segments.length ? read(i + 1) : undefined;
      if (bytes.length !== segments[i]!.length) throw objectCorrupt(key, `segment ${i} has ${bytes.length} bytes, not ${segments[i]!.length}`);
      hash.update(bytes);
      total += bytes.length;
      yield bytes;
    }
    if (total !== ref.length) throw objectCorrupt(key, `read ${total} bytes, the object has ${ref.length}`);
    const sha256 = hash.digest('hex');
    if (sha256 !== ref.sha256) throw objectCorrupt(key, `the bytes read hash to ${sha256}, not ${ref.sha256}`);
  }

  /** Scrubs the manifest and every segment of an object. */
  async scrubObject(key: string, ref: ObjectRef): Promise<{ checked: number; healed: number; respread: number }> {
    checkObjectRef(key, ref);
    const first = await this.scrubBlob(`${key}/manifest`, ref.manifest);
    const { bytes: raw } = await this.getBlob(`${key}/manifest`, first.ref);
    const { segments } = decodeManifest(key, raw, ref.length);
    let checked = first.checked;
    let healed = first.healed.length;
    let respread = first.respread.length;
    for (const [i, seg] of segments.entries()) {
      const r = await this.scrubBlob(`${key}/${i}`, seg);
      checked += r.checked;
      healed += r.healed.length;
      respread += r.respread.length;
    }
    return { checked, healed, respread };
  }

  /**
   * Removes the blob's shards from their recorded members, best effort (a member that is down keeps
   * its shard; a copy a heal moved elsewhere is not in `ref` unless the caller kept the
   * ref getBlob returned). Safe because whitening makes every shard belong to one blob key.
   */
  async deleteBlob(key: string, ref: BlobRef): Promise<{ deleted: number; failed: number }> {
    checkBlobRef(key, ref);
    return this.#deleteShards(key, ref.shards.map((id, i) => ({ id, node: ref.nodes[i]! })));
  }

  /**
   * Removes an object's shards, best effort: the segments, then the manifest (so a retry still finds
   * the segments). Throws when the manifest cannot be read; counts shards it could not remove.
   */
  async deleteObject(key: string, ref: ObjectRef): Promise<{ deleted: number; failed: number }> {
    checkObjectRef(key, ref);
    const { bytes: raw } = await this.getBlob(`${key}/manifest`, ref.manifest);
    const { segments } = decodeManifest(key, raw, ref.length);
    let deleted = 0;
    let failed = 0;
    for (const [i, seg] of segments.entries()) {
      const r = await this.deleteBlob(`${key}/${i}`, seg);
      deleted += r.deleted;
      failed += r.failed;
    }
    const r = await this.deleteBlob(`${key}/manifest`, ref.manifest);
    return { deleted: deleted + r.deleted, failed: failed + r.failed };
  }

  // ---- internals ----------------------------------------------------------------------------------

  #code(k: number, m: number): ReedSolomon {
    const name = `${k}+${m}`;
    let rs = this.#codes.get(name);
    if (rs === undefined) {
      rs = new ReedSolomon(k, m);
      this.#codes.set(name, rs);
    }
    return rs;
  }

  /** The shard `id` from `node`, verified; undefined when absent or wrong, UNREACHABLE when the member did not answer. */
  async #fetch(key: string, node: string, id: string, shardBytes: number, prefetched?: Prefetched): Promise<Uint8Array | undefined | typeof UNREACHABLE> {
    const peer = this.#peers.get(node);
    if (peer === undefined) return UNREACHABLE;
    let bytes: Uint8Array | undefined;
    try {
      bytes = prefetched?.get(node)?.get(id) ?? (await peer.get(id));
    } catch (e) {
      this.#logger.debug({ key, node, shard: id, err: String(e) }, 'cluster store: member did not answer for a shard');
      return UNREACHABLE;
    }
    if (bytes === undefined) return undefined;
    if (bytes.length !== shardBytes || (peer.checksReads !== true && shardIdOf(bytes) !== id)) {
      this.#logger.warn({ key, node, shard: id, bytes: bytes.length }, 'cluster store: a member returned a shard that does not match its id');
      return undefined;
    }
    return bytes;
  }

  /** Gathers at least k verified shards (all of them when `all`), recording the bad ones. */
  async #gather(key: string, ref: BlobRef, all: boolean, prefetched?: Prefetched): Promise<Gathered> {
    const n = ref.k + ref.m;
    const got: Gathered = { shards: new Array<Uint8Array | undefined>(n).fill(undefined), bad: new Set(), unreachable: new Set(), foundAt: new Map(), fetched: 0 };
    const good = () => got.shards.filter((s) => s !== undefined).length;
    const tried = new Set<number>();
    let next = all ? range(0, n) : range(0, ref.k);
    while (next.length > 0) {
      await Promise.all(next.map(async (i) => {
        tried.add(i);
        got.fetched++;
        const bytes = await this.#fetch(key, ref.nodes[i]!, ref.shards[i]!, ref.shardBytes, prefetched);
        if (bytes === UNREACHABLE) got.unreachable.add(i);
        else if (bytes === undefined) got.bad.add(i);
        else got.shards[i] = bytes;
      }));
      const lacking = ref.k - good();
      next = lacking > 0 ? range(0, n).filter((i) => !tried.has(i)).slice(0, lacking) : [];
    }
    // Still short: a shard may sit on another member (re-placed by an earlier heal).
    for (const i of [...got.bad, ...got.unreachable].sort((a, b) => a - b)) {
      if (good() >= ref.k) break;
      if (got.shards[i] !== undefined) continue;
      const others = this.#members.map((mb) => mb.id).filter((id) => id !== ref.nodes[i]);
      const found = await Promise.all(others.map(async (node) => ({ node, bytes: await this.#fetch(key, node, ref.shards[i]!, ref.shardBytes) })));
      const hit = found.find((f): f is { node: string; bytes: Uint8Array } => f.bytes instanceof Uint8Array);
      if (hit !== undefined) {
        got.shards[i] = hit.bytes;
        got.foundAt.set(i, hit.node);
      }
    }
    if (good() < ref.k) throw blobUnrecoverable(key, good(), ref.k, n);
    return got;
  }

  /**
   * Rebuilds the stripe from the gathered shards, checks every rebuilt shard against its id, puts the
   * bad ones back and returns the data shards, the healed indexes and where every shard is now.
   */
  async #rebuildAndHeal(key: string, ref: BlobRef, got: Gathered, healUnreachable: boolean): Promise<{ data: Uint8Array[]; full: Uint8Array[]; healed: number[]; nodes: string[] }> {
    const n = ref.k + ref.m;
    const nodes = [...ref.nodes];
    const needRebuild = got.shards.some((s) => s === undefined);
    const full: Uint8Array[] = needRebuild
      ? this.#code(ref.k, ref.m).reconstruct(got.shards.map((s): MaybeShard => s ?? null))
      : (got.shards as Uint8Array[]);
    for (let i = 0; i < n; i++) {
      if (got.shards[i] === undefined && shardIdOf(full[i]!) !== ref.shards[i]) {
        throw blobRefInvalid(key, `shard ${i} rebuilt from the others does not match its id (the reference's ids do not belong together)`);
      }
    }
    // A read heals what it found missing or corrupt; a member that did not answer may be back in a
    // minute, so only a scrub (healUnreachable) re-places its shards.
    const bad = [...got.bad, ...(healUnreachable ? [...got.unreachable].filter((i) => !got.foundAt.has(i)) : [])].sort((a, b) => a - b);
    if (bad.length === 0) return { data: full.slice(0, ref.k), full, healed: [], nodes };
    const failures = await this.#storeShards(key, bad, ref.shards, full, nodes, got.foundAt);
    const failed = new Set(failures.map((f) => f.index));
    if (failures.length > 0) {
      const err = blobStoreFailed(key, failures);
      this.#logger.warn({ key, failures: err.details?.failures }, 'cluster store: could not heal every bad shard of a blob read');
    }
    const healed = bad.filter((i) => !failed.has(i));
    if (healed.length > 0) this.#logger.info({ key, healed, nodes: healed.map((i) => nodes[i]) }, 'cluster store: healed shards');
    return { data: full.slice(0, ref.k), full, healed, nodes };
  }

  async #deleteShards(key: string, shards: readonly { id: string; node: string }[]): Promise<{ deleted: number; failed: number }> {
    const results = await Promise.all(shards.map(async ({ id, node }) => {
      try {
        await this.#peers.get(node)?.delete(id);
        return true;
      } catch (e) {
        this.#logger.warn({ key, node, shard: id, err: String(e) }, 'cluster store: shard not deleted');
        return false;
      }
    }));
    const deleted = results.filter(Boolean).length;
    return { deleted, failed: results.length - deleted };
  }

  async #tryPut(node: string, id: string, bytes: Uint8Array): Promise<string | undefined> {
    const peer = this.#peers.get(node);
    if (peer === undefined) return 'not a member with a peer';
    try {
      await peer.put(id, bytes);
      return undefined;
    } catch (e) {
      return e instanceof BaksaError ? `${e.code}: ${e.message}` : String(e);
    }
  }

  /**
   * Puts shard i (for each i in `indexes`) on `nodes[i]`, all at once; each that fails is then
   * re-placed, one shard at a time so two never pick the same member. When a shard is already intact
   * on another member (`fallback`), that member becomes its home instead. Updates `nodes` in place and
   * returns the shards that could not be stored anywhere.
   */
  /**
   * A member already holding a shard of the stripe, for shard `i`: the rack, then the member, holding the
   * fewest; never one that would then hold more than m (the stripe still survives any one member's loss).
   */
  #besideAnother(i: number, nodes: readonly string[], refused: ReadonlySet<string>): string | undefined {
    const rackOf = new Map(this.#members.map((m) => [m.id, m.domain ?? m.id]));
    const perRack = new Map<string, number>();
    const perNode = new Map<string, number>();
    nodes.forEach((n, j) => {
      if (j === i) return;
      perNode.set(n, (perNode.get(n) ?? 0) + 1);
      const rack = rackOf.get(n) ?? n;
      perRack.set(rack, (perRack.get(rack) ?? 0) + 1);
    });
    const load = (id: string) => [perRack.get(rackOf.get(id) ?? id) ?? 0, perNode.get(id) ?? 0] as const;
    return this.#members
      .map((m) => m.id)
      .filter((id) => !refused.has(id) && (perNode.get(id) ?? 0) < this.rs.parityShards)
      .sort((a, b) => load(a)[0] - load(b)[0] || load(a)[1] - load(b)[1] || (a < b ? -1 : 1))[0];
  }

  async #storeShards(
    key: string,
    indexes: readonly number[],
    ids: readonly string[],
    shards: readonly Uint8Array[],
    nodes: string[],
    fallback: ReadonlyMap<number, string>,
    /** Outcomes of the first puts when the caller made them (putBlobs), by shard index. */
    tried?: readonly (string | undefined)[],
  ): Promise<ShardFailure[]> {
    const first = tried ? indexes.map((i) => tried[i]) : await Promise.all(indexes.map((i) => this.#tryPut(nodes[i]!, ids[i]!, shards[i]!)));
    const refused = new Set<string>();
    const failures: ShardFailure[] = [];
    for (const [n, i] of indexes.entries()) {
      const reason = first[n];
      if (reason === undefined) continue;
      const tried = [{ node: nodes[i]!, reason }];
      refused.add(nodes[i]!);
      this.#logger.warn({ key, shard: i, node: nodes[i], reason }, 'cluster store: shard put refused, re-placing it');
      const elsewhere = fallback.get(i);
      if (elsewhere !== undefined) {
        nodes[i] = elsewhere;
        continue;
      }
      let stored = false;
      let degraded = false;
      while (tried.length < this.#attemptsMax) {
        const taken = nodes.filter((_, j) => j !== i);
        // Every member holds a shard of the stripe already (k + m = n, one down): a second shard on one
        // of them keeps the write going; the stripe then survives one less loss until it is re-spread.
        let candidate = replaceShard(key, i, this.#members, taken, refused);
        if (candidate === undefined && !degraded) {
          degraded = true;
          candidate = this.#besideAnother(i, nodes, refused);
        }
        if (candidate === undefined) break;
        const why = await this.#tryPut(candidate, ids[i]!, shards[i]!);
        if (why === undefined) {
          if (degraded) this.#logger.warn({ key, shard: i, node: candidate }, 'cluster store: a member is down and every other holds a shard of this stripe: two shards on one member');
          nodes[i] = candidate;
          stored = true;
          break;
        }
        tried.push({ node: candidate, reason: why });
        refused.add(candidate);
      }
      if (!stored) failures.push({ index: i, tried });
    }
    return failures;
  }
}
