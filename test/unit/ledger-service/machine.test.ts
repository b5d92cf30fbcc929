// LedgerMachine: the PBFT Application that forms ledger blocks (DESIGN §5 "hybrid commit"; the admission
// rule of shared/commit/deadline.ts point 2). Determinism, batch sealing, admission, snapshot/restore.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockHash, merkleRoot, signWithAll, verifyChain, GENESIS_PREV_HASH, type UnsignedBlock } from '../../../shared/ledger/index.ts';
import { LedgerMachine, decodeLedgerResult, encodeLedgerOp, type LedgerResult } from '../../../shared/ledger-service/index.ts';
import { LIFETIME_MS, T0, commitOp, commitRequest, ctx, keys, outsider, registry } from './fixture.ts';

const machine = (options = {}) => new LedgerMachine({ registry, options: { txLifetimeMs: LIFETIME_MS, clockSkewMsMax: 30_000, ...options } });
const run = (m: LedgerMachine, op: Uint8Array, seq: number, timeMs: number): LedgerResult => decodeLedgerResult(m.execute(op, ctx(seq, timeMs)));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const hashes = (blocks: UnsignedBlock[]) => blocks.map((b) => hex(blockHash(b)));

test('one batch forms one block at its seq boundary; block fields are what the ledger expects', () => {
  const m = machine();
  assert.equal(run(m, commitOp('a', T0), 1, T0 + 10), { ok: true, height: 0 });
  assert.equal(run(m, commitOp('b', T0), 1, T0 + 10), { ok: true, height: 0 });
  assert.is(m.takeBlocks().length, 0, 'the batch is still open');
  assert.equal(run(m, commitOp('c', T0), 2, T0 + 20), { ok: true, height: 1 }); // seq change seals batch 1
  const [b0] = m.takeBlocks();
  assert.ok(b0);
  assert.is(b0.height, 0);
  assert.equal(b0.prevHash, GENESIS_PREV_HASH);
  assert.is(b0.time, T0 + 10);
  assert.is(b0.records.length, 2);
  assert.equal(b0.merkleRoot, merkleRoot(b0.records));
  m.endBatch(2);
  const [b1] = m.takeBlocks();
  assert.ok(b1);
  assert.equal(b1.prevHash, blockHash(b0));
  assert.equal(m.tip(), { height: 1, hash: blockHash(b1), time: T0 + 20 });
  // The blocks pass the chain verifier once signed by a quorum (record signatures checked too).
  const verdict = verifyChain([b0, b1].map((b) => signWithAll(b, keys.slice(0, 3))), registry);
  assert.ok(verdict.ok, JSON.stringify(verdict));
});

test('replicas that learn of batch ends at different moments form byte-identical blocks and snapshots', () => {
  const ops = [commitOp('a', T0), commitOp('b', T0), commitOp('c', T0), encodeLedgerOp({ op: 'cut', pastMs: T0 + 25 }), commitOp('d', T0)];
  const seqs = [1, 1, 2, 3, 5];
  const early = machine();
  const late = machine();
  const snapEarly: string[] = [];
  const snapLate: string[] = [];
  ops.forEach((op, i) => {
    const seq = seqs[i]!;
    const t = T0 + seq * 10;
    assert.equal(early.execute(op, ctx(seq, t)), late.execute(op, ctx(seq, t)), 'same result bytes');
    if (seqs[i + 1] !== seq) early.endBatch(seq); // this shell reports each batch as soon as it ran
    if (i === 2) {
      snapEarly.push(hex(early.snapshot()));
      snapLate.push(hex(late.snapshot())); // seals batch 2 itself
    }
  });
  late.endBatch(5);
  assert.equal(snapEarly, snapLate);
  const a = early.takeBlocks();
  const b = late.takeBlocks();
  assert.is(a.length, 4, 'batches 1, 2, 3 (cut) and 5');
  assert.equal(hashes(a), hashes(b));
  assert.equal(hex(early.snapshot()), hex(late.snapshot()));
});

test('block time never decreases, even if the primary clock goes back', () => {
  const m = machine();
  run(m, commitOp('a', T0), 1, T0 + 1000);
  run(m, commitOp('b', T0), 2, T0 + 500); // a new primary with a slower clock
  m.endBatch(2);
  const [b0, b1] = m.takeBlocks();
  assert.is(b0!.time, T0 + 1000);
  assert.is(b1!.time, T0 + 1000);
});

test('duplicate txIds are refused, in a later batch and within the same batch', () => {
  const m = machine();
  assert.ok(run(m, commitOp('a', T0), 1, T0).ok);
  const again = run(m, commitOp('a', T0), 1, T0);
  assert.equal(again.ok ? '' : again.reason, 'DUPLICATE_TX');
  const later = run(m, commitOp('a', T0), 2, T0 + 5);
  assert.equal(later.ok ? '' : later.reason, 'DUPLICATE_TX');
  assert.equal(m.lookup(commitRequest('a', T0).txId), { height: 0 });
  m.endBatch(2);
  assert.is(m.takeBlocks().length, 1, 'batch 2 admitted nothing, so it forms no block');
});

test('admission: expired, future ts, missing / extra / forged signatures, malformed op', () => {
  const m = machine();
  const now = T0 + 60 * 60_000;
  const reason = (r: LedgerResult) => (r.ok ? 'OK' : r.reason);
  assert.is(reason(run(m, commitOp('old', now - LIFETIME_MS - 1), 1, now)), 'EXPIRED');
  assert.is(reason(run(m, commitOp('edge', now - LIFETIME_MS), 1, now)), 'OK', 'block time = deadline is still in time');
  assert.is(reason(run(m, commitOp('future', now + 31_000), 1, now)), 'FUTURE_TS');
  assert.is(reason(run(m, commitOp('missing', now, { signers: keys.slice(0, 2) }), 1, now)), 'MISSING_SIGNATURE');
  assert.is(reason(run(m, commitOp('extra', now, { signers: keys }), 1, now)), 'EXTRA_SIGNATURE');
  // A target key outside the validator set signs: the record would fail verify.ts, so it is refused here.
  assert.is(reason(run(m, commitOp('outsider', now, { targets: ['node0', 'outsider'], signers: [keys[0]!, outsider] }), 1, now)), 'BAD_SIGNATURE');
  assert.is(reason(run(m, new Uint8Array([0xc1]), 1, now)), 'MALFORMED_OP');
  assert.is(reason(run(m, encodeLedgerOp({ op: 'cut', pastMs: 1 }).subarray(1), 1, now)), 'MALFORMED_OP');
  assert.equal(m.stats.admitted, 1);
});

test('cut op: an empty block past the asked time, TOO_EARLY before it, nothing when the chain is already past', () => {
  const m = machine();
  const early = run(m, encodeLedgerOp({ op: 'cut', pastMs: T0 + 100 }), 1, T0 + 100);
  assert.equal(early.ok ? '' : early.reason, 'TOO_EARLY', 'block time must be strictly past');
  assert.equal(run(m, encodeLedgerOp({ op: 'cut', pastMs: T0 + 100 }), 2, T0 + 101), { ok: true, height: 0 });
  m.endBatch(2);
  const [b0] = m.takeBlocks();
  assert.is(b0!.records.length, 0);
  assert.is(b0!.time, T0 + 101);
  assert.equal(run(m, encodeLedgerOp({ op: 'cut', pastMs: T0 + 50 }), 3, T0 + 200), { ok: true, height: 0 }, 'already past: no new block');
  m.endBatch(3);
  assert.is(m.takeBlocks().length, 0);
});

test('a batch larger than blockRecordsMax splits into blocks of the same time', () => {
  const m = machine({ blockRecordsMax: 2 });
  const heights = ['a', 'b', 'c', 'd', 'e'].map((n) => run(m, commitOp(n, T0), 1, T0));
  assert.equal(heights.map((r) => (r.ok ? r.height : -1)), [0, 0, 1, 1, 2]);
  m.endBatch(1);
  const blocks = m.takeBlocks();
  assert.equal(blocks.map((b) => b.records.length), [2, 2, 1]);
  assert.ok(blocks.every((b) => b.time === T0));
  assert.ok(verifyChain(blocks.map((b) => signWithAll(b, keys)), registry).ok);
});

test('snapshot + restore continues exactly like the uninterrupted machine; the duplicate window survives', () => {
  const a = machine();
  run(a, commitOp('x', T0), 1, T0);
  run(a, commitOp('y', T0), 2, T0 + 10);
  const snap = a.snapshot();
  const b = machine();
  b.restore(snap);
  assert.equal(b.tip(), a.tip());
  assert.equal(b.lookup(commitRequest('x', T0).txId), { height: 0 });
  assert.equal(b.lookup(commitRequest('nope', T0).txId), undefined);
  for (const m of [a, b]) {
    const dup = run(m, commitOp('x', T0), 3, T0 + 20);
    assert.equal(dup.ok ? '' : dup.reason, 'DUPLICATE_TX');
    assert.ok(run(m, commitOp('z', T0), 3, T0 + 20).ok);
    m.endBatch(3);
  }
  const tail = (m: LedgerMachine) => hashes(m.takeBlocks()).slice(-1);
  assert.equal(tail(b), tail(a));
  assert.equal(hex(a.snapshot()), hex(b.snapshot()));
});

test('recent txIds are forgotten once the chain is past their deadline, and count against recentTxsMax', () => {
  const m = machine({ recentTxsMax: 2 });
  run(m, commitOp('a', T0), 1, T0);
  run(m, commitOp('b', T0), 1, T0);
  const full = run(m, commitOp('c', T0), 1, T0);
  assert.equal(full.ok ? '' : full.reason, 'LEDGER_FULL');
  assert.is(m.recentTxs, 2);
  const later = T0 + LIFETIME_MS + 1;
  assert.ok(run(m, encodeLedgerOp({ op: 'cut', pastMs: later - 1 }), 2, later).ok);
  m.endBatch(2);
  assert.is(m.recentTxs, 0, 'pruned when the block past their deadline sealed');
  const expired = run(m, commitOp('a', T0), 3, later);
  assert.equal(expired.ok ? '' : expired.reason, 'EXPIRED', 'a replay of a forgotten tx can no longer be admitted');
  assert.ok(run(m, commitOp('c', later), 3, later).ok);
});

test('restore refuses bytes that are not a snapshot', () => {
  assert.throws(() => machine().restore(new Uint8Array([1, 2, 3])));
});

test.run();
