// The whole in-memory backup pipeline on one thread: FastCDC chunk → chunk id (HMAC-SHA-256) →
// AES-256-GCM seal → Reed–Solomon 4+2 encode → shard hashes (SHA-256), over 256 MiB of generated
// gateway data (half sensor-log text, half random blobs). MB/s counts input bytes. Each stage is
// also timed alone in the same run, so the ratio shows what the composition costs.
import { createHash, randomBytes } from 'node:crypto';
import { chunkBuffer, prepareChunker, defaultChunkerOptions } from '../../shared/chunking/index.ts';
import { chunkId, deriveDataKeys, deriveTenantKey, generateRootKey, seal } from '../../shared/crypto/index.ts';
import { ReedSolomon, splitIntoShards } from '../../shared/erasure/index.ts';

interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const totalBytes = 256 << 20;

function gatewayData(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const half = bytes >> 1;
  let at = 0;
  let t = 1_790_000_000;
  while (at < half) {
    const line = Buffer.from(`${t},s${(t % 40).toString().padStart(3, '0')},${(20 + Math.sin(t / 600) * 3).toFixed(3)},ok\n`);
    out.set(line.subarray(0, Math.min(line.length, half - at)), at);
    at += line.length;
    t++;
  }
  out.set(randomBytes(bytes - half), half);
  return out;
}

function time(fn: () => void): number {
  const started = performance.now();
  fn();
  return (performance.now() - started) / 1000;
}

export async function run(): Promise<BenchResult[]> {
  await prepareChunker();
  const data = gatewayData(totalBytes);
  const keys = deriveDataKeys(deriveTenantKey(generateRootKey(), 'bench-tenant', 1), 1);
  const rs = await ReedSolomon.create(4, 2);
  const mb = totalBytes / 1e6;

  const chunks = chunkBuffer(data, defaultChunkerOptions);
  let best = { pipeline: Infinity, chunk: Infinity, id: Infinity, seal: Infinity, encode: Infinity, hash: Infinity };
  for (let round = 0; round < 3; round++) {
    const pipeline = time(() => {
      for (const chunk of chunkBuffer(data, defaultChunkerOptions)) {
        const id = chunkId(keys.dedupKey, chunk.data);
        const sealed = seal(keys.dataKey, chunk.data, id);
        const shards = splitIntoShards(sealed, 4, 2);
        rs.encode(shards);
        for (const s of shards) createHash('sha256').update(s).digest();
      }
    });
    const chunk = time(() => void chunkBuffer(data, defaultChunkerOptions));
    const id = time(() => chunks.forEach((c) => chunkId(keys.dedupKey, c.data)));
    const sealedAll: Uint8Array[] = [];
    const sealTime = time(() => chunks.forEach((c) => sealedAll.push(seal(keys.dataKey, c.data))));
    const shardSets = sealedAll.map((s) => splitIntoShards(s, 4, 2));
    const encode = time(() => shardSets.forEach((s) => rs.encode(s)));
    const hash = time(() => shardSets.forEach((set) => set.forEach((s) => createHash('sha256').update(s).digest())));
    best = {
      pipeline: Math.min(best.pipeline, pipeline),
      chunk: Math.min(best.chunk, chunk),
      id: Math.min(best.id, id),
      seal: Math.min(best.seal, sealTime),
      encode: Math.min(best.encode, encode),
      hash: Math.min(best.hash, hash),
    };
  }
  const stages = best.chunk + best.id + best.seal + best.encode + best.hash;
  return [
    { name: 'pipeline chunk+id+seal+encode 4+2+hash', value: mb / best.pipeline, unit: 'MB/s', note: `${chunks.length} chunks, kernel ${rs.kernel}` },
    { name: 'stage: chunk (FastCDC)', value: mb / best.chunk, unit: 'MB/s' },
    { name: 'stage: chunk id (HMAC-SHA-256)', value: mb / best.id, unit: 'MB/s' },
    { name: 'stage: seal (AES-256-GCM)', value: mb / best.seal, unit: 'MB/s' },
    { name: 'stage: RS 4+2 encode', value: mb / best.encode, unit: 'MB/s' },
    { name: 'stage: shard hashes (SHA-256, 1.5x bytes)', value: mb / best.hash, unit: 'MB/s' },
    { name: 'pipeline / sum of stages alone', value: stages / best.pipeline, unit: 'x', note: '1.0 = no composition overhead' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(44)} ${r.value.toFixed(2).padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}`);
}
