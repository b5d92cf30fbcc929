// The message path (DESIGN §4) and the ledger audit (§5). Envelope seal/open in ops/s for a 256-byte
// Consensus message (the hot path: thousands a second) and a CommitRequest with a 48-shard record,
// each against its floor measured in the same run: one raw Ed25519 verify plus a plain @msgpack/msgpack
// decode with no limits. The ratio says what the limits, the structural scan and the schemas cost on top.
// Also decodeUntrusted vs plain decode on the record, and verifyChain in blocks/s (3 signatures + 4
// records each) against 3 raw verifies. Median of 3 passes. Run: node --import tsx test/bench/protocol.ts
import { decode } from '@msgpack/msgpack';
import { sign, signingKeyFromSeed, verify } from '../../shared/crypto/sign.ts';
import { ReplayGuard, decodeUntrusted, openEnvelope, sealEnvelope, transactionDigest, type BlockRecord, type OutgoingMessage } from '../../shared/protocol/index.ts';
import { SignerRegistry, nextBlock, signWithAll, verifyChain, type Block } from '../../shared/ledger/index.ts';

import type { BenchResult } from './_tools.ts';

/** Calls per second: the median of 3 passes of `rounds` calls, after a warm-up pass. */
function opsPerSecond(fn: (i: number) => void, rounds: number): number {
  let n = 0;
  for (let i = 0; i < Math.min(rounds, 200); i++) fn(n++);
  const passes: number[] = [];
  for (let p = 0; p < 3; p++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) fn(n++);
    passes.push(rounds / (Number(process.hrtime.bigint() - start) / 1e9));
  }
  return passes.sort((a, b) => a - b)[1]!;
}

const key = signingKeyFromSeed(new Uint8Array(32).fill(1));
const keys = Array.from({ length: 4 }, (_, i) => ({ id: `n${i}`, ...signingKeyFromSeed(new Uint8Array(32).fill(i + 10)) }));
const registry = new SignerRegistry(keys);
const h = (n: number) => new Uint8Array(32).fill(n);

function record(n: number): BlockRecord {
  const content = {
    txId: h(n).subarray(0, 16), ts: 1_700_000_000_000 + n, account: 'plant-7.example.org', snapshotId: `snap-${n}`,
    manifestRoot: h(n + 1), dataShards: 4, parityShards: 2,
    shards: Array.from({ length: 48 }, (_, i) => ({ chunk: h(i >> 3), index: i % 6, hash: h(i), node: `n${i % 4}` })),
  };
  const digest = transactionDigest(content);
  return { ...content, signatures: keys.slice(0, 3).map((k) => ({ signer: k.id, signature: sign(k.privateKey, digest) })) };
}

export async function run(): Promise<BenchResult[]> {
  const now = 1_700_000_000_000;
  const keyOf = (id: string) => (id === 'n0' ? key.publicKey : undefined);
  const results: BenchResult[] = [];
  const rounds = 4000;

  const r1 = record(1);
  const cases: [string, (i: number) => OutgoingMessage][] = [
    ['Consensus 256 B', (i) => ({ type: 'Consensus', from: 'n0', ts: now + (i % 1000), body: new Uint8Array(256).fill(i & 0xff) })],
    ['CommitRequest, 48-shard record', (i) => ({ type: 'CommitRequest', from: 'n0', ts: now + (i % 1000), body: { txId: r1.txId, record: r1 } })],
  ];
  for (const [name, make] of cases) {
    const envelopes = Array.from({ length: rounds * 4 + 200 }, (_, i) => sealEnvelope(make(i), key));
    const sealOps = opsPerSecond((i) => sealEnvelope(make(i), key), rounds);
    const guard = new ReplayGuard({ idsMax: 1_000_000 });
    const openOps = opsPerSecond((i) => openEnvelope(envelopes[i]!, { keyOf, now, replay: guard }), rounds);
    const floorOps = opsPerSecond((i) => {
      const outer = decode(envelopes[i]!) as { p: Uint8Array; s: Uint8Array };
      decode(outer.p);
      verify(key.publicKey, outer.p, outer.s);
    }, rounds);
    results.push({ name: `seal ${name}`, value: sealOps, unit: 'ops/s' });
    results.push({ name: `open ${name}`, value: openOps, unit: 'ops/s', note: `${(openOps / floorOps).toFixed(2)}× of decode+verify floor ${Math.round(floorOps)} ops/s` });
  }

  const bytes = sealEnvelope({ type: 'BlockRecord', from: 'n0', ts: now, body: record(2) }, key);
  const payload = (decode(bytes) as { p: Uint8Array }).p;
  const plainOps = opsPerSecond(() => decode(payload), rounds);
  const limitedOps = opsPerSecond(() => decodeUntrusted(payload), rounds);
  results.push({ name: 'decodeUntrusted 48-shard record', value: limitedOps, unit: 'ops/s', note: `${(limitedOps / plainOps).toFixed(2)}× of plain decode` });

  const chain: Block[] = [];
  for (let b = 0; b < 50; b++) {
    chain.push(signWithAll(nextBlock(chain[b - 1], now + b, [0, 1, 2, 3].map((j) => record(b * 4 + j))), keys.slice(0, 3)));
  }
  const chainOps = opsPerSecond(() => {
    if (!verifyChain(chain, registry, { recordSignatures: false }).ok) throw new Error('bench chain does not verify');
  }, 10) * chain.length;
  const fullOps = opsPerSecond(() => verifyChain(chain, registry), 4) * chain.length;
  const data = payload.subarray(0, 100);
  const sig = sign(key.privateKey, data);
  const verifyOps = opsPerSecond(() => verify(key.publicKey, data, sig), rounds);
  results.push({ name: 'verifyChain, certificates only', value: chainOps, unit: 'blocks/s', note: `${(chainOps / (verifyOps / 3)).toFixed(2)}× of 3 raw verifies` });
  results.push({ name: 'verifyChain, with 12 record signatures', value: fullOps, unit: 'blocks/s', note: `${(fullOps / (verifyOps / 15)).toFixed(2)}× of 15 raw verifies` });
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) process.stdout.write(`${r.name.padEnd(44)} ${Math.round(r.value).toString().padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
}
