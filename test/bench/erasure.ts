// Reed–Solomon throughput: encode, and decode with m data shards lost, at 4+2 and 10+4, for the
// pure TS kernel, the WebAssembly SIMD kernel and the independent implementation (the Rust
// reed-solomon-erasure crate's wasm build) side by side in one run. MB/s counts data bytes
// (k shards) per second; each measurement codes 64 MiB as 1 MiB chunks, best of several runs.
// The independent API takes one contiguous buffer and copies it in and out of its wasm memory;
// that copying is part of what it costs to use, so it is timed, as our copies are.
import { randomBytes } from 'node:crypto';
import { ReedSolomon, splitIntoShards } from '../../shared/erasure/index.ts';
import { concat, independent, RESULT_OK } from '../unit/erasure/independent.ts';
import type { BenchResult } from './_tools.ts';

const chunkBytes = 1 << 20;
const totalBytes = 64 << 20;
const repeats = 7;

interface Measurement {
  key: string;
  bytes: number;
  fn: () => void;
  best: number;
}

/** Runs the measurements round-robin (so a burst of load elsewhere hits all of them alike) and keeps each one's best. */
function measure(list: Measurement[]): void {
  for (const m of list) m.fn(); // warm up: JIT, wasm memory growth, decode matrices
  for (let r = 0; r < repeats; r++) {
    for (const m of list) {
      const started = performance.now();
      m.fn();
      const seconds = (performance.now() - started) / 1000;
      m.best = Math.max(m.best, m.bytes / 1e6 / seconds);
    }
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const chunks = Array.from({ length: totalBytes / chunkBytes }, () => new Uint8Array(randomBytes(chunkBytes)));
  const lib = independent();
  for (const [k, m] of [[4, 2], [10, 4]] as const) {
    const geometry = `${k}+${m}`;
    const sets = chunks.map((c) => splitIntoShards(c, k, m));
    const bytes = sets.length * k * sets[0]![0]!.length;
    const damaged = sets.map((shards) => shards.map((s, i) => (i < m ? null : s))); // m data shards lost
    const theirs = sets.map((s) => concat(s));
    const available = Array.from({ length: k + m }, (_, i) => i >= m);
    const list: Measurement[] = [];
    for (const kernel of ['ts', 'simd'] as const) {
      const rs = await ReedSolomon.create(k, m, { kernel });
      list.push({ key: `encode ${kernel}`, bytes, best: 0, fn: () => sets.forEach((s) => rs.encode(s)) });
      list.push({
        key: `decode ${kernel}`,
        bytes,
        best: 0,
        fn: () => damaged.forEach((s) => rs.reconstruct(s, { dataOnly: true })),
      });
    }
    list.push({
      key: 'encode independent',
      bytes,
      best: 0,
      fn: () => theirs.forEach((b) => lib.encode(b, k, m) === RESULT_OK || fail()),
    });
    list.push({
      key: 'decode independent',
      bytes,
      best: 0,
      fn: () => theirs.forEach((b) => lib.reconstruct(b, k, m, available) === RESULT_OK || fail()),
    });
    measure(list);
    const mbps = (key: string) => list.find((x) => x.key === key)!.best;
    for (const op of ['encode', 'decode'] as const) {
      for (const impl of ['ts', 'simd', 'independent']) {
        results.push({ name: `erasure ${op} ${geometry} ${impl}`, value: round(mbps(`${op} ${impl}`)), unit: 'MB/s' });
      }
      results.push({
        name: `erasure ${op} ${geometry} simd/independent`,
        value: round(mbps(`${op} simd`) / mbps(`${op} independent`), 2),
        unit: 'x',
        note: 'same run',
      });
      results.push({ name: `erasure ${op} ${geometry} simd/ts`, value: round(mbps(`${op} simd`) / mbps(`${op} ts`), 2), unit: 'x' });
    }
  }
  return results;
}

function fail(): never {
  throw new Error('the independent implementation refused the shards');
}

function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(38)} ${String(r.value).padStart(8)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
}
