/**
 * A coefficient matrix prepared for the kernels: the rows × cols GF(2^8) coefficients, plus the
 * lookup tables each kernel wants, built lazily once per matrix (the encoding matrix lives as long
 * as its ReedSolomon; decode matrices live in a bounded cache).
 *
 *   - `tableOffsets()`: rows·cols offsets c << 8 into the 64 KiB product table (TS kernel);
 *   - `nibbleTables()`: rows·cols · 32 bytes of split-nibble tables, L then H (SIMD kernel).
 */
import { nibbleTables } from './gf256.ts';
import type { Matrix } from './matrix.ts';

let nextId = 1;

export class CodingMatrix {
  /** Identity for kernels that keep tables resident (the SIMD kernel skips a rewrite when unchanged). */
  readonly id = nextId++;
  readonly rows: number;
  readonly cols: number;
  readonly coefficients: Matrix;
  #offsets: Int32Array | undefined;
  #nibbles: Uint8Array | undefined;

  constructor(coefficients: Matrix) {
    this.coefficients = coefficients;
    this.rows = coefficients.length;
    this.cols = coefficients[0]?.length ?? 0;
  }

  /** Row-major offsets (coef << 8) of each coefficient's 256-entry row in MUL_TABLE. */
  tableOffsets(): Int32Array {
    if (this.#offsets === undefined) {
      const out = new Int32Array(this.rows * this.cols);
      let n = 0;
      for (const row of this.coefficients) for (const c of row) out[n++] = c << 8;
      this.#offsets = out;
    }
    return this.#offsets;
  }

  nibbleTables(): Uint8Array {
    if (this.#nibbles === undefined) {
      const out = new Uint8Array(this.rows * this.cols * 32);
      let offset = 0;
      for (const row of this.coefficients) {
        for (const c of row) {
          nibbleTables(c, out, offset);
          offset += 32;
        }
      }
      this.#nibbles = out;
    }
    return this.#nibbles;
  }
}

/** What both kernels do: outputs[i][x] = XOR_j coef(i, j) · inputs[j][x] for x < length. */
export interface Kernel {
  readonly name: KernelName;
  mulRows(matrix: CodingMatrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void;
}

export type KernelName = 'ts' | 'simd';
