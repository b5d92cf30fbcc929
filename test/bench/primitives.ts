// Crypto primitive throughput on this machine, the ceilings of the data path: SHA-256 (shard hashes),
// HMAC-SHA-256 (chunk ids), AES-256-GCM encryption (chunk data), each over 1 MiB buffers with
// node:crypto, and Ed25519 signatures and verifications per second (shared/crypto/sign.ts, 256-byte
// messages, the size of a ledger vote). Baselines in the same run: memcpy of the same buffers for the
// MB/s figures, signing for verification. Each figure is the median of 3 timed passes after a warm-up.
// Run: node --import tsx test/bench/primitives.ts
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { generateSigningKey, sign, verify } from '../../shared/crypto/sign.ts';
import type { BenchResult } from './_tools.ts';

const MiB = 1024 * 1024;
const BUFFERS = 128; // 128 x 1 MiB per pass
const SIGN_MESSAGE_BYTES = 256;
const SIGN_PASS_MS = 1000;
const PASSES = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median rate of `fn` per pass, in units of `amount` per second. */
function rate(amount: number, fn: () => void): { median: number; best: number } {
  fn();
  const rates: number[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    const started = performance.now();
    fn();
    rates.push(amount / ((performance.now() - started) / 1000));
  }
  return { median: median(rates), best: Math.max(...rates) };
}

/** Operations per second of `op` over passes of about SIGN_PASS_MS. */
function opsPerS(op: (i: number) => void): { median: number; best: number } {
  let n = 0;
  const warm = performance.now();
  while (performance.now() - warm < 200) op(n++);
  const perPass = Math.max(10, Math.round((n / 200) * SIGN_PASS_MS));
  return rate(perPass, () => {
    for (let i = 0; i < perPass; i++) op(i);
  });
}

export async function run(): Promise<BenchResult[]> {
  const buffers = Array.from({ length: BUFFERS }, () => randomBytes(MiB));
  const target = Buffer.alloc(MiB);
  const megabytes = (BUFFERS * MiB) / 1e6;
  const results: BenchResult[] = [];
  const mbs = (name: string, r: { median: number; best: number }, base?: number): void => {
    results.push({
      name,
      value: Math.round(r.median),
      unit: 'MB/s',
      note: `${base ? `${(r.median / base).toFixed(2)}x memcpy, ` : ''}best ${r.best.toFixed(0)}`,
    });
  };

  const copy = rate(megabytes, () => {
    for (const b of buffers) b.copy(target);
  });
  mbs('baseline memcpy 1 MiB', copy);
  mbs('sha256 1 MiB', rate(megabytes, () => {
    for (const b of buffers) createHash('sha256').update(b).digest();
  }), copy.median);
  const hmacKey = randomBytes(32);
  mbs('hmac-sha256 1 MiB', rate(megabytes, () => {
    for (const b of buffers) createHmac('sha256', hmacKey).update(b).digest();
  }), copy.median);
  const aesKey = randomBytes(32);
  const iv = randomBytes(12);
  mbs('aes-256-gcm encrypt 1 MiB', rate(megabytes, () => {
    for (const b of buffers) {
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv); // a fixed IV is fine for timing only
      cipher.update(b);
      cipher.final();
      cipher.getAuthTag();
    }
  }), copy.median);

  const pair = generateSigningKey();
  const messages = Array.from({ length: 64 }, () => randomBytes(SIGN_MESSAGE_BYTES));
  const signatures = messages.map((m) => sign(pair.privateKey, m));
  const signs = opsPerS((i) => void sign(pair.privateKey, messages[i % messages.length]!));
  let bad = 0;
  const verifies = opsPerS((i) => {
    if (!verify(pair.publicKey, messages[i % messages.length]!, signatures[i % signatures.length]!)) bad++;
  });
  if (bad > 0) throw new Error(`invariant violated: ${bad} good signatures did not verify`);
  results.push({ name: 'ed25519 sign 256 B', value: Math.round(signs.median), unit: 'ops/s', note: `best ${signs.best.toFixed(0)}` });
  results.push({
    name: 'ed25519 verify 256 B',
    value: Math.round(verifies.median),
    unit: 'ops/s',
    note: `${(verifies.median / signs.median).toFixed(2)}x sign, best ${verifies.best.toFixed(0)}`,
  });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(32)} ${String(r.value).padStart(8)} ${r.unit}  ${r.note ?? ''}`);
}
