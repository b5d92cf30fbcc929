// The shared/crypto API on the data path (DESIGN §3 steps 3-4): chunkId, seal and open on 1 MiB chunks,
// each against the raw node:crypto primitive on the same bytes in the same run (the ratio is the cost of
// our framing; test/bench/primitives.ts has the primitives' own ceilings); and key wrapping for write-only
// mode in ops/s against an Ed25519 signature. Median of 3 passes. Run: node --import tsx test/bench/crypto.ts
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { chunkId, deriveDataKeys, deriveTenantKey } from '../../shared/crypto/keys.ts';
import { open, seal } from '../../shared/crypto/aead.ts';
import { generateWrapKeyPair, unwrapKey, wrapKey } from '../../shared/crypto/wrap.ts';
import { generateSigningKey, sign } from '../../shared/crypto/sign.ts';

import type { BenchResult } from './_tools.ts';

const CHUNK_BYTES = 1 << 20;
const ROUNDS = 64;

/** Seconds per call: the median of 3 passes of `rounds` calls, after a warm-up call. */
function rate(fn: () => void, rounds: number): number {
  fn();
  const passes: number[] = [];
  for (let p = 0; p < 3; p++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) fn();
    passes.push(Number(process.hrtime.bigint() - start) / 1e9 / rounds);
  }
  return passes.sort((a, b) => a - b)[1]!;
}

export async function run(): Promise<BenchResult[]> {
  const chunk = randomBytes(CHUNK_BYTES);
  const keys = deriveDataKeys(deriveTenantKey(new Uint8Array(32), 'bench', 1), 1);
  const mbps = (s: number) => CHUNK_BYTES / (1 << 20) / s;
  const hmac = mbps(rate(() => createHmac('sha256', keys.dedupKey).update(chunk).digest(), ROUNDS));
  const id = mbps(rate(() => chunkId(keys.dedupKey, chunk), ROUNDS));
  const nonce = randomBytes(12);
  const gcm = mbps(rate(() => {
    const c = createCipheriv('aes-256-gcm', keys.dataKey, nonce);
    c.update(chunk);
    c.final();
    c.getAuthTag();
  }, ROUNDS));
  const sealedChunk = seal(keys.dataKey, chunk);
  const sealRate = mbps(rate(() => seal(keys.dataKey, chunk), ROUNDS));
  const openRate = mbps(rate(() => open(keys.dataKey, sealedChunk), ROUNDS));
  const pair = generateWrapKeyPair();
  const key = randomBytes(32);
  const wrapped = wrapKey(pair.publicKey, key);
  const signer = generateSigningKey();
  const ops = (s: number) => 1 / s;
  const signOps = ops(rate(() => sign(signer.privateKey, key), 500));
  const wrapOps = ops(rate(() => wrapKey(pair.publicKey, key), 500));
  const unwrapOps = ops(rate(() => unwrapKey(pair, wrapped), 500));
  const vs = (x: number, base: number, what: string) => `${(x / base).toFixed(2)}x ${what}`;
  return [
    { name: 'raw hmac-sha256 1MiB (baseline)', value: hmac, unit: 'MB/s' },
    { name: 'chunkId 1MiB', value: id, unit: 'MB/s', note: vs(id, hmac, 'raw hmac') },
    { name: 'raw aes-256-gcm 1MiB (baseline)', value: gcm, unit: 'MB/s' },
    { name: 'seal 1MiB', value: sealRate, unit: 'MB/s', note: vs(sealRate, gcm, 'raw gcm') },
    { name: 'open 1MiB', value: openRate, unit: 'MB/s', note: vs(openRate, gcm, 'raw gcm') },
    { name: 'ed25519 sign (baseline)', value: signOps, unit: 'ops/s' },
    { name: 'wrapKey x25519', value: wrapOps, unit: 'ops/s', note: vs(wrapOps, signOps, 'ed25519 sign') },
    { name: 'unwrapKey x25519', value: unwrapOps, unit: 'ops/s', note: vs(unwrapOps, signOps, 'ed25519 sign') },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) {
    console.log(`${r.name.padEnd(32)} ${r.value.toFixed(1).padStart(10)} ${r.unit.padEnd(6)} ${r.note ?? ''}`);
  }
}
