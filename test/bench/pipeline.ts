// The whole in-memory backup pipeline on one thread, over 256 MiB of generated gateway data (half
// sensor-log text, half random blobs); MB/s counts input bytes. Two compositions:
//   - the one the target names (chunk → hash → encrypt → encode): FastCDC chunk → chunk id
//     (HMAC-SHA-256) → AES-256-GCM seal → Reed–Solomon 4+2 encode;
//   - the same plus what the shard store does next, the SHA-256 of every shard (its id), 1.5× the bytes.
//
// The pipeline seals each chunk straight into its shard buffer (`sealInto` + `allocShards`) and hashes
// each data shard as its ciphertext is written, while it is in cache; the baseline in the same run
// is the plain composition (seal into a new buffer, copy it into zeroed shards, hash them after).
// Each stage is also timed alone, so the ratio shows what the composition costs.
import { createHash, randomBytes } from 'node:crypto';
import { chunkBuffer, prepareChunker, defaultChunkerOptions } from '../../shared/chunking/index.ts';
import { chunkId, deriveDataKeys, deriveTenantKey, generateRootKey, seal } from '../../shared/crypto/index.ts';
import { SEAL_OVERHEAD_BYTES, sealInto } from '../../shared/crypto/aead.ts';
import { ReedSolomon, allocShards, splitIntoShards } from '../../shared/erasure/index.ts';
import type { BenchResult } from './_tools.ts';

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
  let best = { core: Infinity, pipeline: Infinity, plain: Infinity, chunk: Infinity, id: Infinity, seal: Infinity, encode: Infinity, hash: Infinity };
  const k = 4;
  const m = 2;
  for (let round = 0; round < 3; round++) {
    const core = time(() => {
      for (const chunk of chunkBuffer(data, defaultChunkerOptions)) {
        const id = chunkId(keys.dedupKey, chunk.data);
        const { buffer, shards } = allocShards(SEAL_OVERHEAD_BYTES + chunk.data.length, k, m);
        sealInto(keys.dataKey, chunk.data, id, buffer, 0);
        rs.encode(shards);
      }
    });
    const pipeline = time(() => {
      for (const chunk of chunkBuffer(data, defaultChunkerOptions)) {
        const id = chunkId(keys.dedupKey, chunk.data);
        const sealedLength = SEAL_OVERHEAD_BYTES + chunk.data.length;
        const { buffer, shards, shardBytes } = allocShards(sealedLength, k, m);
        const hashers = shards.map(() => createHash('sha256'));
        sealInto(keys.dataKey, chunk.data, id, buffer, 0, (from, to) => {
          for (let at = from; at < to; ) {
            const s = Math.floor(at / shardBytes);
            const end = Math.min(to, (s + 1) * shardBytes);
            hashers[s]!.update(buffer.subarray(at, end));
            at = end;
          }
        });
        // The zero padding of the last data shard, then the parity shards once encoded.
        const last = Math.floor((sealedLength - 1) / shardBytes);
        if (sealedLength < (last + 1) * shardBytes) hashers[last]!.update(buffer.subarray(sealedLength, (last + 1) * shardBytes));
        for (let s = last + 1; s < k; s++) hashers[s]!.update(shards[s]!);
        rs.encode(shards);
        for (let s = k; s < k + m; s++) hashers[s]!.update(shards[s]!);
        for (const h of hashers) h.digest();
      }
    });
    const plain = time(() => {
      for (const chunk of chunkBuffer(data, defaultChunkerOptions)) {
        const id = chunkId(keys.dedupKey, chunk.data);
        const sealed = seal(keys.dataKey, chunk.data, id);
        const shards = splitIntoShards(sealed, k, m);
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
      core: Math.min(best.core, core),
      pipeline: Math.min(best.pipeline, pipeline),
      plain: Math.min(best.plain, plain),
      chunk: Math.min(best.chunk, chunk),
      id: Math.min(best.id, id),
      seal: Math.min(best.seal, sealTime),
      encode: Math.min(best.encode, encode),
      hash: Math.min(best.hash, hash),
    };
  }
  const stages = best.chunk + best.id + best.seal + best.encode + best.hash;
  return [
    { name: 'pipeline chunk+id+seal+encode 4+2', value: mb / best.core, unit: 'MB/s', note: `${chunks.length} chunks, kernel ${rs.kernel}, sealed into the shards; target ≥ 250` },
    { name: 'pipeline chunk+id+seal+encode 4+2+hash', value: mb / best.pipeline, unit: 'MB/s', note: `the same and every shard's SHA-256 as the store takes it; ${(best.plain / best.pipeline).toFixed(2)}× the baseline` },
    { name: 'baseline: seal, copy into shards, hash after', value: mb / best.plain, unit: 'MB/s' },
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
