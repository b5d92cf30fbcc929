/**
 * MessagePack with limits, for bytes nobody vouches for.
 *
 * `decodeUntrusted` runs in two passes. First a structural scan walks the type bytes without allocating
 * anything: it enforces the total size, every length limit and the nesting depth, and tells truncation
 * (MALFORMED) from extra bytes (TRAILING_BYTES). msgpack-javascript has no depth option, and its decoder
 * allocates one stack frame per nesting level, so the scan must come first. Then @msgpack/msgpack decodes,
 * configured with the same limits (defence in depth), with string-only map keys (its own check already
 * refuses `__proto__`). Anything that still throws becomes a ProtocolError: nothing else escapes.
 *
 * `encodeCanonical` is the one encoder: sorted map keys, the shortest integer forms, undefined fields left
 * out. Equal values always give equal bytes, which the ledger's hashes and the wire fixtures rely on.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { ProtocolError } from './errors.ts';

/** Bounds for decoding untrusted MessagePack. The `max*Length` names are msgpack-javascript's own. */
export interface DecodeLimits {
  /** Total input size in bytes. */
  readonly inputBytesMax: number;
  /** UTF-8 bytes in one string. */
  readonly maxStrLength: number;
  /** Bytes in one binary value. */
  readonly maxBinLength: number;
  /** Items in one array. */
  readonly maxArrayLength: number;
  /** Entries in one map. */
  readonly maxMapLength: number;
  /** Bytes in one extension value (we use none; keep it tiny). */
  readonly maxExtLength: number;
  /** Nesting of maps and arrays; a top-level map is depth 1. */
  readonly depthMax: number;
}

export const defaultDecodeLimits: DecodeLimits = Object.freeze({
  inputBytesMax: 16 * 1024 * 1024,
  maxStrLength: 64 * 1024,
  maxBinLength: 8 * 1024 * 1024,
  maxArrayLength: 256 * 1024,
  maxMapLength: 1024,
  maxExtLength: 16,
  depthMax: 16,
});

const decoders = new WeakMap<DecodeLimits, Decoder>();

function stringKeysOnly(key: unknown): string {
  if (typeof key === 'string') return key;
  throw new ProtocolError('MALFORMED', `map keys must be strings, got ${typeof key}`);
}

function decoderFor(limits: DecodeLimits): Decoder {
  let decoder = decoders.get(limits);
  if (!decoder) {
    decoder = new Decoder({
      maxStrLength: limits.maxStrLength,
      maxBinLength: limits.maxBinLength,
      maxArrayLength: limits.maxArrayLength,
      maxMapLength: limits.maxMapLength,
      maxExtLength: limits.maxExtLength,
      mapKeyConverter: stringKeysOnly,
    });
    decoders.set(limits, decoder);
  }
  return decoder;
}

function truncated(pos: number): ProtocolError {
  return new ProtocolError('MALFORMED', `truncated MessagePack at byte ${pos}`);
}

function oversize(what: string, size: number, max: number): ProtocolError {
  return new ProtocolError('OVERSIZE', `${what} of ${size} exceeds the limit of ${max}`);
}

/** Big-endian unsigned integer of `width` bytes at `pos` (the caller checked the bounds). */
function readUint(bytes: Uint8Array, pos: number, width: number): number {
  if (width === 1) return bytes[pos]!;
  if (width === 2) return (bytes[pos]! << 8) | bytes[pos + 1]!;
  return bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
}

// What follows a type byte in 0xc0..0xdf: the kind of value and the width of its length field (or, for
// FIXED, the number of bytes to skip; for EXT with width 0, the fixext payload size in `fixExt`).
const NONE = 0, FIXED = 1, STR = 2, BIN = 3, EXT = 4, ARRAY = 5, MAP = 6, INVALID = 7;
const KIND = new Uint8Array(32);
const WIDTH = new Uint8Array(32);
function entry(h: number, kind: number, width: number): void {
  KIND[h - 0xc0] = kind;
  WIDTH[h - 0xc0] = width;
}
entry(0xc0, NONE, 0); entry(0xc1, INVALID, 0); entry(0xc2, NONE, 0); entry(0xc3, NONE, 0);
entry(0xc4, BIN, 1); entry(0xc5, BIN, 2); entry(0xc6, BIN, 4);
entry(0xc7, EXT, 1); entry(0xc8, EXT, 2); entry(0xc9, EXT, 4);
entry(0xca, FIXED, 4); entry(0xcb, FIXED, 8);
entry(0xcc, FIXED, 1); entry(0xcd, FIXED, 2); entry(0xce, FIXED, 4); entry(0xcf, FIXED, 8);
entry(0xd0, FIXED, 1); entry(0xd1, FIXED, 2); entry(0xd2, FIXED, 4); entry(0xd3, FIXED, 8);
entry(0xd4, EXT, 0); entry(0xd5, EXT, 0); entry(0xd6, EXT, 0); entry(0xd7, EXT, 0); entry(0xd8, EXT, 0);
entry(0xd9, STR, 1); entry(0xda, STR, 2); entry(0xdb, STR, 4);
entry(0xdc, ARRAY, 2); entry(0xdd, ARRAY, 4); entry(0xde, MAP, 2); entry(0xdf, MAP, 4);
const FIXEXT_BYTES = [1, 2, 4, 8, 16];

/**
 * Walks the MessagePack structure of `bytes` and throws a ProtocolError unless it is exactly one value within
 * `limits`. Allocates nothing but a stack as deep as `limits.depthMax`.
 */
export function scanMsgpack(bytes: Uint8Array, limits: DecodeLimits = defaultDecodeLimits): void {
  const len = bytes.length;
  if (len > limits.inputBytesMax) throw oversize('input bytes', len, limits.inputBytesMax);
  const { maxStrLength, maxBinLength, maxArrayLength, maxMapLength, maxExtLength, depthMax } = limits;
  const stack: number[] = [];
  let need = 1; // values still to read at the current nesting level
  let pos = 0;
  for (;;) {
    if (need === 0) {
      if (stack.length === 0) break;
      need = stack.pop()!;
      continue;
    }
    need--;
    if (pos >= len) throw truncated(pos);
    const h = bytes[pos++]!;
    let kind: number;
    let n: number;
    if (h <= 0x7f || h >= 0xe0) continue; // fixint
    if (h <= 0x8f) (kind = MAP), (n = h & 0x0f);
    else if (h <= 0x9f) (kind = ARRAY), (n = h & 0x0f);
    else if (h <= 0xbf) (kind = STR), (n = h & 0x1f);
    else {
      kind = KIND[h - 0xc0]!;
      const width = WIDTH[h - 0xc0]!;
      if (kind === NONE) continue;
      if (kind === INVALID) throw new ProtocolError('MALFORMED', `unknown MessagePack type byte 0x${h.toString(16)} at byte ${pos - 1}`);
      if (kind === FIXED) {
        if (width > len - pos) throw truncated(pos);
        pos += width;
        continue;
      }
      if (width === 0) n = FIXEXT_BYTES[h - 0xd4]!; // fixext
      else {
        if (width > len - pos) throw truncated(pos);
        n = readUint(bytes, pos, width);
        pos += width;
      }
    }
    switch (kind) {
      case STR:
        if (n > maxStrLength) throw oversize('string bytes', n, maxStrLength);
        break;
      case BIN:
        if (n > maxBinLength) throw oversize('binary bytes', n, maxBinLength);
        break;
      case EXT:
        if (n > maxExtLength) throw oversize('extension bytes', n, maxExtLength);
        n += 1; // the extension type byte
        break;
      default: {
        const isMap = kind === MAP;
        if (n > (isMap ? maxMapLength : maxArrayLength)) throw oversize(isMap ? 'map entries' : 'array items', n, isMap ? maxMapLength : maxArrayLength);
        if (stack.length >= depthMax) throw new ProtocolError('TOO_DEEP', `nesting deeper than ${depthMax} levels`);
        if (n > 0) {
          stack.push(need);
          need = isMap ? 2 * n : n;
        }
        continue;
      }
    }
    if (n > len - pos) throw truncated(pos);
    pos += n;
  }
  if (pos !== len) throw new ProtocolError('TRAILING_BYTES', `${len - pos} bytes after the MessagePack value`);
}

/**
 * Decodes one MessagePack value from untrusted bytes. Throws only ProtocolError. Binary values come back as
 * views into `bytes`: copy them if the caller reuses its input buffer.
 */
export function decodeUntrusted(bytes: Uint8Array, limits: DecodeLimits = defaultDecodeLimits): unknown {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('MALFORMED', 'input is not a byte array');
  scanMsgpack(bytes, limits);
  try {
    return decoderFor(limits).decode(bytes);
  } catch (error) {
    if (error instanceof ProtocolError) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new ProtocolError('MALFORMED', `invalid MessagePack: ${why}`);
  }
}

const canonicalEncoder = new Encoder({ sortKeys: true, ignoreUndefined: true });

/**
 * The canonical encoding: map keys sorted, shortest integer forms, float64 for non-integers, undefined
 * fields omitted. Returns a fresh copy the caller may keep.
 */
export function encodeCanonical(value: unknown): Uint8Array {
  return canonicalEncoder.encode(value);
}
