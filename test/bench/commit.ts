/**
 * Placement and hybrid-commit core throughput (no I/O: the cores are pure).
 *   place 4+2 over 6 / 12+8 over 20     chunks placed per second (rack-aware, residency off)
 *   commit round 4+2, 4 chunks          transactions through Coordinator + 6 Participants (prepare, stage
 *                                       report, signed responses, ordering, block) per second
 * Baselines in the same run: ranking the same members for one key with storage's rankVolumes (plain HRW,
 * no spread) and the Ed25519 work one transaction needs (6 signatures + 6 verifications), so the ratios say
 * what spreading and the state machines cost on top.
 */
import { createHash } from 'node:crypto';
import { Coordinator, Participant, type CoordinatorAction, type ParticipantAction, type TxSpec } from '../../shared/commit/index.ts';
import { sign, signingKeyFromSeed, verify } from '../../shared/crypto/sign.ts';
import { place } from '../../shared/placement/index.ts';
import { sha256, transactionDigest } from '../../shared/protocol/digest.ts';
import type { BlockRecord } from '../../shared/protocol/messages.ts';
import { rankVolumes } from '../../shared/storage/index.ts';
import type { BenchResult } from './_tools.ts';

function rate(fn: (i: number) => void, minMs = 400): number {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < minMs) fn(n++);
  return n / ((performance.now() - start) / 1000);
}

const members = (n: number, racks: number) => Array.from({ length: n }, (_, i) => ({ id: `node-${i}`, domain: `rack-${i % racks}` }));

function placementResults(): BenchResult[] {
  const out: BenchResult[] = [];
  for (const [label, n, k, m, racks] of [['4+2 over 6', 6, 4, 2, 3], ['12+8 over 20', 20, 12, 8, 5]] as const) {
    const list = members(n, racks);
    const vols = list.map((x) => ({ id: x.id, weight: 1 }));
    const base = rate((i) => rankVolumes(vols, `chunk-${i}`));
    const ours = rate((i) => place(`chunk-${i}`, k + m, list, { parityShards: m }));
    out.push({ name: `place ${label}`, value: ours, unit: 'chunks/s', note: `${(ours / base).toFixed(2)}× of plain HRW ranking (${base.toFixed(0)}/s)` });
  }
  return out;
}

function commitResults(): BenchResult[] {
  const ids = Array.from({ length: 6 }, (_, i) => `n${i}`);
  const keys = new Map(ids.map((id) => [id, signingKeyFromSeed(new Uint8Array(createHash('sha256').update(id).digest()))]));
  const verifyTx = (s: string, d: Uint8Array, sig: Uint8Array) => verify(keys.get(s)!.publicKey, d, sig);
  const coord = new Coordinator({ self: 'n0', verify: verifyTx });
  const parts = new Map(ids.map((id) => [id, new Participant({ self: id, sign: (d) => sign(keys.get(id)!.privateKey, d) })]));
  const shards = Array.from({ length: 4 }, (_, c) => {
    const chunk = sha256(Buffer.from(`c${c}`));
    return Array.from({ length: 6 }, (_, index) => {
      const data = new Uint8Array(64).fill(index + c);
      return { chunk, index, hash: sha256(data), data };
    });
  }).flat();
  let height = 0;
  const one = (i: number): void => {
    const txId = sha256(Buffer.from(`bench-tx-${i}`));
    const spec: TxSpec = { txId, ts: 1_000, account: 'a', snapshotId: 's', manifestRoot: new Uint8Array(32), dataShards: 4, parityShards: 2, shards };
    let cq: CoordinatorAction[] = coord.step({ kind: 'begin', requester: 'agent', spec, members: ids.map((id) => ({ id })), nowMs: 1_000 });
    let record: BlockRecord | undefined;
    while (cq.length) {
      const next: CoordinatorAction[] = [];
      for (const a of cq) {
        if (a.kind === 'queryLedger') next.push(...coord.step({ kind: 'ledgerAnswer', txId: a.txId, tipTimeMs: 1_000 }));
        else if (a.kind === 'submitForOrdering') record = a.request.record;
        else if (a.kind === 'send' && a.message.type === 'PrepareRequest') {
          const p = parts.get(a.to)!;
          let pq: ParticipantAction[] = p.step({ kind: 'prepareRequest', from: 'n0', body: a.message.body, nowMs: 1_000 });
          for (const s of pq.filter((x) => x.kind === 'stage')) pq = pq.concat(p.step({ kind: 'staged', ticket: s.ticket, ok: true }));
          for (const r of pq) if (r.kind === 'send' && r.message.type === 'PrepareResponse') next.push(...coord.step({ kind: 'prepareResponse', from: a.to, body: r.message.body }));
        }
      }
      cq = next;
    }
    const block = { kind: 'blockCommitted' as const, height: height++, blockHash: new Uint8Array(32), timeMs: 1_000, records: [record!] };
    coord.step(block);
    for (const p of parts.values()) p.step(block);
  };
  const ours = rate(one, 800);
  const digest = transactionDigest({ txId: new Uint8Array(16), ts: 0, account: 'a', snapshotId: 's', manifestRoot: new Uint8Array(32), dataShards: 4, parityShards: 2, shards: [] });
  const base = rate(() => {
    for (const id of ids) verifyTx(id, digest, sign(keys.get(id)!.privateKey, digest));
  }, 800);
  return [{ name: 'commit round 4+2, 4 chunks, 6 targets', value: ours, unit: 'tx/s', note: `${(ours / base).toFixed(2)}× of its Ed25519 floor (${base.toFixed(0)}/s)` }];
}

export async function run(): Promise<BenchResult[]> {
  return [...placementResults(), ...commitResults()];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(40)} ${r.value.toFixed(0).padStart(10)} ${r.unit}  ${r.note ?? ''}`);
}
