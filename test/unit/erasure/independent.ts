// The independent implementation the tests and the benchmark compare with: the Rust
// reed-solomon-erasure crate compiled to wasm (@digitaldefiance/reed-solomon-erasure.wasm).
// Its ESM build looks for the .wasm through `__dirname`, so load the bytes ourselves.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';

const require = createRequire(import.meta.url);

let instance: ReedSolomonErasure | undefined;

export function independent(): ReedSolomonErasure {
  instance ??= ReedSolomonErasure.fromBytes(readFileSync(require.resolve('@digitaldefiance/reed-solomon-erasure.wasm/wasm')));
  return instance;
}

export const RESULT_OK = ReedSolomonErasure.RESULT_OK;

/** n shards laid end to end in one buffer, the layout the crate's wasm API takes. */
export function concat(shards: readonly Uint8Array[]): Uint8Array {
  const size = shards[0]?.length ?? 0;
  const out = new Uint8Array(size * shards.length);
  shards.forEach((s, i) => out.set(s, i * size));
  return out;
}
