/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes.
 * The decoder refuses a declared length above `frameBytesMax` before buffering any of it, so a
 * peer cannot make us hold more than one bounded frame.
 */

export const FRAME_HEADER_BYTES = 4;

export function encodeFrameHeader(length: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

export class FrameTooLargeError extends Error {
  constructor(
    readonly declaredBytes: number,
    readonly frameBytesMax: number,
  ) {
    super(`frame of ${declaredBytes} bytes exceeds the limit of ${frameBytesMax}`);
    this.name = 'FrameTooLargeError';
  }
}

export class FrameDecoder {
  /**
   * The bytes of an unfinished frame, as the stream brought them; joined once, when the frame is
   * complete (joining on every chunk copied a frame of n chunks n times: a 4 MB new-view in 64 KB
   * reads cost 150 MB of copying).
   */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  /** The unfinished frame's declared length, once its header is in. */
  private declared = -1;

  constructor(readonly frameBytesMax: number) {}

  /** Feeds stream bytes; returns the frames completed by them. Throws FrameTooLargeError. */
  push(data: Buffer): Uint8Array[] {
    if (this.partsBytes === 0) return this.frames(data);
    this.parts.push(data);
    this.partsBytes += data.length;
    if (this.declared < 0) {
      if (this.partsBytes < FRAME_HEADER_BYTES) return [];
      const joined = Buffer.concat(this.parts, this.partsBytes); // the header was split: at most once per frame
      this.parts = [joined];
      this.declared = this.checked(joined.readUInt32BE(0));
    }
    if (this.partsBytes < FRAME_HEADER_BYTES + this.declared) return [];
    const buf = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.partsBytes);
    this.parts = [];
    this.partsBytes = 0;
    this.declared = -1;
    return this.frames(buf);
  }

  /** The frames at the start of `buf`; an unfinished tail is kept. */
  private frames(buf: Buffer): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    let length = -1;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      length = this.checked(buf.readUInt32BE(at));
      if (buf.length - at - FRAME_HEADER_BYTES < length) break;
      at += FRAME_HEADER_BYTES;
      out.push(new Uint8Array(buf.subarray(at, at + length)));
      at += length;
      length = -1;
    }
    if (at < buf.length) {
      // Copied, so the caller's (possibly large) chunk is not kept alive by a small remainder.
      this.parts = [Buffer.from(buf.subarray(at))];
      this.partsBytes = buf.length - at;
      this.declared = length;
    }
    return out;
  }

  private checked(length: number): number {
    if (length > this.frameBytesMax) throw new FrameTooLargeError(length, this.frameBytesMax);
    return length;
  }
}
