// GF(2^8) over 0x11d and the matrix algebra under the encoding matrix.
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gfDiv, gfInv, gfMul, gfPow, mulTable, nibbleTables } from '../../../shared/erasure/gf256.ts';
import { encodingMatrix, identityMatrix, invert, multiply, selectRows, vandermonde } from '../../../shared/erasure/matrix.ts';

/** Carry-less multiply reduced by 0x11d, bit by bit: an independent definition of the product. */
function slowMul(a: number, b: number): number {
  let p = 0;
  for (let i = 0; i < 8; i++) {
    if (b & 1) p ^= a;
    b >>= 1;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
  }
  return p;
}

test('products agree with bitwise multiplication for all 65536 pairs', () => {
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) if (gfMul(a, b) !== slowMul(a, b)) assert.unreachable(`${a}·${b}`);
  assert.is(gfMul(2, 0x80), 0x1d); // x·x^7 = x^8 = x^4 + x^3 + x^2 + 1
});

test('field laws: inverse, division, distributivity, powers', () => {
  for (let a = 1; a < 256; a++) assert.is(gfMul(a, gfInv(a)), 1);
  assert.throws(() => gfDiv(3, 0));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 }), (a, b, c) => {
      assert.is(gfMul(c, a ^ b), gfMul(c, a) ^ gfMul(c, b));
      assert.is(gfMul(gfDiv(a, c), c), a);
    }),
  );
  assert.is(gfPow(0, 0), 1);
  assert.is(gfPow(0, 3), 0);
  assert.is(gfPow(2, 8), 0x1d);
  assert.is(gfPow(7, 255), 1);
});

test('split-nibble tables: c·v = L[v & 15] ^ H[v >> 4] for every c and v', () => {
  for (let c = 0; c < 256; c++) {
    const t = nibbleTables(c);
    const row = mulTable(c);
    for (let v = 0; v < 256; v++) if ((t[v & 15]! ^ t[16 + (v >> 4)]!) !== row[v]) assert.unreachable(`${c}·${v}`);
  }
});

test('inversion gives the identity; a singular matrix is reported', () => {
  const v = vandermonde(5, 5);
  const inv = invert(v);
  assert.ok(inv);
  assert.equal(multiply(v, inv), identityMatrix(5));
  assert.is(invert([Uint8Array.of(1, 2), Uint8Array.of(2, 4)]), undefined);
});

test('encoding matrix: systematic, and every k rows invertible (6+3, all 84 choices)', () => {
  const k = 6;
  const e = encodingMatrix(k, 9);
  assert.equal(selectRows(e, [0, 1, 2, 3, 4, 5]), identityMatrix(k));
  let checked = 0;
  const choose = (from: number, picked: number[]): void => {
    if (picked.length === k) {
      assert.ok(invert(selectRows(e, picked)), `rows ${picked} singular`);
      checked++;
      return;
    }
    for (let r = from; r < 9; r++) choose(r + 1, [...picked, r]);
  };
  choose(0, []);
  assert.is(checked, 84);
});

test.run();
