/**
 * The WebAssembly SIMD kernel's host side: loading `wasm/rs.wasm` and feeding it shards.
 *
 * One wasm instance per process (calls are synchronous, so instances need not be shared-safe).
 * Its memory is laid out per call as [tables | inputs | outputs]: the split-nibble tables of the
 * current matrix (rewritten only when the matrix changes), then `cols` input blocks and `rows`
 * output blocks of `stride` bytes. Shards are processed block by block (`simdBlockBytes` per
 * shard), so each block is copied in once, coded while it sits in cache, and copied out once;
 * memory grows on demand and is reused. Blocks are padded to 64 bytes, so the wasm loop has no
 * scalar tail: the padding's products are garbage and never copied out.
 *
 * Loading: `loadSimdKernelSync()` reads the prebuilt rs.wasm (built by build.mjs at install);
 * `loadSimdKernel()` also compiles rs.wat in-process with wabt when rs.wasm is missing (and tries
 * to save the result). Both return undefined when the engine lacks WebAssembly SIMD.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { CodingMatrix, Kernel } from './coding-matrix.ts';

/** Bytes per shard handled per block (a 4+2 block set is 6 × 32 KiB, well inside L2). */
export const simdBlockBytes = 32 * 1024;

const PAGE_BYTES = 65536;

/**
 * Where rs.wasm / rs.wat may live: next to this file, or in the source tree when running from dist/.
 * `BAKSA_ERASURE_WASM_PATH` names the rs.wasm to use instead (packaging, tests); an in-process build
 * is then saved there.
 */
function candidates(file: 'rs.wasm' | 'rs.wat'): string[] {
  const override = process.env.BAKSA_ERASURE_WASM_PATH;
  if (override !== undefined && override !== '' && file === 'rs.wasm') return [override];
  return [
    fileURLToPath(new URL(`./wasm/${file}`, import.meta.url)),
    fileURLToPath(new URL(`../../../shared/erasure/wasm/${file}`, import.meta.url)),
  ];
}

// () -> v128 { i8x16.splat(i32.const 0) }: validates only where WebAssembly SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00,
  0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b,
]);

/** The slice of the WebAssembly JS API used here (tsconfig's libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let simdSupportedCache: boolean | undefined;

export function simdSupported(): boolean {
  if (simdSupportedCache === undefined) {
    try {
      simdSupportedCache = wasmApi !== undefined && wasmApi.validate(SIMD_PROBE);
    } catch {
      simdSupportedCache = false;
    }
  }
  return simdSupportedCache === true;
}

interface RsExports {
  memory: WasmMemory;
  mul_rows(tab: number, input: number, output: number, rows: number, cols: number, stride: number, len: number): void;
}

class SimdKernel implements Kernel {
  readonly name = 'simd';
  readonly #exports: RsExports;
  #view: Uint8Array;
  #loadedMatrixId = 0;

  constructor(exports: RsExports) {
    this.#exports = exports;
    this.#view = new Uint8Array(exports.memory.buffer);
  }

  #ensureBytes(bytes: number): void {
    const memory = this.#exports.memory;
    if (memory.buffer.byteLength < bytes) {
      memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE_BYTES));
    }
    if (this.#view.buffer !== memory.buffer) this.#view = new Uint8Array(memory.buffer);
  }

  mulRows(matrix: CodingMatrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], length: number): void {
    if (length === 0 || outputs.length === 0) return;
    const rows = matrix.rows;
    const cols = matrix.cols;
    const tables = matrix.nibbleTables();
    const stride = roundUp64(Math.min(length, simdBlockBytes));
    const inBase = roundUp64(tables.length);
    const outBase = inBase + cols * stride;
    this.#ensureBytes(outBase + rows * stride);
    const view = this.#view;
    if (this.#loadedMatrixId !== matrix.id) {
      view.set(tables, 0);
      this.#loadedMatrixId = matrix.id;
    }
    const mulRows = this.#exports.mul_rows;
    for (let start = 0; start < length; start += stride) {
      const end = Math.min(length, start + stride);
      const whole = start === 0 && end === length;
      for (let j = 0; j < cols; j++) {
        const input = inputs[j]!;
        view.set(whole ? input : input.subarray(start, end), inBase + j * stride);
      }
      mulRows(0, inBase, outBase, rows, cols, stride, roundUp64(end - start));
      for (let i = 0; i < rows; i++) {
        const from = outBase + i * stride;
        outputs[i]!.set(view.subarray(from, from + (end - start)), start);
      }
    }
  }
}

function roundUp64(n: number): number {
  return (n + 63) & ~63;
}

let kernel: Kernel | undefined;
let loadError: string | undefined;

function instantiate(bytes: Uint8Array): Kernel {
  if (wasmApi === undefined) throw new Error('WebAssembly is not available');
  const module = new wasmApi.Module(bytes);
  const instance = new wasmApi.Instance(module, {});
  return new SimdKernel(instance.exports as unknown as RsExports);
}

/** The SIMD kernel from the prebuilt rs.wasm, or undefined (see `simdLoadError()` for why). */
export function loadSimdKernelSync(): Kernel | undefined {
  if (kernel !== undefined) return kernel;
  if (!simdSupported()) {
    loadError = 'this JavaScript engine does not support WebAssembly SIMD';
    return undefined;
  }
  for (const path of candidates('rs.wasm')) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch {
      continue;
    }
    try {
      kernel = instantiate(bytes);
      return kernel;
    } catch (err) {
      loadError = `${path} is not a usable kernel: ${(err as Error).message}`;
      return undefined;
    }
  }
  loadError = `${candidates('rs.wasm')[0]} is missing (npm install or npm run build builds it)`;
  return undefined;
}

/** Like `loadSimdKernelSync`, but compiles rs.wat in-process with wabt when rs.wasm is missing. */
export async function loadSimdKernel(): Promise<Kernel | undefined> {
  const ready = loadSimdKernelSync();
  if (ready !== undefined || !simdSupported()) return ready;
  for (const path of candidates('rs.wat')) {
    let wat: string;
    try {
      wat = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    try {
      const { compileWat } = await import('./wasm/build.mjs');
      const bytes = await compileWat(wat);
      kernel = instantiate(bytes);
      saveQuietly(candidates('rs.wasm')[0]!, bytes);
      return kernel;
    } catch (err) {
      loadError = `could not compile ${path}: ${(err as Error).message}`;
      return undefined;
    }
  }
  loadError = 'neither rs.wasm nor rs.wat was found next to the erasure module';
  return undefined;
}

/** Why the last load returned undefined. */
export function simdLoadError(): string | undefined {
  return kernel === undefined ? loadError : undefined;
}

function saveQuietly(path: string, bytes: Uint8Array): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, bytes);
    renameSync(temp, path);
  } catch {
    // a read-only install still works; the next process compiles again
  }
}
