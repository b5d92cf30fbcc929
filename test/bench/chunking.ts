// Chunker throughput: MB/s of the FastCDC cut-point search over ~256 MiB of generated data (half
// pseudo-random bytes, half sensor-log text lines), with the default sizes (256K/1M/4M) and the small
// profile (64K/256K/1M), for the WebAssembly kernel, the TypeScript fallback, and the streaming chunker
// fed 64 KiB pieces (what fs.createReadStream yields; includes assembling chunks from pieces). Baseline: SHA-256 over the same data in the same run (the chunk-id HMAC that follows
// the chunker runs at about that speed, so a ratio above 1 means chunking is not the bottleneck).
// Each figure is the median of 3 passes after a warm-up pass. Run: node --import tsx test/bench/chunking.ts
import { createHash, randomFillSync } from 'node:crypto';
import { Chunker, cutPoints, prepareChunker, type ChunkerKernel, type ChunkerOptions } from '../../shared/chunking/index.ts';
import { defaultChunkerOptions, smallChunkerOptions } from '../../shared/chunking/index.ts';
import type { BenchResult } from './_tools.ts';

const MiB = 1024 * 1024;
const TOTAL_BYTES = 256 * MiB;
const PASSES = 3;
const PIECE_BYTES = 64 * 1024;

function generate(): Uint8Array {
  const data = new Uint8Array(TOTAL_BYTES);
  const half = TOTAL_BYTES / 2;
  for (let at = 0; at < half; at += 64 * 1024) randomFillSync(data, at, 64 * 1024);
  // Sensor-log lines with varying numbers, like the files an agent backs up.
  const encoder = new TextEncoder();
  let at = half;
  let seq = 0;
  let x = 0x2bac5a;
  while (at < TOTAL_BYTES) {
    x = (Math.imul(x, 1103515245) + 12345) | 0;
    const r = x >>> 8;
    const line = encoder.encode(
      `2024-05-01T${String((seq / 3600) % 24 | 0).padStart(2, '0')}:${String((seq / 60) % 60 | 0).padStart(2, '0')}:` +
        `${String(seq % 60).padStart(2, '0')}.${String(r % 1000).padStart(3, '0')}Z gw-${r % 16} ` +
        `temp=${(15 + (r % 2000) / 100).toFixed(2)} hum=${(30 + (r % 4000) / 100).toFixed(2)} seq=${seq}\n`,
    );
    const take = Math.min(line.length, TOTAL_BYTES - at);
    data.set(line.subarray(0, take), at);
    at += take;
    seq++;
  }
  return data;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function mbPerS(bytes: number, fn: () => void): { median: number; best: number } {
  fn(); // warm-up: lets V8 tier up the JS and wasm code before timing
  const rates: number[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    const started = performance.now();
    fn();
    rates.push(bytes / 1e6 / ((performance.now() - started) / 1000));
  }
  return { median: median(rates), best: Math.max(...rates) };
}

function streamAll(data: Uint8Array, options: ChunkerOptions, kernel: ChunkerKernel): number {
  const chunker = new Chunker(options, kernel);
  let chunks = 0;
  for (let at = 0; at < data.length; at += PIECE_BYTES) chunks += chunker.push(data.subarray(at, at + PIECE_BYTES)).length;
  return chunks + chunker.finish().length;
}

export async function run(): Promise<BenchResult[]> {
  const kernel = await prepareChunker();
  const data = generate();
  const results: BenchResult[] = [];

  const sha = mbPerS(data.length, () => {
    for (let at = 0; at < data.length; at += MiB) createHash('sha256').update(data.subarray(at, at + MiB)).digest();
  });
  results.push({ name: 'baseline sha256', value: Math.round(sha.median), unit: 'MB/s', note: `best ${sha.best.toFixed(0)}` });

  const profiles: [string, ChunkerOptions][] = [
    ['default 256K/1M/4M', defaultChunkerOptions],
    ['small 64K/256K/1M', smallChunkerOptions],
  ];
  const kernels: ChunkerKernel[] = kernel === 'wasm' ? ['wasm', 'ts'] : ['ts'];
  for (const [label, options] of profiles) {
    for (const k of kernels) {
      let chunks = 0;
      const rate = mbPerS(data.length, () => {
        chunks = cutPoints(data, options, k).length;
      });
      const meanKiB = data.length / chunks / 1024;
      results.push({
        name: `cutPoints ${k} ${label}`,
        value: Math.round(rate.median),
        unit: 'MB/s',
        note: `${(rate.median / sha.median).toFixed(2)}x sha256, best ${rate.best.toFixed(0)}, ${chunks} chunks, mean ${meanKiB.toFixed(0)} KiB`,
      });
    }
    const k = kernels[0]!;
    const stream = mbPerS(data.length, () => void streamAll(data, options, k));
    results.push({
      name: `Chunker.push ${k} ${label} (64 KiB pieces)`,
      value: Math.round(stream.median),
      unit: 'MB/s',
      note: `${(stream.median / sha.median).toFixed(2)}x sha256, best ${stream.best.toFixed(0)}`,
    });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(48)} ${String(r.value).padStart(8)} ${r.unit}  ${r.note ?? ''}`);
}
