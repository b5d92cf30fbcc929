/**
 * Chunker sizes and the masks derived from them.
 *
 * `avgBytes` need not be a power of two: the number of mask bits is round(log2(avgBytes)). FastCDC's
 * normalized chunking (level 2) then uses a mask with two more bits (MaskS, cuts are 4x rarer) before
 * the average point and one with two fewer bits (MaskL, cuts are 4x likelier) after it, which pulls
 * chunk sizes towards the average. The mask bits are the TOP bits of the 32-bit hash: with
 * `h = (h << 1) + gear[b]`, bit k of h depends on the last k + 1 bytes, so the top bits see the widest
 * window (up to 32 bytes) and the lowest mask bit still sees at least 33 - bits bytes.
 */
import { configError } from '../errors.ts';

export interface ChunkerOptions {
  /** No chunk but the last of a stream is shorter; the first minBytes of a chunk are not hashed. */
  minBytes: number;
  /** The target average; sets the mask bits and the point where MaskS gives way to MaskL. */
  avgBytes: number;
  /** A chunk is cut here whatever the content. Bounds the chunker's memory. */
  maxBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const defaultChunkerOptions: Readonly<ChunkerOptions> = Object.freeze({
  minBytes: 256 * KiB,
  avgBytes: 1 * MiB,
  maxBytes: 4 * MiB,
});

/** The sizes for small gateways (less memory, finer dedup of appended logs). */
export const smallChunkerOptions: Readonly<ChunkerOptions> = Object.freeze({
  minBytes: 64 * KiB,
  avgBytes: 256 * KiB,
  maxBytes: 1 * MiB,
});

/** Limits on the options themselves. */
export const chunkerLimits = Object.freeze({
  minBytesMin: 16,
  avgBytesMin: 64,
  avgBytesMax: 256 * MiB,
  maxBytesMax: 1024 * MiB,
});

/** FastCDC's normalization level: MaskS has this many bits more than log2(avg), MaskL this many fewer. */
export const NORMALIZATION_BITS = 2;

/** Validated options plus the derived masks (as signed 32-bit ints, to test against `h | 0`). */
export interface ChunkerParams extends ChunkerOptions {
  readonly avgBits: number;
  readonly maskS: number;
  readonly maskL: number;
}

/** A mask with the top `bits` bits of a 32-bit word set, as a signed 32-bit int. */
export function topBitsMask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? -1 : (0xffffffff << (32 - bits)) | 0;
}

/** round(log2(n)) in integers only (no floating point, so no platform can round it differently). */
export function roundedLog2(n: number): number {
  let bits = 0;
  while (2 ** (bits + 1) <= n) bits++;
  // n rounds up when n >= 2^bits * sqrt(2), that is when n^2 >= 2^(2 * bits + 1).
  return BigInt(n) * BigInt(n) >= 2n ** BigInt(2 * bits + 1) ? bits + 1 : bits;
}

function checkInteger(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw configError(field, `must be a whole number of bytes, got ${JSON.stringify(value)}`);
  }
  if (value < min || value > max) throw configError(field, `must be between ${min} and ${max} bytes, got ${value}`);
  return value;
}

/**
 * Merges `options` over the defaults, checks min ≤ avg ≤ max and the limits, and derives the masks.
 * A bad value throws CONFIG_INVALID naming `${field}.minBytes` (or avgBytes, maxBytes).
 */
export function resolveChunkerOptions(options: Partial<ChunkerOptions> = {}, field = 'chunker'): ChunkerParams {
  const merged = { ...defaultChunkerOptions, ...options };
  const minBytes = checkInteger(merged.minBytes, `${field}.minBytes`, chunkerLimits.minBytesMin, chunkerLimits.maxBytesMax);
  const avgBytes = checkInteger(merged.avgBytes, `${field}.avgBytes`, chunkerLimits.avgBytesMin, chunkerLimits.avgBytesMax);
  const maxBytes = checkInteger(merged.maxBytes, `${field}.maxBytes`, 1, chunkerLimits.maxBytesMax);
  if (avgBytes < minBytes) throw configError(`${field}.avgBytes`, `must be at least minBytes (${minBytes}), got ${avgBytes}`);
  if (maxBytes < avgBytes) throw configError(`${field}.maxBytes`, `must be at least avgBytes (${avgBytes}), got ${maxBytes}`);
  const avgBits = roundedLog2(avgBytes);
  return Object.freeze({
    minBytes,
    avgBytes,
    maxBytes,
    avgBits,
    maskS: topBitsMask(avgBits + NORMALIZATION_BITS),
    maskL: topBitsMask(avgBits - NORMALIZATION_BITS),
  });
}
