/**
 * Content-defined chunking of streams and buffers (FastCDC; the algorithm is in kernel.ts).
 *
 * `Chunker` takes pieces of any size and hands back the chunks they complete; `finish()` hands back
 * the tail. It holds at most maxBytes - 1 bytes of an unfinished chunk plus the piece being pushed:
 * whole pieces are kept by reference, and the remainder of a piece that held a cut is copied, so an
 * old large piece is never kept alive by a small tail. The chunks a piece completes may share memory
 * with that piece (zero copy when a chunk lies within one piece): do not reuse a buffer after pushing it.
 *
 * Boundaries depend only on the bytes: the search carries its hash across pieces, so any split of the
 * same data into pieces gives the same chunks as `cutPoints` over the whole buffer.
 *
 * The search runs in the WebAssembly kernel once it is built (`prepareChunker()`; `chunkStream` does
 * it for you), else in the TypeScript one; both give the same boundaries.
 */
import { findCutTs, type FindCut, type ScanState } from './kernel.ts';
import { resolveChunkerOptions, type ChunkerOptions, type ChunkerParams } from './options.ts';
import { loadWasmFindCut, wasmFindCutIfLoaded } from './wasm.ts';

export interface Chunk {
  /** Where the chunk starts in the stream. */
  offset: number;
  data: Uint8Array;
}

export type ChunkerKernel = 'wasm' | 'ts';

/** Builds the fast kernel (once per process). Resolves which kernel chunkers made from now on use. */
export async function prepareChunker(): Promise<ChunkerKernel> {
  return (await loadWasmFindCut()) ? 'wasm' : 'ts';
}

/** The kernel a chunker made now would use. */
export function chunkerKernel(): ChunkerKernel {
  return wasmFindCutIfLoaded() ? 'wasm' : 'ts';
}

function kernelFor(kernel: ChunkerKernel | undefined): FindCut {
  if (kernel === 'ts') return findCutTs;
  const wasm = wasmFindCutIfLoaded();
  if (kernel === 'wasm' && !wasm) throw new Error('invariant violated: the wasm chunker kernel is not built; await prepareChunker()');
  return wasm ?? findCutTs;
}

export class Chunker {
  readonly params: ChunkerParams;
  private readonly findCut: FindCut;
  private readonly state: ScanState = { h: 0 };
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private offset = 0;

  /** `kernel` forces one kernel (tests, benchmarks); by default the fastest one built. */
  constructor(options: Partial<ChunkerOptions> = {}, kernel?: ChunkerKernel) {
    this.params = resolveChunkerOptions(options);
    this.findCut = kernelFor(kernel);
  }

  /** Bytes of the unfinished chunk held now (always below maxBytes). */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds the next piece; returns the chunks it completes, in order. */
  push(piece: Uint8Array): Chunk[] {
    const out: Chunk[] = [];
    const end = piece.length;
    let from = 0;
    while (from < end) {
      const cut = this.findCut(piece, from, end, this.pendingBytes, this.state, this.params);
      if (cut < 0) {
        // A copy (not piece.slice: on a Buffer that is a view) lets the old piece go.
        this.pending.push(from === 0 ? piece : new Uint8Array(piece.subarray(from)));
        this.pendingBytes += end - from;
        break;
      }
      this.emit(out, piece.subarray(from, cut));
      from = cut;
    }
    return out;
  }

  /** Ends the stream: returns the last chunk (shorter than minBytes possibly), if any bytes are left. */
  finish(): Chunk[] {
    const out: Chunk[] = [];
    if (this.pendingBytes > 0) this.emit(out, new Uint8Array(0));
    return out;
  }

  private emit(out: Chunk[], last: Uint8Array): void {
    let data = last;
    if (this.pending.length === 1 && last.length === 0) {
      data = this.pending[0]!;
      this.pending = [];
      this.pendingBytes = 0;
    } else if (this.pending.length > 0) {
      data = new Uint8Array(this.pendingBytes + last.length);
      let at = 0;
      for (const part of this.pending) {
        data.set(part, at);
        at += part.length;
      }
      data.set(last, at);
      this.pending = [];
      this.pendingBytes = 0;
    }
    out.push({ offset: this.offset, data });
    this.offset += data.length;
    this.state.h = 0;
  }
}

/** Chunks an async stream of pieces (a file read stream, say) without ever holding the whole stream. */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  options: Partial<ChunkerOptions> = {},
): AsyncGenerator<Chunk, void, undefined> {
  await prepareChunker();
  const chunker = new Chunker(options);
  for await (const piece of source) yield* chunker.push(piece);
  yield* chunker.finish();
}

/**
 * The end offset (exclusive) of every chunk of an in-memory buffer; the last one is buf.length.
 * Synchronous: it uses the WebAssembly kernel if `prepareChunker()` has built it, else the TypeScript one.
 */
export function cutPoints(buf: Uint8Array, options: Partial<ChunkerOptions> = {}, kernel?: ChunkerKernel): number[] {
  const params = resolveChunkerOptions(options);
  const findCut = kernelFor(kernel);
  const state: ScanState = { h: 0 };
  const cuts: number[] = [];
  let start = 0;
  while (start < buf.length) {
    state.h = 0;
    const cut = findCut(buf, start, buf.length, 0, state, params);
    start = cut < 0 ? buf.length : cut;
    cuts.push(start);
  }
  return cuts;
}

/** The chunks of an in-memory buffer, as views into it. */
export function chunkBuffer(buf: Uint8Array, options: Partial<ChunkerOptions> = {}): Chunk[] {
  let offset = 0;
  return cutPoints(buf, options).map((cut) => {
    const chunk = { offset, data: buf.subarray(offset, cut) };
    offset = cut;
    return chunk;
  });
}
