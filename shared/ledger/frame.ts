/**
 * The block log file: append-only, one frame per block, survives a torn last write.
 *
 *   file  = MAGIC frame*
 *   MAGIC = "2BKSLDG" 0x01                      (8 bytes; the last byte is the format version)
 *   frame = length:u32be crc:u32be payload      payload = encodeBlock(block), 1 ≤ length ≤ frameBytesMax
 *                                               crc = CRC-32 (IEEE, as zlib) of the payload
 *
 * An append writes a whole frame with one positional write and then fdatasync. A crash can leave only a
 * prefix of the last frame (or zero-filled blocks past it), so on reading, a bad frame that runs to the end
 * of the file (incomplete header or payload, or a CRC mismatch in the last frame, or nothing but zero bytes
 * after it) is a torn tail: reported, and cut off by a writer. A bad frame followed by more data is
 * corruption, never silently dropped.
 */
import type { FileHandle } from 'node:fs/promises';
import * as zlib from 'node:zlib';

export const MAGIC: Uint8Array = new Uint8Array([0x32, 0x42, 0x4b, 0x53, 0x4c, 0x44, 0x47, 0x01]); // "2BKSLDG" v1
export const FRAME_HEADER_BYTES = 8;
export const defaultFrameBytesMax = 64 * 1024 * 1024;

let table: Uint32Array | undefined;
function crc32Fallback(data: Uint8Array): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC-32 (IEEE); zlib's native one when this Node has it. */
export const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (data) => zlib.crc32(data) >>> 0 : crc32Fallback;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, crc32(payload));
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export type FrameEvent =
  | { kind: 'frame'; offset: number; payload: Uint8Array }
  /** The file ends in a partial frame starting at `offset`; `bytes` of it follow. */
  | { kind: 'torn'; offset: number; bytes: number; why: string }
  /** A bad frame at `offset` with more data after it. */
  | { kind: 'corrupt'; offset: number; why: string };

/** `length` bytes of the file from `position`; a file that ends first is an error. */
export async function readExactly(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const out = Buffer.alloc(length); // never from the shared pool: callers view `out.buffer` from offset 0
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw new Error(`unexpected end of file at ${position + done}`);
    done += bytesRead;
  }
  return out;
}

async function allZero(fh: FileHandle, from: number, to: number): Promise<boolean> {
  const step = 1 << 20;
  for (let pos = from; pos < to; pos += step) {
    const chunk = await readExactly(fh, pos, Math.min(step, to - pos));
    for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return false;
  }
  return true;
}

/** Checks the magic: 'ok', 'torn' (the file is a strict prefix of the magic: a torn creation) or 'bad'. */
export async function checkMagic(fh: FileHandle, size: number): Promise<'ok' | 'torn' | 'bad'> {
  const n = Math.min(size, MAGIC.length);
  const head = await readExactly(fh, 0, n);
  for (let i = 0; i < n; i++) if (head[i] !== MAGIC[i]) return 'bad';
  return n === MAGIC.length ? 'ok' : 'torn';
}

/** Reads the frames of a block log from `start` (after the magic) to `size`; the last event may be torn/corrupt. */
export async function* readFrames(
  fh: FileHandle,
  start: number,
  size: number,
  frameBytesMax: number = defaultFrameBytesMax,
): AsyncGenerator<FrameEvent> {
  let offset = start;
  while (offset < size) {
    const rest = size - offset;
    if (rest < FRAME_HEADER_BYTES) {
      yield { kind: 'torn', offset, bytes: rest, why: 'partial frame header' };
      return;
    }
    const header = await readExactly(fh, offset, FRAME_HEADER_BYTES);
    const view = new DataView(header.buffer);
    const length = view.getUint32(0);
    const crc = view.getUint32(4);
    const end = offset + FRAME_HEADER_BYTES + length;
    if (length === 0 || length > frameBytesMax) {
      if (await allZero(fh, offset, size)) yield { kind: 'torn', offset, bytes: rest, why: 'zero-filled tail' };
      else yield { kind: 'corrupt', offset, why: `frame length ${length} is outside 1..${frameBytesMax}` };
      return;
    }
    if (end > size) {
      yield { kind: 'torn', offset, bytes: rest, why: `partial frame: ${rest - FRAME_HEADER_BYTES} of ${length} payload bytes` };
      return;
    }
    const payload = await readExactly(fh, offset + FRAME_HEADER_BYTES, length);
    if (crc32(payload) !== crc) {
      if (end === size || (await allZero(fh, end, size))) yield { kind: 'torn', offset, bytes: rest, why: 'checksum mismatch in the last frame' };
      else yield { kind: 'corrupt', offset, why: 'checksum mismatch' };
      return;
    }
    yield { kind: 'frame', offset, payload };
    offset = end;
  }
}
