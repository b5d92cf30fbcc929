/**
 * Small dense matrices over GF(2^8), stored as an array of rows (`Uint8Array` each).
 *
 * Only what Reed–Solomon needs: the Vandermonde matrix, products, sub-matrices, Gauss–Jordan
 * inversion, and the systematic encoding matrix built the way Backblaze JavaReedSolomon,
 * klauspost/reedsolomon and the reed-solomon-erasure crate build it, so our parity bytes are
 * identical to theirs.
 */
import { gfDiv, gfMul, gfPow } from './gf256.ts';

export type Matrix = Uint8Array[];

export function zeroMatrix(rows: number, cols: number): Matrix {
  const m: Matrix = [];
  for (let r = 0; r < rows; r++) m.push(new Uint8Array(cols));
  return m;
}

export function identityMatrix(size: number): Matrix {
  const m = zeroMatrix(size, size);
  for (let i = 0; i < size; i++) m[i]![i] = 1;
  return m;
}

/** v[r][c] = r^c in GF(2^8) (0^0 = 1). Any `cols` rows of it are linearly independent. */
export function vandermonde(rows: number, cols: number): Matrix {
  const m = zeroMatrix(rows, cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[r]![c] = gfPow(r, c);
  return m;
}

export function multiply(a: Matrix, b: Matrix): Matrix {
  const rows = a.length;
  const inner = b.length;
  const cols = b[0]?.length ?? 0;
  const out = zeroMatrix(rows, cols);
  for (let r = 0; r < rows; r++) {
    const ar = a[r]!;
    const or = out[r]!;
    for (let c = 0; c < cols; c++) {
      let acc = 0;
      for (let i = 0; i < inner; i++) acc ^= gfMul(ar[i]!, b[i]![c]!);
      or[c] = acc;
    }
  }
  return out;
}

/** The rows listed in `rowIndexes`, copied. */
export function selectRows(m: Matrix, rowIndexes: readonly number[]): Matrix {
  return rowIndexes.map((r) => Uint8Array.from(m[r]!));
}

/** Gauss–Jordan inversion; returns undefined for a singular matrix. */
export function invert(m: Matrix): Matrix | undefined {
  const size = m.length;
  const a = m.map((row) => Uint8Array.from(row));
  const inv = identityMatrix(size);
  for (let col = 0; col < size; col++) {
    let pivot = col;
    while (pivot < size && a[pivot]![col] === 0) pivot++;
    if (pivot === size) return undefined;
    if (pivot !== col) {
      [a[col], a[pivot]] = [a[pivot]!, a[col]!];
      [inv[col], inv[pivot]] = [inv[pivot]!, inv[col]!];
    }
    const ar = a[col]!;
    const ir = inv[col]!;
    const scale = gfDiv(1, ar[col]!);
    if (scale !== 1) {
      for (let c = 0; c < size; c++) {
        ar[c] = gfMul(ar[c]!, scale);
        ir[c] = gfMul(ir[c]!, scale);
      }
    }
    for (let r = 0; r < size; r++) {
      if (r === col) continue;
      const factor = a[r]![col]!;
      if (factor === 0) continue;
      const br = a[r]!;
      const jr = inv[r]!;
      for (let c = 0; c < size; c++) {
        br[c] = br[c]! ^ gfMul(factor, ar[c]!);
        jr[c] = jr[c]! ^ gfMul(factor, ir[c]!);
      }
    }
  }
  return inv;
}

/**
 * The n×k systematic encoding matrix: V · (V_top)^-1 where V is the n×k Vandermonde matrix and
 * V_top its top k×k square. The top k rows are the identity (data shards pass through), and every
 * k×k selection of rows stays invertible, so any k shards recover the data.
 */
export function encodingMatrix(dataShards: number, totalShards: number): Matrix {
  const v = vandermonde(totalShards, dataShards);
  const topInverse = invert(selectRows(v, [...Array(dataShards).keys()]));
  if (topInverse === undefined) throw new Error('invariant violated: Vandermonde top square is singular');
  return multiply(v, topInverse);
}
