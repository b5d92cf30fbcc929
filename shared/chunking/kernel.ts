/**
 * The FastCDC cut-point search in plain TypeScript: the inner loop the whole chunker spends its time in.
 *
 * For a chunk starting at position 0, bytes [0, min) are not hashed. From position min on, every byte
 * b updates the gear hash `h = (h << 1) + GEAR[b]` (32-bit, starting from 0 at min) and the chunk is
 * cut just after the first byte where `h & mask == 0`, with mask = MaskS for positions below avg and
 * MaskL from avg on. If no byte matches before position max, the chunk is cut at max.
 *
 * The search can stop at the end of one buffer and go on in the next one (the hash travels in `state`),
 * which is how the streaming chunker sees the same boundaries whatever the piece sizes.
 *
 * The loops are written for V8: 32-bit ints only, the table and masks in locals, no calls inside,
 * unrolled four times. Even so V8 runs it at about half the speed of the WebAssembly kernel (wasm.ts),
 * which is used when it can be built; this one is the fallback and the reference.
 */
import { GEAR } from './gear.ts';
import type { ChunkerParams } from './options.ts';

// The same bits as GEAR read as signed ints: V8 keeps them small integers (uint32 values above 2^31
// would not be), which keeps the loop on 32-bit integer instructions.
const GEAR_I32 = new Int32Array(GEAR.buffer, GEAR.byteOffset, GEAR.length);

export interface ScanState {
  /** The gear hash of the current chunk so far (0 until position min). */
  h: number;
}

/** A cut-point search (this one, or the WebAssembly one of wasm.ts): same arguments, same answers. */
export type FindCut = (
  buf: Uint8Array,
  from: number,
  end: number,
  before: number,
  state: ScanState,
  params: ChunkerParams,
) => number;

/**
 * Looks for the end of the current chunk in buf[from, end). `before` bytes of the chunk came before
 * buf[from] (the chunk starts at index from - before, possibly in an earlier buffer). Returns the index
 * just past the chunk's last byte, or -1 when the chunk goes on past `end`; then state.h holds the hash.
 */
export function findCutTs(
  buf: Uint8Array,
  from: number,
  end: number,
  before: number,
  state: ScanState,
  params: ChunkerParams,
): number {
  const start = from - before;
  const hashFrom = start + params.minBytes;
  const normal = start + params.avgBytes;
  const stop = start + params.maxBytes;
  const gear = GEAR_I32;
  let h = state.h | 0;
  let i = from > hashFrom ? from : hashFrom;
  // Part one tests MaskS up to the normal point, part two MaskL up to max; four bytes per turn, then one.
  let mask = params.maskS;
  let until = end < normal ? end : normal;
  for (let part = 0; part < 2; part++) {
    for (; i + 3 < until; i += 4) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i + 1;
      h = ((h << 1) + gear[buf[i + 1]!]!) | 0;
      if ((h & mask) === 0) return i + 2;
      h = ((h << 1) + gear[buf[i + 2]!]!) | 0;
      if ((h & mask) === 0) return i + 3;
      h = ((h << 1) + gear[buf[i + 3]!]!) | 0;
      if ((h & mask) === 0) return i + 4;
    }
    for (; i < until; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i + 1;
    }
    mask = params.maskL;
    until = end < stop ? end : stop;
  }
  if (stop <= end) return stop;
  state.h = h;
  return -1;
}
