// The encoding matrix is the Vandermonde-derived systematic one of Backblaze JavaReedSolomon,
// klauspost/reedsolomon and the reed-solomon-erasure crate: parity must be byte-identical to the
// crate (via its wasm build), and each side must decode the other's shards.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReedSolomon, type KernelName } from '../../../shared/erasure/index.ts';
import { concat, independent, RESULT_OK } from './independent.ts';

const geometries: Array<[number, number]> = [[2, 1], [4, 2], [10, 4], [12, 8]];
const kernels: KernelName[] = ['ts', 'simd'];

for (const [k, m] of geometries) {
  for (const kernel of kernels) {
    test(`${k}+${m} ${kernel}: parity identical to reed-solomon-erasure`, async () => {
      const rs = await ReedSolomon.create(k, m, { kernel });
      assert.is(rs.kernel, kernel);
      for (const size of [1, 15, 64, 1000, 4099, 70_001]) {
        const shards = [...Array.from({ length: k }, () => new Uint8Array(randomBytes(size))),
          ...Array.from({ length: m }, () => new Uint8Array(size))];
        rs.encode(shards);
        const theirs = concat(shards.map((s, i) => (i < k ? s : new Uint8Array(size))));
        assert.is(independent().encode(theirs, k, m), RESULT_OK);
        assert.equal(theirs, concat(shards), `parity differs at shard size ${size}`);
      }
    });
  }

  test(`${k}+${m}: each side decodes the other's shards`, () => {
    const rs = new ReedSolomon(k, m);
    const size = 3000;
    const buffer = new Uint8Array(size * (k + m));
    buffer.set(randomBytes(size * k));
    const original = buffer.slice();
    assert.is(independent().encode(buffer, k, m), RESULT_OK);
    // lose the first m data shards (as many as allowed)
    const lost = new Set(Array.from({ length: Math.min(m, k) }, (_, i) => i));
    const ours = rs.reconstruct(Array.from({ length: k + m }, (_, i) => (lost.has(i) ? null : buffer.subarray(i * size, (i + 1) * size))));
    assert.equal(concat(ours), buffer);
    const damaged = buffer.slice();
    for (const i of lost) damaged.fill(0, i * size, (i + 1) * size);
    const available = Array.from({ length: k + m }, (_, i) => !lost.has(i));
    assert.is(independent().reconstruct(damaged, k, m, available), RESULT_OK);
    assert.equal(damaged.subarray(0, k * size), original.subarray(0, k * size));
  });
}

test('encoding matrix: identity on top, the known 4+2 parity rows', () => {
  const e = new ReedSolomon(4, 2).encodingMatrix();
  for (let r = 0; r < 4; r++) for (let c = 0; c < 4; c++) assert.is(e[r]![c], r === c ? 1 : 0);
  // Rows 4 and 5 of the 4+2 matrix as printed by klauspost/reedsolomon and Backblaze's tests.
  assert.equal([...e[4]!], [27, 28, 18, 20]);
  assert.equal([...e[5]!], [28, 27, 20, 18]);
});

test.run();
