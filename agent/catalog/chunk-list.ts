/**
 * A file's chunk list in the catalog: a packed blob of (32-byte chunk id, u32 length) entries, in order.
 * Packing keeps the files table small (a 1 GiB log at 256 KiB chunks is 4096 entries, 147 KiB).
 */
import { assert } from '../../shared/errors.ts';

export interface ChunkRef {
  /** Chunk id, 64 hex chars. */
  id: string;
  /** Plaintext length in bytes. */
  length: number;
}

const ID_BYTES = 32;
const ENTRY_BYTES = ID_BYTES + 4;

export function packChunkList(refs: readonly ChunkRef[]): Buffer {
  const out = Buffer.allocUnsafe(refs.length * ENTRY_BYTES);
  refs.forEach((r, i) => {
    const at = i * ENTRY_BYTES;
    assert(out.write(r.id, at, ID_BYTES, 'hex') === ID_BYTES, `chunk id ${r.id} is 32 bytes of hex`);
    out.writeUInt32BE(r.length, at + ID_BYTES);
  });
  return out;
}

export function unpackChunkList(blob: Uint8Array): ChunkRef[] {
  const buf = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  assert(buf.length % ENTRY_BYTES === 0, 'packed chunk list has whole entries');
  const refs: ChunkRef[] = [];
  for (let at = 0; at < buf.length; at += ENTRY_BYTES) {
    refs.push({ id: buf.toString('hex', at, at + ID_BYTES), length: buf.readUInt32BE(at + ID_BYTES) });
  }
  return refs;
}
