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
  private rest: Buffer = Buffer.alloc(0);

  constructor(readonly frameBytesMax: number) {}

  /** Feeds stream bytes; returns the frames completed by them. Throws FrameTooLargeError. */
  push(data: Buffer): Uint8Array[] {
    const buf = this.rest.length ? Buffer.concat([this.rest, data]) : data;
    const out: Uint8Array[] = [];
    let at = 0;
    while (buf.length - at >= FRAME_HEADER_BYTES) {
      const length = buf.readUInt32BE(at);
      if (length > this.frameBytesMax) throw new FrameTooLargeError(length, this.frameBytesMax);
      if (buf.length - at - FRAME_HEADER_BYTES < length) break;
      at += FRAME_HEADER_BYTES;
      out.push(new Uint8Array(buf.subarray(at, at + length)));
      at += length;
    }
    // Copy the tail so the caller's (possibly large) chunk is not kept alive by a small remainder.
    this.rest = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return out;
  }
}
