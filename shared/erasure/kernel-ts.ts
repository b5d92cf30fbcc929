/**
 * The pure TypeScript kernel. Products come from one 64 KiB table, MUL_TABLE[(c << 8) | x] = c·x
 * (one typed array with a constant base was measurably faster in V8 than 256-byte views per
 * coefficient). Each output row takes its inputs four at a time, so an output is loaded and stored
 * once per four inputs. When every shard is 4-byte aligned the loops read and write 32-bit words
 * (four byte lanes, endian-agnostic since every lane maps to itself), about twice the byte loop's
 * speed; the tail and unaligned shards use the byte loop. Work goes block by block so a block's
 * inputs and outputs stay in cache together.
 */
import type { CodingMatrix, Kernel } from './coding-matrix.ts';
import { MUL_TABLE } from './gf256.ts';

/** Bytes per shard handled per block. */
export const tsBlockBytes = 16 * 1024;

const T = MUL_TABLE;

export const tsKernel: Kernel = {
  name: 'ts',
  mulRows(matrix, inputs, outputs, length) {
    const offsets = matrix.tableOffsets();
    const cols = matrix.cols;
    let aligned = true;
    for (const s of inputs) if ((s.byteOffset & 3) !== 0) aligned = false;
    for (const s of outputs) if ((s.byteOffset & 3) !== 0) aligned = false;
    let done = 0;
    if (aligned && length >= 4) {
      const words = length >>> 2;
      const ins = inputs.map((s) => new Uint32Array(s.buffer, s.byteOffset, words));
      const outs = outputs.map((s) => new Uint32Array(s.buffer, s.byteOffset, words));
      const block = tsBlockBytes >>> 2;
      for (let start = 0; start < words; start += block) {
        const end = Math.min(words, start + block);
        for (let i = 0; i < outs.length; i++) {
          const out = outs[i]!;
          const base = i * cols;
          let j = 0;
          for (; j + 4 <= cols; j += 4) {
            const words4 = j === 0 ? words4Set : words4Xor;
            words4(out, ins[j]!, ins[j + 1]!, ins[j + 2]!, ins[j + 3]!, offsets[base + j]!, offsets[base + j + 1]!,
              offsets[base + j + 2]!, offsets[base + j + 3]!, start, end);
          }
          for (; j < cols; j++) (j === 0 ? words1Set : words1Xor)(out, ins[j]!, offsets[base + j]!, start, end);
        }
      }
      done = words << 2;
    }
    for (let start = done; start < length; start += tsBlockBytes) {
      const end = Math.min(length, start + tsBlockBytes);
      for (let i = 0; i < outputs.length; i++) {
        const out = outputs[i]!;
        const base = i * cols;
        let j = 0;
        for (; j + 4 <= cols; j += 4) {
          bytes4(out, inputs[j]!, inputs[j + 1]!, inputs[j + 2]!, inputs[j + 3]!, offsets[base + j]!,
            offsets[base + j + 1]!, offsets[base + j + 2]!, offsets[base + j + 3]!, start, end, j === 0);
        }
        for (; j < cols; j++) bytes1(out, inputs[j]!, offsets[base + j]!, start, end, j === 0);
      }
    }
  },
};

function words4Set(
  out: Uint32Array, a: Uint32Array, b: Uint32Array, c: Uint32Array, d: Uint32Array,
  ca: number, cb: number, cc: number, cd: number, start: number, end: number,
): void {
  for (let x = start; x < end; x++) {
    const va = a[x]!;
    const vb = b[x]!;
    const vc = c[x]!;
    const vd = d[x]!;
    const r =
      (T[ca | (va & 255)]! ^ T[cb | (vb & 255)]! ^ T[cc | (vc & 255)]! ^ T[cd | (vd & 255)]!) |
      ((T[ca | ((va >>> 8) & 255)]! ^ T[cb | ((vb >>> 8) & 255)]! ^ T[cc | ((vc >>> 8) & 255)]! ^
        T[cd | ((vd >>> 8) & 255)]!) << 8) |
      ((T[ca | ((va >>> 16) & 255)]! ^ T[cb | ((vb >>> 16) & 255)]! ^ T[cc | ((vc >>> 16) & 255)]! ^
        T[cd | ((vd >>> 16) & 255)]!) << 16) |
      ((T[ca | (va >>> 24)]! ^ T[cb | (vb >>> 24)]! ^ T[cc | (vc >>> 24)]! ^ T[cd | (vd >>> 24)]!) << 24);
    out[x] = r;
  }
}

function words4Xor(
  out: Uint32Array, a: Uint32Array, b: Uint32Array, c: Uint32Array, d: Uint32Array,
  ca: number, cb: number, cc: number, cd: number, start: number, end: number,
): void {
  for (let x = start; x < end; x++) {
    const va = a[x]!;
    const vb = b[x]!;
    const vc = c[x]!;
    const vd = d[x]!;
    const r =
      (T[ca | (va & 255)]! ^ T[cb | (vb & 255)]! ^ T[cc | (vc & 255)]! ^ T[cd | (vd & 255)]!) |
      ((T[ca | ((va >>> 8) & 255)]! ^ T[cb | ((vb >>> 8) & 255)]! ^ T[cc | ((vc >>> 8) & 255)]! ^
        T[cd | ((vd >>> 8) & 255)]!) << 8) |
      ((T[ca | ((va >>> 16) & 255)]! ^ T[cb | ((vb >>> 16) & 255)]! ^ T[cc | ((vc >>> 16) & 255)]! ^
        T[cd | ((vd >>> 16) & 255)]!) << 16) |
      ((T[ca | (va >>> 24)]! ^ T[cb | (vb >>> 24)]! ^ T[cc | (vc >>> 24)]! ^ T[cd | (vd >>> 24)]!) << 24);
    out[x] = out[x]! ^ r;
  }
}

function words1Set(out: Uint32Array, a: Uint32Array, ca: number, start: number, end: number): void {
  for (let x = start; x < end; x++) {
    const va = a[x]!;
    out[x] =
      T[ca | (va & 255)]! |
      (T[ca | ((va >>> 8) & 255)]! << 8) |
      (T[ca | ((va >>> 16) & 255)]! << 16) |
      (T[ca | (va >>> 24)]! << 24);
  }
}

function words1Xor(out: Uint32Array, a: Uint32Array, ca: number, start: number, end: number): void {
  for (let x = start; x < end; x++) {
    const va = a[x]!;
    out[x] =
      out[x]! ^
      (T[ca | (va & 255)]! |
        (T[ca | ((va >>> 8) & 255)]! << 8) |
        (T[ca | ((va >>> 16) & 255)]! << 16) |
        (T[ca | (va >>> 24)]! << 24));
  }
}

function bytes4(
  out: Uint8Array, a: Uint8Array, b: Uint8Array, c: Uint8Array, d: Uint8Array,
  ca: number, cb: number, cc: number, cd: number, start: number, end: number, first: boolean,
): void {
  for (let x = start; x < end; x++) {
    const r = T[ca | a[x]!]! ^ T[cb | b[x]!]! ^ T[cc | c[x]!]! ^ T[cd | d[x]!]!;
    out[x] = first ? r : out[x]! ^ r;
  }
}

function bytes1(out: Uint8Array, a: Uint8Array, ca: number, start: number, end: number, first: boolean): void {
  for (let x = start; x < end; x++) {
    const r = T[ca | a[x]!]!;
    out[x] = first ? r : out[x]! ^ r;
  }
}
