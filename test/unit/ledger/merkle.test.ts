// The Merkle tree over records (RFC 6962 §2.1 tree hash, RFC 9162 §2.1.3 inclusion proofs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { encodeRecord, leafHash, merkleRoot, merkleRootOfLeaves, proofFor, verifyLeafProof, verifyProof } from '../../../shared/ledger/index.ts';
import { sampleRecord } from '../../fixtures/ledger/make.ts';

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};
const records = Array.from({ length: 17 }, (_, i) => sampleRecord(100 + i, 0));

/** RFC 6962 MTH written out independently: recursion on the list. */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return sha(new Uint8Array([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

test('leaves carry the 0x00 prefix, the empty tree is SHA-256 of nothing', () => {
  assert.equal(leafHash(records[0]!), sha(new Uint8Array([0]), encodeRecord(records[0]!)));
  assert.equal(merkleRoot([]), sha());
  assert.equal(merkleRoot(records.slice(0, 1)), leafHash(records[0]!));
  for (let n = 0; n <= records.length; n++) assert.equal(merkleRoot(records.slice(0, n)), mth(records.slice(0, n).map(leafHash)), `n=${n}`);
});

test('every record of every tree size proves its inclusion, and only there', () => {
  for (let n = 1; n <= records.length; n++) {
    const rs = records.slice(0, n);
    const root = merkleRoot(rs);
    for (let i = 0; i < n; i++) {
      const proof = proofFor(rs, i);
      assert.ok(verifyProof(rs[i]!, proof, root), `n=${n} i=${i}`);
      if (n > 1) {
        assert.not.ok(verifyProof(rs[(i + 1) % n]!, proof, root), `wrong record n=${n} i=${i}`);
        assert.not.ok(verifyProof(rs[i]!, { ...proof, index: (i + 1) % n }, root), `wrong index n=${n} i=${i}`);
      }
      assert.not.ok(verifyProof(rs[i]!, { ...proof, treeSize: i }, root), `index beyond the size n=${n} i=${i}`);
      if (n < records.length) assert.not.ok(verifyProof(rs[i]!, proof, merkleRoot(records.slice(0, n + 1))), `wrong root n=${n} i=${i}`);
    }
  }
  assert.throws(() => proofFor(records, records.length), RangeError);
});

test('a tampered proof never verifies (property)', () => {
  const leaves = records.map(leafHash);
  fc.assert(
    fc.property(fc.integer({ min: 2, max: 17 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (n, i0, which, bit) => {
      const i = i0 % n;
      const proof = proofFor(records.slice(0, n), i);
      const root = merkleRootOfLeaves(leaves.slice(0, n));
      if (proof.path.length === 0) return true;
      const path = proof.path.map((p) => new Uint8Array(p));
      path[which % path.length]![bit >> 3]! ^= 1 << (bit & 7);
      return !verifyLeafProof(leaves[i]!, { ...proof, path }, root) && !verifyLeafProof(leaves[i]!, { ...proof, path: proof.path.slice(1) }, root);
    }),
    { numRuns: 300 },
  );
});

test.run();
