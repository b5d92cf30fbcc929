/**
 * Systematic Reed–Solomon erasure code over GF(2^8): k data shards + m parity shards, n = k + m ≤ 256;
 * any k of the n shards give back the data.
 *
 * Matrix. GF(2^8) with polynomial 0x11d (gf256.ts). The n×k encoding matrix E is the Vandermonde
 * matrix V[r][c] = r^c times the inverse of its top k×k square (matrix.ts). Its top k rows are the
 * identity, so the data shards are the data itself (systematic) and parity_i = Σ_j E[k+i][j]·data_j;
 * every k×k selection of its rows stays invertible, so any k shards decode. This is the matrix of
 * Backblaze JavaReedSolomon, klauspost/reedsolomon and the Rust reed-solomon-erasure crate: our
 * parity bytes are identical to theirs (a test checks against the crate's wasm build).
 *
 * Decode. Take the first k present shards, invert their rows of E to get D; a missing data shard d
 * is row D[d] times those k shards; a missing parity shard is re-encoded from the (now complete)
 * data. The coefficient matrices for each erasure pattern are cached (LRU, `decodeCacheEntriesMax`).
 *
 * Kernels. Encoding and decoding are both "matrix × shards", done by one of two kernels with
 * identical output (tested), chosen at run time:
 *   - `simd` (kernel-simd.ts + wasm/rs.wat): WebAssembly SIMD with split-nibble tables. A full
 *     256-entry product table cannot sit in a vector register, but multiplication by c is linear
 *     over XOR and v = (v & 0x0f) ^ (v & 0xf0), so c·v = L[v & 0x0f] ^ H[v >> 4] with two 16-entry
 *     tables (L[x] = c·x, H[x] = c·(x << 4)) that each fit one register; `i8x16.swizzle` (pshufb
 *     on x86, tbl on ARM) then does 16 lookups in one instruction. That is 16 products for two
 *     shuffles, two ANDs, a shift and an XOR, the trick of ISA-L, GF-Complete and klauspost.
 *     The kernel codes two output rows per pass (one nibble split serves both), copies shards
 *     into a reused wasm memory block by block (32 KiB per shard, cache-sized) and back out.
 *   - `ts` (kernel-ts.ts): portable; a 64 KiB product table, four inputs per pass, 32-bit words.
 *   `auto` picks `simd` when the engine supports WebAssembly SIMD and the kernel is built
 *   (wasm/build.mjs at install; `ReedSolomon.create` builds it in-process when it is missing),
 *   else `ts` with a one-time log line.
 *
 * Shards are checked before anything is written (count, type, equal length, parity not overlapping
 * another shard); bad input throws a BaksaError (errors.ts) and leaves every buffer untouched.
 */
import { configError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { CodingMatrix, type Kernel, type KernelName } from './coding-matrix.ts';
import { geometryInvalid, kernelUnavailable, shardCount, shardInvalid, shardSize, tooFewShards } from './errors.ts';
import { loadSimdKernel, loadSimdKernelSync, simdLoadError, simdSupported } from './kernel-simd.ts';
import { tsKernel } from './kernel-ts.ts';
import { encodingMatrix, invert, selectRows, type Matrix } from './matrix.ts';

export type KernelChoice = 'auto' | KernelName;

export interface ReedSolomonOptions {
  /** Which kernel codes the bytes; `auto` prefers `simd`. */
  kernel: KernelChoice;
  /** Coefficient matrices kept for erasure patterns seen before. */
  decodeCacheEntriesMax: number;
}

export const defaultReedSolomonOptions: ReedSolomonOptions = { kernel: 'auto', decodeCacheEntriesMax: 64 };

/** n = k + m may not exceed the field size. */
export const totalShardsMax = 256;

export interface ReconstructOptions {
  /** Rebuild only the data shards and return just those k (parity is left missing). */
  dataOnly?: boolean;
}

export type MaybeShard = Uint8Array | null | undefined;

let fallbackLogged = false;

function pickKernel(choice: KernelChoice): Kernel {
  if (choice === 'ts') return tsKernel;
  const simd = loadSimdKernelSync();
  if (simd !== undefined) return simd;
  const why = simdLoadError() ?? 'unknown reason';
  if (choice === 'simd') throw kernelUnavailable(why);
  if (!fallbackLogged) {
    fallbackLogged = true;
    const log = createLogger('erasure');
    if (simdSupported()) log.warn({ reason: why }, 'SIMD erasure kernel not loaded; using the TypeScript kernel');
    else log.info({ reason: why }, 'using the TypeScript erasure kernel');
  }
  return tsKernel;
}

export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly totalShards: number;
  /** The kernel actually in use. */
  readonly kernel: KernelName;
  readonly #kernel: Kernel;
  readonly #matrix: Matrix;
  readonly #parity: CodingMatrix;
  readonly #cache = new Map<string, CodingMatrix>();
  readonly #cacheEntriesMax: number;

  /** Like the constructor, but first builds the SIMD kernel in-process if rs.wasm is missing. */
  static async create(dataShards: number, parityShards: number, options: Partial<ReedSolomonOptions> = {}): Promise<ReedSolomon> {
    if ((options.kernel ?? defaultReedSolomonOptions.kernel) !== 'ts') await loadSimdKernel();
    return new ReedSolomon(dataShards, parityShards, options);
  }

  constructor(dataShards: number, parityShards: number, options: Partial<ReedSolomonOptions> = {}) {
    const opts = { ...defaultReedSolomonOptions, ...options };
    if (!Number.isInteger(dataShards) || dataShards < 1) throw geometryInvalid(dataShards, parityShards, 'need at least one data shard');
    if (!Number.isInteger(parityShards) || parityShards < 0) throw geometryInvalid(dataShards, parityShards, 'parity shards must be a whole number ≥ 0');
    if (dataShards + parityShards > totalShardsMax) {
      throw geometryInvalid(dataShards, parityShards, `at most ${totalShardsMax} shards in all over GF(2^8)`);
    }
    if (!['auto', 'ts', 'simd'].includes(opts.kernel)) throw configError('erasure.kernel', "must be 'auto', 'ts' or 'simd'");
    if (!Number.isInteger(opts.decodeCacheEntriesMax) || opts.decodeCacheEntriesMax < 0) {
      throw configError('erasure.decodeCacheEntriesMax', 'must be a whole number ≥ 0');
    }
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.totalShards = dataShards + parityShards;
    this.#cacheEntriesMax = opts.decodeCacheEntriesMax;
    this.#kernel = pickKernel(opts.kernel);
    this.kernel = this.#kernel.name;
    this.#matrix = encodingMatrix(dataShards, this.totalShards);
    this.#parity = new CodingMatrix(this.#matrix.slice(dataShards));
  }

  /** A copy of the n×k encoding matrix (top k rows are the identity). */
  encodingMatrix(): Matrix {
    return this.#matrix.map((row) => Uint8Array.from(row));
  }

  /** Fills the parity shards (the last m) in place from the data shards; all n must be equally long. */
  encode(shards: readonly Uint8Array[]): void {
    const length = this.#checkComplete(shards);
    const k = this.dataShards;
    for (let i = k; i < this.totalShards; i++) {
      for (let j = 0; j < this.totalShards; j++) {
        if (j !== i && overlaps(shards[i]!, shards[j]!)) throw shardInvalid(i, `overlaps the memory of shard ${j}`);
      }
    }
    this.#kernel.mulRows(this.#parity, shards.slice(0, k), shards.slice(k), length);
  }

  /** True when the parity shards match the data shards. */
  verify(shards: readonly Uint8Array[]): boolean {
    const length = this.#checkComplete(shards);
    if (this.parityShards === 0) return true;
    const expected = Array.from({ length: this.parityShards }, () => new Uint8Array(length));
    this.#kernel.mulRows(this.#parity, shards.slice(0, this.dataShards), expected, length);
    return expected.every((bytes, i) => Buffer.from(bytes.buffer, 0, length).equals(view(shards[this.dataShards + i]!)));
  }

  /**
   * Rebuilds the missing shards (null/undefined entries) from any k present ones. Returns all n
   * shards, or only the k data shards with `dataOnly`; present shards are returned as they are,
   * rebuilt ones are new arrays. The input array is not modified.
   */
  reconstruct(shards: readonly MaybeShard[], options: ReconstructOptions = {}): Uint8Array[] {
    const k = this.dataShards;
    if (!Array.isArray(shards) || shards.length !== this.totalShards) {
      throw shardCount(this.totalShards, Array.isArray(shards) ? shards.length : 0);
    }
    const present: number[] = [];
    let length = -1;
    for (let i = 0; i < shards.length; i++) {
      const shard = shards[i];
      if (shard === null || shard === undefined) continue;
      if (!(shard instanceof Uint8Array)) throw shardInvalid(i, 'not a Uint8Array');
      if (length === -1) length = shard.length;
      else if (shard.length !== length) throw shardSize(i, length, shard.length);
      present.push(i);
    }
    if (present.length < k) throw tooFewShards(k, present.length);
    const out = shards.slice() as MaybeShard[];
    const missingData: number[] = [];
    for (let d = 0; d < k; d++) if (out[d] == null) missingData.push(d);
    if (missingData.length > 0) {
      const used = present.slice(0, k);
      const decoder = this.#cached(`d${used.join(',')}/${missingData.join(',')}`, () => {
        const inverse = invert(selectRows(this.#matrix, used));
        if (inverse === undefined) throw new Error('invariant violated: k rows of the encoding matrix are singular');
        return new CodingMatrix(selectRows(inverse, missingData));
      });
      const rebuilt = missingData.map(() => new Uint8Array(length));
      this.#kernel.mulRows(decoder, used.map((i) => out[i]!), rebuilt, length);
      missingData.forEach((d, n) => (out[d] = rebuilt[n]));
    }
    if (options.dataOnly === true) return out.slice(0, k) as Uint8Array[];
    const missingParity: number[] = [];
    for (let p = k; p < this.totalShards; p++) if (out[p] == null) missingParity.push(p);
    if (missingParity.length > 0) {
      const encoder = this.#cached(`p${missingParity.join(',')}`, () => new CodingMatrix(selectRows(this.#matrix, missingParity)));
      const rebuilt = missingParity.map(() => new Uint8Array(length));
      this.#kernel.mulRows(encoder, out.slice(0, k) as Uint8Array[], rebuilt, length);
      missingParity.forEach((p, n) => (out[p] = rebuilt[n]));
    }
    return out as Uint8Array[];
  }

  /** Count, type and equal length of a full shard set; returns the shard length. */
  #checkComplete(shards: readonly Uint8Array[]): number {
    if (!Array.isArray(shards) || shards.length !== this.totalShards) {
      throw shardCount(this.totalShards, Array.isArray(shards) ? shards.length : 0);
    }
    let length = -1;
    for (let i = 0; i < shards.length; i++) {
      const shard = shards[i];
      if (!(shard instanceof Uint8Array)) throw shardInvalid(i, shard == null ? 'missing' : 'not a Uint8Array');
      if (length === -1) length = shard.length;
      else if (shard.length !== length) throw shardSize(i, length, shard.length);
    }
    return length;
  }

  #cached(key: string, build: () => CodingMatrix): CodingMatrix {
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const built = build();
    if (this.#cacheEntriesMax > 0) {
      if (this.#cache.size >= this.#cacheEntriesMax) this.#cache.delete(this.#cache.keys().next().value!);
      this.#cache.set(key, built);
    }
    return built;
  }
}

function overlaps(a: Uint8Array, b: Uint8Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.length > 0 &&
    b.length > 0 &&
    a.byteOffset < b.byteOffset + b.length &&
    b.byteOffset < a.byteOffset + a.length
  );
}

function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

const sharedCodecs = new Map<string, Promise<ReedSolomon>>();

/**
 * The ReedSolomon for k + m with the default options, made once per geometry per thread (`create`)
 * and shared by everything that asks for it: encoding keeps no state, and decoding's matrix cache is
 * bounded.
 */
export function reedSolomonFor(dataShards: number, parityShards: number): Promise<ReedSolomon> {
  const key = `${dataShards}+${parityShards}`;
  let rs = sharedCodecs.get(key);
  if (!rs) {
    rs = ReedSolomon.create(dataShards, parityShards);
    sharedCodecs.set(key, rs);
    rs.catch(() => sharedCodecs.delete(key)); // a bad geometry is refused each time it is asked for
  }
  return rs;
}
