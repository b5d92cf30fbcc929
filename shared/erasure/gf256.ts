/**
 * Arithmetic in GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d) and
 * generator 2, the field used by Backblaze JavaReedSolomon, klauspost/reedsolomon and the Rust
 * reed-solomon-erasure crate. Addition is XOR; multiplication goes through log/exp tables.
 *
 * Tables are built once at module load (no I/O). `mulTable(c)` gives the 256-entry product row
 * for a coefficient (the TS kernel's lookup table) and `nibbleTables(c)` the two 16-entry tables
 * the SIMD kernel feeds to `i8x16.swizzle`.
 */

export const GF_POLYNOMIAL = 0x11d;
export const GF_SIZE = 256;

const EXP = new Uint8Array(512); // doubled so exp[log a + log b] needs no modulo
const LOG = new Uint8Array(256); // LOG[0] is unused

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLYNOMIAL;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

/** The full 256×256 product table: MUL_TABLE[(c << 8) | x] = c·x (64 KiB). Read-only by convention. */
export const MUL_TABLE = new Uint8Array(256 * 256);
const MUL = MUL_TABLE;
for (let a = 1; a < 256; a++) {
  const la = LOG[a]!;
  for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[la + LOG[b]!]!;
}

export function gfAdd(a: number, b: number): number {
  return a ^ b;
}

export function gfMul(a: number, b: number): number {
  return MUL[((a & 0xff) << 8) | (b & 0xff)]!;
}

export function gfDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError('division by zero in GF(2^8)');
  if (a === 0) return 0;
  return EXP[LOG[a]! + 255 - LOG[b]!]!;
}

export function gfInv(a: number): number {
  return gfDiv(1, a);
}

/** a^n for n ≥ 0, with 0^0 = 1 (as the Vandermonde construction needs). */
export function gfPow(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a]! * n) % 255]!;
}

/** The 256 products c·x as a view into the shared table (do not write to it). */
export function mulTable(c: number): Uint8Array {
  return MUL.subarray((c & 0xff) << 8, ((c & 0xff) << 8) + 256);
}

/**
 * The split-nibble tables for coefficient c: bytes 0..15 are L[x] = c·x, bytes 16..31 are
 * H[x] = c·(x << 4). Since multiplication distributes over XOR, c·v = L[v & 15] ^ H[v >> 4].
 */
export function nibbleTables(c: number, out: Uint8Array = new Uint8Array(32), offset = 0): Uint8Array {
  for (let x = 0; x < 16; x++) {
    out[offset + x] = gfMul(c, x);
    out[offset + 16 + x] = gfMul(c, x << 4);
  }
  return out;
}
