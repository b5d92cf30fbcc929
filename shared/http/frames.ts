/**
 * Batches of byte strings in one HTTP body: the agent's chunk uploads (several sealed chunks a request)
 * and the nodes' shard exchange (several shards for one node a request). One request for many small
 * objects instead of one each is most of what made migration faster (README, Performance): each
 * request costs a TLS record round, routing, RBAC, and on the node a database lookup and an fsync.
 *
 *   "2BF1" | u32 count | count × ( head: headBytes | u32 size | size bytes )
 *
 * Integers are big-endian. `head` is fixed-size metadata whose meaning belongs to the route (an id, a
 * hash, a length). The decoder never trusts the sender: every count and size is checked against the
 * caller's limits before anything is sliced, trailing bytes are refused, and what it returns are views
 * into the input (no copies).
 */
import { ProtocolError } from '../protocol/errors.ts';

const MAGIC = 0x32424631; // "2BF1"
const PREFIX_BYTES = 8;

export interface Frame {
  head: Uint8Array;
  bytes: Uint8Array;
}

export interface FrameLimits {
  /** Bytes of every head (fixed per route). */
  headBytes: number;
  /** Frames per batch. */
  countMax: number;
  /** Bytes of one frame's body. */
  frameBytesMax: number;
  /** Bytes of the whole encoded batch. */
  batchBytesMax: number;
}

/** Encoded size of a batch of frames with `headBytes` heads and these body sizes. */
export function framesBytes(headBytes: number, sizes: readonly number[]): number {
  return PREFIX_BYTES + sizes.reduce((sum, s) => sum + headBytes + 4 + s, 0);
}

/**
 * The frames as the pieces of one body, in order: the prefix and each frame's head and size in one
 * small buffer (views into it), each frame's bytes as they are (not copied). Writing the pieces in
 * order sends exactly what `encodeFrames` returns; a sender of megabytes of shards saves the copy.
 */
export function encodeFrameParts(frames: readonly Frame[], headBytes: number): Uint8Array[] {
  const meta = Buffer.allocUnsafe(PREFIX_BYTES + frames.length * (headBytes + 4));
  meta.writeUInt32BE(MAGIC, 0);
  meta.writeUInt32BE(frames.length, 4);
  const parts: Uint8Array[] = [];
  let from = 0;
  let at = PREFIX_BYTES;
  for (const f of frames) {
    if (f.head.length !== headBytes) throw new Error(`invariant violated: a frame head of ${f.head.length} bytes, not ${headBytes}`);
    meta.set(f.head, at);
    meta.writeUInt32BE(f.bytes.length, at + headBytes);
    at += headBytes + 4;
    if (f.bytes.length === 0) continue;
    parts.push(meta.subarray(from, at), f.bytes);
    from = at;
  }
  if (from < at || parts.length === 0) parts.push(meta.subarray(from, at));
  return parts;
}

/** One buffer holding the frames (each head must be `headBytes` long). */
export function encodeFrames(frames: readonly Frame[], headBytes: number): Buffer {
  const parts = encodeFrameParts(frames, headBytes);
  return Buffer.concat(parts, framesBytes(headBytes, frames.map((f) => f.bytes.length)));
}

/** The frames of `input`; ProtocolError (OVERSIZE, MALFORMED, TRAILING_BYTES) when it breaks a limit or the format. */
export function decodeFrames(input: Uint8Array, limits: FrameLimits): Frame[] {
  if (input.length > limits.batchBytesMax) throw new ProtocolError('OVERSIZE', `a batch of ${input.length} bytes, more than ${limits.batchBytesMax}`);
  if (input.length < PREFIX_BYTES) throw new ProtocolError('MALFORMED', `a batch of ${input.length} bytes is shorter than its prefix`);
  const view = new DataView(input.buffer, input.byteOffset, input.length);
  if (view.getUint32(0) !== MAGIC) throw new ProtocolError('MALFORMED', 'not a frame batch (bad magic)');
  const count = view.getUint32(4);
  if (count > limits.countMax) throw new ProtocolError('OVERSIZE', `a batch of ${count} frames, more than ${limits.countMax}`);
  const frames: Frame[] = [];
  let at = PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    if (input.length - at < limits.headBytes + 4) throw new ProtocolError('MALFORMED', `frame ${i} is truncated`);
    const head = input.subarray(at, at + limits.headBytes);
    at += limits.headBytes;
    const size = view.getUint32(at);
    at += 4;
    if (size > limits.frameBytesMax) throw new ProtocolError('OVERSIZE', `frame ${i} has ${size} bytes, more than ${limits.frameBytesMax}`);
    if (input.length - at < size) throw new ProtocolError('MALFORMED', `frame ${i} is truncated`);
    frames.push({ head, bytes: input.subarray(at, at + size) });
    at += size;
  }
  if (at !== input.length) throw new ProtocolError('TRAILING_BYTES', `${input.length - at} bytes after the last frame`);
  return frames;
}

/** A chunk download frame's head (POST /v1/accounts/:account/chunks/fetch): the chunk id, raw. */
export const CHUNK_ID_FRAME_HEAD_BYTES = 32;

/**
 * A chunk upload frame's head (POST /v1/accounts/:account/chunks): the chunk id and the SHA-256 of its
 * sealed object (raw, 32 bytes each) and its plaintext length (u32; a chunk is at most a few MiB).
 */
export const CHUNK_FRAME_HEAD_BYTES = 68;

export interface ChunkFrameHead {
  /** Hex. */
  id: string;
  /** Hex. */
  sha256: string;
  length: number;
}

export function encodeChunkFrameHead(h: ChunkFrameHead): Uint8Array {
  const out = Buffer.alloc(CHUNK_FRAME_HEAD_BYTES);
  if (Buffer.from(h.id, 'hex').copy(out, 0) !== 32 || Buffer.from(h.sha256, 'hex').copy(out, 32) !== 32) throw new Error(`invariant violated: chunk frame head of ${h.id}`);
  out.writeUInt32BE(h.length, 64);
  return out;
}

export function decodeChunkFrameHead(head: Uint8Array): ChunkFrameHead {
  const b = Buffer.from(head.buffer, head.byteOffset, head.length);
  return { id: b.toString('hex', 0, 32), sha256: b.toString('hex', 32, 64), length: b.readUInt32BE(64) };
}
