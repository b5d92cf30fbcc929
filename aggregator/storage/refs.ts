/**
 * What the cluster store hands back and takes again: a `BlobRef` (one Reed–Solomon stripe: its shard
 * ids and where each was put) and an `ObjectRef` (a whole object: its length, SHA-256 and the BlobRef of
 * its segment manifest), and the manifest's wire format.
 *
 * An ObjectRef stays small (under 1 KB as JSON for k + m ≤ 8) however large the object is, so it fits
 * a ledger record; the per-segment BlobRefs live in the manifest blob, stored erasure-coded like the
 * data. Every shard id is a SHA-256, so the ObjectRef authenticates the manifest and the manifest every
 * segment: a reader verifies each shard it gets against the id it expected.
 *
 * Manifest (MessagePack, version 1), compact because a 4 GiB object has 1024 segments:
 *
 *   [1, length, segmentBytes, k, m, nodes: string[], segments: [length, shardBytes, ids, where][]]
 *
 * `ids` is the k + m shard ids as one byte string (32 bytes each), `where` the index in `nodes` of the
 * member each shard was put on. An empty segment list is an empty object.
 *
 * Refs come back from callers (and the manifest from peers), so both are checked before use.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { shardBytesFor, totalShardsMax } from '../../shared/erasure/index.ts';
import { isShardId } from '../../shared/storage/index.ts';
import { blobRefInvalid, manifestInvalid } from './errors.ts';

export interface BlobRef {
  /** Bytes of the blob. */
  length: number;
  /** Bytes of each shard (0 for an empty blob, which has no shards). */
  shardBytes: number;
  /** Data shards. */
  k: number;
  /** Parity shards. */
  m: number;
  /** Shard ids (SHA-256, lowercase hex) by index: k data, then m parity. */
  shards: string[];
  /** The member each shard was put on, by index. */
  nodes: string[];
}

export interface ObjectRef {
  length: number;
  /** SHA-256 of the whole object, lowercase hex. */
  sha256: string;
  /** The blob holding the segment manifest. */
  manifest: BlobRef;
}

export interface Manifest {
  length: number;
  segmentBytes: number;
  k: number;
  m: number;
  segments: BlobRef[];
}

const MANIFEST_VERSION = 1;
const SHARD_ID_BYTES = 32;
const NODE_NAME_CHARS_MAX = 255;

function isCount(v: unknown, min = 0): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/** Throws BLOB_REF_INVALID unless `ref` is a well-formed BlobRef. */
export function checkBlobRef(key: string, ref: unknown): BlobRef {
  const r = ref as Partial<BlobRef> | null;
  if (typeof r !== 'object' || r === null) throw blobRefInvalid(key, 'not an object');
  if (!isCount(r.length)) throw blobRefInvalid(key, 'length must be a whole number of bytes');
  if (!isCount(r.k, 1) || !isCount(r.m) || r.k + r.m > totalShardsMax) throw blobRefInvalid(key, `geometry ${String(r.k)}+${String(r.m)} is not valid`);
  const n = r.length === 0 ? 0 : r.k + r.m;
  const shardBytes = r.length === 0 ? 0 : shardBytesFor(r.length, r.k);
  if (r.shardBytes !== shardBytes) throw blobRefInvalid(key, `shardBytes must be ${shardBytes} for ${r.length} bytes over ${r.k} data shards`);
  if (!Array.isArray(r.shards) || r.shards.length !== n || !r.shards.every(isShardId)) {
    throw blobRefInvalid(key, `shards must be ${n} shard ids (64 lowercase hex)`);
  }
  if (!Array.isArray(r.nodes) || r.nodes.length !== n || !r.nodes.every((x) => typeof x === 'string' && x.length > 0)) {
    throw blobRefInvalid(key, `nodes must name ${n} members`);
  }
  // Distinct members, except that a write with a member down may put up to m shards on one (cluster-store.ts).
  const perNode = new Map<string, number>();
  for (const node of r.nodes) perNode.set(node, (perNode.get(node) ?? 0) + 1);
  if ([...perNode.values()].some((c) => c > Math.max(1, r.m!))) throw blobRefInvalid(key, `no member may hold more than ${Math.max(1, r.m)} shards of one stripe`);
  return r as BlobRef;
}

/** Throws BLOB_REF_INVALID unless `ref` is a well-formed ObjectRef. */
export function checkObjectRef(key: string, ref: unknown): ObjectRef {
  const r = ref as Partial<ObjectRef> | null;
  if (typeof r !== 'object' || r === null) throw blobRefInvalid(key, 'the object reference is not an object');
  if (!isCount(r.length)) throw blobRefInvalid(key, 'the object length must be a whole number of bytes');
  if (!isShardId(r.sha256)) throw blobRefInvalid(key, 'the object sha256 must be 64 lowercase hex');
  checkBlobRef(`${key}/manifest`, r.manifest);
  return r as ObjectRef;
}

const encoder = new Encoder();

export function encodeManifest(manifest: Manifest): Uint8Array {
  const nodes: string[] = [];
  const nodeIndex = new Map<string, number>();
  const segments = manifest.segments.map((s) => {
    if (s.k !== manifest.k || s.m !== manifest.m) throw new Error('invariant violated: segments of one object differ in geometry');
    const ids = new Uint8Array(s.shards.length * SHARD_ID_BYTES);
    s.shards.forEach((id, i) => ids.set(Buffer.from(id, 'hex'), i * SHARD_ID_BYTES));
    const where = s.nodes.map((node) => {
      let at = nodeIndex.get(node);
      if (at === undefined) {
        at = nodes.length;
        nodes.push(node);
        nodeIndex.set(node, at);
      }
      return at;
    });
    return [s.length, s.shardBytes, ids, where];
  });
  return encoder.encode([MANIFEST_VERSION, manifest.length, manifest.segmentBytes, manifest.k, manifest.m, nodes, segments]);
}

/** Decodes and checks a manifest against the object length its ObjectRef records. */
export function decodeManifest(key: string, bytes: Uint8Array, objectLength: number): Manifest {
  // Every array entry takes at least one byte, so the input's size bounds every array in it.
  const decoder = new Decoder({
    maxStrLength: NODE_NAME_CHARS_MAX,
    maxBinLength: totalShardsMax * SHARD_ID_BYTES,
    maxArrayLength: Math.max(16, bytes.length),
    maxMapLength: 0,
    maxExtLength: 0,
  });
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (e) {
    throw manifestInvalid(key, `not MessagePack within limits (${(e as Error).message})`);
  }
  if (!Array.isArray(raw) || raw.length !== 7) throw manifestInvalid(key, 'not a version 1 manifest');
  const [version, length, segmentBytes, k, m, nodes, segments] = raw as unknown[];
  if (version !== MANIFEST_VERSION) throw manifestInvalid(key, `unknown version ${String(version)}`);
  if (length !== objectLength) throw manifestInvalid(key, `it describes ${String(length)} bytes, the object reference ${objectLength}`);
  if (!isCount(segmentBytes, 1)) throw manifestInvalid(key, 'segmentBytes must be a positive whole number');
  if (!isCount(k, 1) || !isCount(m) || k + m > totalShardsMax) throw manifestInvalid(key, 'bad geometry');
  if (!Array.isArray(nodes) || !nodes.every((x) => typeof x === 'string')) throw manifestInvalid(key, 'nodes must be strings');
  if (!Array.isArray(segments)) throw manifestInvalid(key, 'segments must be a list');
  const count = Math.ceil(objectLength / segmentBytes);
  if (segments.length !== count) throw manifestInvalid(key, `${segments.length} segments for ${objectLength} bytes in segments of ${segmentBytes}`);
  const n = k + m;
  const out: BlobRef[] = segments.map((s: unknown, i) => {
    if (!Array.isArray(s) || s.length !== 4) throw manifestInvalid(key, `segment ${i} is malformed`);
    const [segLength, shardBytes, ids, where] = s as unknown[];
    const expected = i < count - 1 ? segmentBytes : objectLength - segmentBytes * (count - 1);
    if (segLength !== expected) throw manifestInvalid(key, `segment ${i} has ${String(segLength)} bytes, expected ${expected}`);
    if (!(ids instanceof Uint8Array) || ids.length !== n * SHARD_ID_BYTES) throw manifestInvalid(key, `segment ${i}: shard ids malformed`);
    if (!Array.isArray(where) || where.length !== n) throw manifestInvalid(key, `segment ${i}: shard members malformed`);
    const ref = {
      length: expected,
      shardBytes: shardBytes as number,
      k,
      m,
      shards: Array.from({ length: n }, (_, j) => Buffer.from(ids.subarray(j * SHARD_ID_BYTES, (j + 1) * SHARD_ID_BYTES)).toString('hex')),
      nodes: where.map((w: unknown) => {
        const node = isCount(w) ? (nodes[w] as string | undefined) : undefined;
        if (node === undefined) throw manifestInvalid(key, `segment ${i}: member index ${String(w)} out of range`);
        return node;
      }),
    };
    try {
      return checkBlobRef(`${key}/${i}`, ref);
    } catch (e) {
      throw manifestInvalid(key, `segment ${i}: ${(e as Error).message}`);
    }
  });
  return { length: objectLength, segmentBytes, k, m, segments: out };
}
