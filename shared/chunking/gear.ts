/**
 * The gear table of the FastCDC rolling hash: 256 fixed 32-bit values, one per byte value.
 *
 * The table is part of the on-disk format: chunk boundaries, and so chunk ids and dedup across
 * versions and gateways, depend on it. It is generated from a fixed seed by a fixed integer-only
 * generator (a Weyl sequence finished with MurmurHash3's fmix32), which gives the same 256 values on
 * every platform and every Node version. Never change the seed or the generator; the golden test
 * (test/unit/chunking/golden.test.ts) pins a digest of the table and the boundaries it produces.
 */

export const GEAR_SEED = 0x2bac5a01;

/** The i-th value (0-based) of the table's generator: fmix32(seed + (i + 1) * golden ratio). */
function gearValue(seed: number, index: number): number {
  let z = (seed + Math.imul(index + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function makeGear(seed: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) table[i] = gearValue(seed, i);
  return table;
}

/** The table itself. Treat as read-only. */
export const GEAR: Uint32Array = makeGear(GEAR_SEED);
