/**
 * Snapshot descriptors: what lets the other gateways of a site migrate a dead gateway's snapshots (DESIGN
 * §6: "a dead gateway's blocks are migrated by the edge leader from the shards its peers hold").
 *
 * The peers hold the dead gateway's shards and the site ledger says where each is, but its catalog (which
 * chunks make a snapshot, their lengths, the manifest's root chunks) died with it. So every snapshot an
 * edge-cluster gateway takes ends with a descriptor committed like data: a small object, erasure-coded
 * over the live members, one hybrid-commit transaction whose ledger record names the snapshot and whose
 * `manifestRoot` is the descriptor's SHA-256 (and its object id). A backup is acknowledged only after
 * its descriptor commits.
 *
 *   u32 BE length ‖ MessagePack { v: 1, snapshotId, timeMs, part, parts, rootChunks: [id], chunks: [[id, length, sealedLength]] }
 *
 * (The length prefix lets a reader that has only the zero-padded data shards find the end.)
 *
 * The descriptor holds chunk ids (keyed hashes), lengths and a time: nothing of the data, and nothing the
 * ledger does not already show to the site's gateways, so it is stored in the clear (the peers that read it
 * hold none of the owner's keys). A snapshot of very many chunks is described in several parts, each its
 * own transaction, so that no shard outgrows a message.
 */
import { createHash } from 'node:crypto';
import { ReedSolomon, splitIntoShards } from '../../shared/erasure/index.ts';
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../../shared/protocol/codec.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { hash32, snapshotIdSchema } from '../../shared/protocol/messages.ts';
import { SchemaFailure, array, literal, object, parseWith, uint, type Schema } from '../../shared/protocol/schema.ts';
import type { ShardPut } from '../../shared/protocol/messages.ts';
import type { EdgeNode } from './node.ts';
import { edgeGeometryNow } from './backend.ts';

/** Chunks per descriptor part: a part stays under 1 MiB, so each of its shards fits one message. */
export const DESCRIPTOR_CHUNKS_PER_PART = 16_384;
const ROOT_CHUNKS_MAX = 64;

export interface DescribedChunk {
  id: string;
  /** Plaintext bytes. */
  length: number;
  /** Bytes of the sealed object the shards hold (without the shards' zero padding). */
  sealedLength: number;
}

export interface SnapshotDescriptor {
  snapshotId: string;
  timeMs: number;
  rootChunks: string[];
  /** This part's chunks (every chunk of the snapshot, root chunks included, over all parts). */
  chunks: DescribedChunk[];
  part: number;
  parts: number;
}

interface WireDescriptor {
  v: 1;
  snapshotId: string;
  timeMs: number;
  part: number;
  parts: number;
  rootChunks: Uint8Array[];
  chunks: Array<[Uint8Array, number, number]>;
}

const chunkTuple: Schema<[Uint8Array, number, number]> = {
  parse(value) {
    if (!Array.isArray(value) || value.length !== 3) throw new SchemaFailure('an [id, length, sealedLength] triple');
    return [hash32.parse(value[0]), uint().parse(value[1]), uint({ min: 1 }).parse(value[2])];
  },
};

const wireSchema: Schema<WireDescriptor> = object(
  {
    v: literal(1),
    snapshotId: snapshotIdSchema,
    timeMs: uint(),
    part: uint(),
    parts: uint({ min: 1, max: 1 << 20 }),
    rootChunks: array(hash32, { min: 1, max: ROOT_CHUNKS_MAX }),
    chunks: array(chunkTuple, { max: DESCRIPTOR_CHUNKS_PER_PART }),
  },
  { check: (d) => (d.part < d.parts ? undefined : ['part', `a part below parts (${d.parts})`]) },
);

const limits: DecodeLimits = Object.freeze({
  inputBytesMax: 2 * 1024 * 1024,
  maxStrLength: 1024,
  maxBinLength: 32,
  maxArrayLength: DESCRIPTOR_CHUNKS_PER_PART,
  maxMapLength: 16,
  maxExtLength: 0,
  depthMax: 4,
});

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const binOf = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'));
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

export function encodeDescriptor(d: SnapshotDescriptor): Uint8Array {
  const body = encodeBody(d);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

function encodeBody(d: SnapshotDescriptor): Uint8Array {
  const wire: WireDescriptor = {
    v: 1,
    snapshotId: d.snapshotId,
    timeMs: d.timeMs,
    part: d.part,
    parts: d.parts,
    rootChunks: d.rootChunks.map(binOf),
    chunks: d.chunks.map((c) => [binOf(c.id), c.length, c.sealedLength]),
  };
  return encodeCanonical(wire);
}

/** Decodes untrusted descriptor bytes (zero padding after them allowed); throws ProtocolError on anything else. */
export function decodeDescriptor(bytes: Uint8Array): SnapshotDescriptor {
  const length = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) : -1;
  if (length < 0 || length > bytes.length - 4) throw new ProtocolError('MALFORMED', `a descriptor of ${length} bytes does not fit in ${bytes.length}`);
  const w = parseWith(wireSchema, decodeUntrusted(bytes.subarray(4, 4 + length), limits), 'descriptor');
  return {
    snapshotId: w.snapshotId,
    timeMs: w.timeMs,
    part: w.part,
    parts: w.parts,
    rootChunks: w.rootChunks.map(hexOf),
    chunks: w.chunks.map(([id, length, sealedLength]) => ({ id: hexOf(id), length, sealedLength })),
  };
}

/** The descriptor parts of a snapshot. */
export function describe(snapshotId: string, timeMs: number, rootChunks: readonly string[], chunks: readonly DescribedChunk[]): SnapshotDescriptor[] {
  const parts = Math.max(1, Math.ceil(chunks.length / DESCRIPTOR_CHUNKS_PER_PART));
  return Array.from({ length: parts }, (_, part) => ({
    snapshotId,
    timeMs,
    rootChunks: [...rootChunks],
    chunks: chunks.slice(part * DESCRIPTOR_CHUNKS_PER_PART, (part + 1) * DESCRIPTOR_CHUNKS_PER_PART),
    part,
    parts,
  }));
}

/**
 * Commits `bytes` as one object of its own: erasure-coded in the geometry of the members up, one
 * transaction whose record names `snapshotId` and whose `manifestRoot` is the object's SHA-256 (its id).
 */
export async function commitObject(
  node: Pick<EdgeNode, 'commit' | 'liveMembers'>,
  account: string,
  snapshotId: string,
  geometry: { k: number; m: number },
  bytes: Uint8Array,
): Promise<void> {
  const id = sha256(bytes);
  const { k, m } = edgeGeometryNow(node, geometry.k, geometry.m);
  const shards = splitIntoShards(bytes, k, m);
  if (m > 0) (await ReedSolomon.create(k, m)).encode(shards);
  const puts: ShardPut[] = shards.map((data, index) => ({ chunk: id, index, hash: sha256(data), data }));
  await node.commit({ account, snapshotId, manifestRoot: id, dataShards: k, parityShards: m, shards: puts });
}

/** Commits each descriptor part as its own transaction. */
export async function commitDescriptors(
  node: Pick<EdgeNode, 'commit' | 'liveMembers'>,
  account: string,
  geometry: { k: number; m: number },
  parts: readonly SnapshotDescriptor[],
): Promise<void> {
  for (const d of parts) await commitObject(node, account, d.snapshotId, geometry, encodeDescriptor(d));
}

/**
 * The cloud's receipt of a snapshot goes into the site ledger too (DESIGN §6), as an object whose record
 * names `receipt:<snapshot id>`: the site then knows which snapshots the cloud holds, even without the
 * gateway that migrated them (a dead gateway's leader skips them).
 */
export const RECEIPT_RECORD_PREFIX = 'receipt:';
/** Largest receipt object (its JSON, with the signers' certificates). */
export const RECEIPT_BYTES_MAX = 64 * 1024;
