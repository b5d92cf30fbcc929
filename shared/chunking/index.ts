/**
 * Content-defined chunking: FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020).
 *
 * Algorithm. A chunk starts where the previous one ended. Its first minBytes are taken without hashing
 * (cut-point skipping). From there each byte b updates a 32-bit gear hash, h = (h << 1) + GEAR[b],
 * starting from 0, and the chunk ends just after the first byte where (h & mask) == 0; at maxBytes it
 * ends regardless. The last chunk of a stream is whatever is left.
 *
 * Masks (normalized chunking, level 2). With n = round(log2(avgBytes)), MaskS has n + 2 bits and is used
 * before position avgBytes (a cut there is 4x rarer than 1/avg), MaskL has n - 2 bits and is used after
 * it (4x likelier), so sizes bunch around avg. Both are the top bits of the hash, since bit k of h
 * depends on the last k + 1 bytes: the top bits see the widest window (32 bytes). MaskL's bits are a
 * subset of MaskS's. Defaults 256 KiB / 1 MiB / 4 MiB give MaskS = top 22 bits, MaskL = top 18 bits.
 *
 * Why boundaries are stable. A cut depends only on the bytes since the chunk start: the hash restarts
 * at every chunk, and after 32 bytes it no longer depends on where it started, so an edit moves only the
 * cuts near it and the cuts after it fall back in step. Across versions and machines nothing else
 * enters: the gear table comes from a fixed seed through integer-only arithmetic (gear.ts), the mask bit
 * count is computed in integers (options.ts), and the TypeScript and WebAssembly kernels are the same
 * 32-bit arithmetic. test/unit/chunking/golden.test.ts pins the table and the boundaries of fixed inputs,
 * so any change to the format fails a test rather than silently breaking dedup with old backups.
 *
 * Use `chunkStream` for files, `Chunker` to push pieces yourself, `cutPoints`/`chunkBuffer` in memory.
 */
export {
  Chunker,
  chunkBuffer,
  chunkerKernel,
  chunkStream,
  cutPoints,
  prepareChunker,
  type Chunk,
  type ChunkerKernel,
} from './chunker.ts';
export {
  chunkerLimits,
  defaultChunkerOptions,
  NORMALIZATION_BITS,
  resolveChunkerOptions,
  smallChunkerOptions,
  type ChunkerOptions,
  type ChunkerParams,
} from './options.ts';
export { GEAR, GEAR_SEED } from './gear.ts';
