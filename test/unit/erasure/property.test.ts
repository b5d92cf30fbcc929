// Properties of the code (fast-check): any k of the n shards give back the data, for every
// pattern of up to m lost shards; and the SIMD and TS kernels produce identical bytes for any
// matrix and any length (including lengths that are not a multiple of 16 or of 4, and unaligned views).
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CodingMatrix } from '../../../shared/erasure/coding-matrix.ts';
import { joinShards, ReedSolomon, splitIntoShards, type KernelName } from '../../../shared/erasure/index.ts';
import { loadSimdKernel } from '../../../shared/erasure/kernel-simd.ts';
import { tsKernel } from '../../../shared/erasure/kernel-ts.ts';

const simd = await loadSimdKernel();
const kernels: KernelName[] = simd === undefined ? ['ts'] : ['ts', 'simd'];

/** Every subset of {0..n-1} with at most `max` members. */
function lossPatterns(n: number, max: number): number[][] {
  const out: number[][] = [];
  const walk = (from: number, picked: number[]): void => {
    out.push(picked);
    if (picked.length === max) return;
    for (let i = from; i < n; i++) walk(i + 1, [...picked, i]);
  };
  walk(0, []);
  return out;
}

function roundTripsEveryPattern(rs: ReedSolomon, data: Uint8Array, patterns: number[][]): void {
  const shards = splitIntoShards(data, rs.dataShards, rs.parityShards);
  rs.encode(shards);
  for (const lost of patterns) {
    const out = rs.reconstruct(shards.map((s, i) => (lost.includes(i) ? null : s)));
    assert.equal(joinShards(out, rs.dataShards, data.length), data, `lost ${lost}`);
    for (const i of lost) assert.equal(out[i], shards[i], `rebuilt shard ${i} differs (lost ${lost})`);
  }
}

for (const kernel of kernels) {
  for (const [k, m] of [[1, 1], [2, 1], [3, 2], [4, 2], [6, 3], [10, 4]] as const) {
    test(`${kernel} ${k}+${m}: every pattern of up to ${m} lost shards decodes`, () => {
      const rs = new ReedSolomon(k, m, { kernel });
      const patterns = lossPatterns(k + m, m);
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: k * m > 20 ? 300 : 2000 }), (data) => {
          roundTripsEveryPattern(rs, data, patterns);
        }),
        { numRuns: k * m > 20 ? 3 : 15 },
      );
    });
  }

  test(`${kernel}: random geometries and random loss patterns of up to m shards (incl. 12+8)`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }).chain((k) =>
          fc.tuple(fc.constant(k), fc.integer({ min: 0, max: 12 })).chain(([k, m]) =>
            fc.record({
              k: fc.constant(k),
              m: fc.constant(m),
              lost: fc.uniqueArray(fc.integer({ min: 0, max: k + m - 1 }), { maxLength: m }),
              data: fc.uint8Array({ maxLength: 3000 }),
            }),
          ),
        ),
        ({ k, m, lost, data }) => {
          roundTripsEveryPattern(new ReedSolomon(k, m, { kernel }), data, [lost]);
        },
      ),
      { numRuns: 60 },
    );
    const rs = new ReedSolomon(12, 8, { kernel });
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 19 }), { minLength: 8, maxLength: 8 }), fc.uint8Array({ maxLength: 5000 }),
        (lost, data) => roundTripsEveryPattern(rs, data, [lost])),
      { numRuns: 40 },
    );
  });
}

test('SIMD and TS kernels: identical output for random matrices, lengths and offsets', () => {
  if (simd === undefined) return; // nothing to compare on an engine without WebAssembly SIMD
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 12 }),
      fc.integer({ min: 1, max: 6 }),
      fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 30_000, max: 140_000 })),
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (cols, rows, length, offset, seed) => {
        let x = seed | 1;
        const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16) & 255;
        const coefficients = Array.from({ length: rows }, () => Uint8Array.from({ length: cols }, next));
        const matrix = new CodingMatrix(coefficients);
        // inputs are views at `offset` into larger buffers, so unaligned shards are covered too
        const inputs = Array.from({ length: cols }, () => Uint8Array.from({ length: length + offset }, next).subarray(offset));
        const viaTs = Array.from({ length: rows }, () => new Uint8Array(length + offset).subarray(offset));
        const viaSimd = Array.from({ length: rows }, () => new Uint8Array(length).fill(0xaa));
        tsKernel.mulRows(matrix, inputs, viaTs, length);
        simd.mulRows(matrix, inputs, viaSimd, length);
        for (let i = 0; i < rows; i++) assert.equal(viaSimd[i], viaTs[i], `row ${i}, length ${length}, offset ${offset}`);
      },
    ),
    { numRuns: 80 },
  );
});

test('SIMD and TS ReedSolomon: identical parity for sizes around 16-byte boundaries', () => {
  if (simd === undefined) return;
  const ts = new ReedSolomon(5, 3, { kernel: 'ts' });
  const sd = new ReedSolomon(5, 3, { kernel: 'simd' });
  for (const size of [1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 127, 129, 32767, 32768, 32769, 65537]) {
    const data = Uint8Array.from({ length: size * 5 }, (_, i) => (i * 131 + size) & 255);
    const a = splitIntoShards(data, 5, 3);
    const b = splitIntoShards(data, 5, 3);
    ts.encode(a);
    sd.encode(b);
    assert.equal(a, b, `size ${size}`);
  }
});

test.run();
