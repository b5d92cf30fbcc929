// The coordinator of the hybrid commit (DESIGN §5 steps 1–3; seed 000 "Two-Phase Commit Enhancements").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Coordinator, isFinalResponse, txDeadlineMs, type CoordinatorAction, type TxSpec } from '../../../shared/commit/index.ts';
import { transactionDigest } from '../../../shared/protocol/digest.ts';
import type { BlockRecord, PrepareRequest } from '../../../shared/protocol/messages.ts';
import { nodes, ofKind, signerFor, spec, testOptions, verifyTx } from './fixture.ts';

const members = nodes(6).map((id) => ({ id }));
const NOW = 1_000_000;

function coordinator(): Coordinator {
  return new Coordinator({ self: 'n0', verify: verifyTx, options: testOptions });
}
function prepares(actions: CoordinatorAction[]): { to: string; body: PrepareRequest }[] {
  return ofKind(actions, 'send').flatMap((a) => (a.message.type === 'PrepareRequest' ? [{ to: a.to, body: a.message.body }] : []));
}
function sendsOf(actions: CoordinatorAction[], type: string): string[] {
  return ofKind(actions, 'send').filter((a) => a.message.type === type).map((a) => a.to).sort();
}
function okFrom(c: Coordinator, p: { to: string; body: PrepareRequest }): CoordinatorAction[] {
  return c.step({ kind: 'prepareResponse', from: p.to, body: { txId: p.body.txId, ok: true, signature: signerFor(p.to)(p.body.digest) } });
}
/** Begins and answers the coordinator's first ledger query with "not there, tip before the deadline". */
function begin(c: Coordinator, s: TxSpec, requester = 'agent', list = members): CoordinatorAction[] {
  const a = c.step({ kind: 'begin', requester, spec: s, members: list, nowMs: NOW });
  if (!ofKind(a, 'queryLedger').length) return a;
  return a.concat(c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: NOW }));
}
function ticks(c: Coordinator, n: number): CoordinatorAction[] {
  const out: CoordinatorAction[] = [];
  for (let i = 0; i < n; i++) out.push(...c.step({ kind: 'tick' }));
  return out;
}
function block(record: BlockRecord, height = 7, timeMs = NOW + 100) {
  return { kind: 'blockCommitted' as const, height, blockHash: new Uint8Array(32).fill(height), timeMs, records: [record] };
}

test('happy path: prepare every target, order once all signed, answer when the block commits', () => {
  const c = coordinator();
  const s = spec('happy', 4, 2, 2);
  const first = c.step({ kind: 'begin', requester: 'agent', spec: s, members, nowMs: NOW });
  assert.equal(first.map((x) => x.kind), ['queryLedger'], 'a new coordinator first asks its ledger (takeover), and stages nothing yet');
  const ps = prepares(c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: NOW }));
  assert.is(new Set(ps.map((p) => p.to)).size, ps.length, 'one PrepareRequest per target');
  assert.is(ps.reduce((n, p) => n + p.body.shards.length, 0), 12, 'every shard is sent once');
  assert.ok(ps.every((p) => p.body.shards.every((sh) => sh.data.length > 0)));
  let submitted: BlockRecord | undefined;
  for (const p of ps) {
    const out = okFrom(c, p);
    const sub = ofKind(out, 'submitForOrdering');
    if (sub.length) submitted = sub[0]!.request.record;
  }
  assert.ok(submitted, 'submitted after the last signature');
  assert.is(submitted!.signatures.length, ps.length);
  const digest = transactionDigest(submitted!);
  for (const sig of submitted!.signatures) assert.ok(verifyTx(sig.signer, digest, sig.signature));
  assert.equal(new Set(submitted!.shards.map((x) => x.node)), new Set(ps.map((p) => p.to)));
  c.invariants();
  const done = c.step(block(submitted!));
  const resp = ofKind(done, 'respond');
  assert.is(resp.length, 1);
  assert.equal(resp[0]!.response, { txId: s.txId, ok: true, height: 7, blockHash: new Uint8Array(32).fill(7) });
  assert.equal(sendsOf(done, 'TxCommitted'), [...new Set(ps.map((p) => p.to))].sort());
  // a duplicate begin gets the remembered outcome
  assert.equal(ofKind(begin(c, s, 'agent-2'), 'respond')[0]!.response.ok, true);
  c.invariants();
});

test('bad, stale and duplicate signatures do not count; each target counts once', () => {
  const c = coordinator();
  const s = spec('sigs', 2, 1);
  const ps = prepares(begin(c, s));
  assert.is(ps.length, 3);
  const [p0, p1, p2] = ps as [typeof ps[0], typeof ps[0], typeof ps[0]];
  // signed by the wrong key
  let out = c.step({ kind: 'prepareResponse', from: p0.to, body: { txId: s.txId, ok: true, signature: signerFor('mallory')(p0.body.digest) } });
  // signed over another digest
  out = out.concat(c.step({ kind: 'prepareResponse', from: p1.to, body: { txId: s.txId, ok: true, signature: signerFor(p1.to)(new Uint8Array(32)) } }));
  // a stranger
  out = out.concat(c.step({ kind: 'prepareResponse', from: 'n99', body: { txId: s.txId, ok: true, signature: signerFor('n99')(p0.body.digest) } }));
  out = out.concat(okFrom(c, p2), okFrom(c, p2));
  assert.is(ofKind(out, 'submitForOrdering').length, 0);
  out = okFrom(c, p0).concat(okFrom(c, p1));
  assert.is(ofKind(out, 'submitForOrdering').length, 1);
  c.invariants();
});

test('a refusing target is re-placed; others re-sign the new digest without resending data', () => {
  const c = coordinator();
  const s = spec('replace', 2, 1);
  const ps = prepares(begin(c, s));
  const [bad, ...good] = ps;
  for (const p of good) okFrom(c, p);
  const out = c.step({ kind: 'prepareResponse', from: bad!.to, body: { txId: s.txId, ok: false, reason: 'STAGE_FAILED: disk full' } });
  const round2 = prepares(out);
  assert.is(round2.length, 3, 'a new round asks every target');
  assert.not.ok(round2.some((p) => p.to === bad!.to), 'the refusing target is out');
  assert.not.equal(round2[0]!.body.digest, ps[0]!.body.digest, 'new placement, new digest');
  for (const p of round2) {
    const wasOk = good.some((g) => g.to === p.to);
    assert.is(p.body.shards.every((sh) => sh.data.length === 0), wasOk, `${p.to}: data resent only to the new target`);
  }
  // SHARD_DATA_NEEDED: a target that lost it gets the data again
  const g = round2.find((p) => good.some((x) => x.to === p.to))!;
  const again = prepares(c.step({ kind: 'prepareResponse', from: g.to, body: { txId: s.txId, ok: false, reason: 'SHARD_DATA_NEEDED: send it' } }));
  assert.is(again.length, 1);
  assert.ok(again[0]!.body.shards.every((sh) => sh.data.length > 0));
  let sub: BlockRecord | undefined;
  for (const p of round2) sub = ofKind(okFrom(c, p), 'submitForOrdering')[0]?.request.record ?? sub;
  assert.ok(sub);
  assert.not.ok(sub!.shards.some((x) => x.node === bad!.to));
  c.invariants();
});

test('silent target: resend, then re-place; nobody left: abandon and answer only with the ledger verdict', () => {
  const c = new Coordinator({ self: 'n0', verify: verifyTx, options: testOptions });
  const s = spec('silent', 2, 1);
  const three = nodes(3).map((id) => ({ id }));
  const ps = prepares(begin(c, s, 'agent', three));
  assert.is(ps.length, 3);
  for (const p of ps.slice(1)) okFrom(c, p);
  const t1 = ticks(c, testOptions.prepareTimeoutTicks!);
  assert.equal(prepares(t1).map((p) => p.to), [ps[0]!.to], 'resent to the silent target');
  const t2 = ticks(c, testOptions.prepareTimeoutTicks!);
  assert.is(ofKind(t2, 'respond').length, 0, 'abandoning answers nothing by itself');
  assert.equal(sendsOf(t2, 'TxAbort'), ps.map((p) => p.to).sort(), 'TxAbort hints to every target');
  assert.equal(ofKind(t2, 'wantLedgerPast')[0]?.timeMs, txDeadlineMs(s.ts, { txLifetimeMs: testOptions.txLifetimeMs! }));
  assert.is(c.phaseOf(s.txId), 'abandoned');
  // ledger not yet past the deadline: still nothing
  assert.is(ofKind(c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: NOW + 5 }), 'respond').length, 0);
  const deadline = s.ts + testOptions.txLifetimeMs!;
  const fin = ofKind(c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: deadline + 1 }), 'respond');
  assert.is(fin.length, 1);
  assert.is(fin[0]!.response.ok, false);
  assert.match(fin[0]!.response.reason!, /^EXPIRED: /);
  assert.ok(isFinalResponse(fin[0]!.response));
  c.invariants();
});

test('an abandoned transaction that another coordinator committed is answered ok', () => {
  const c = coordinator();
  const s = spec('other', 1, 1);
  const two = nodes(2).map((id) => ({ id }));
  const ps = prepares(begin(c, s, 'agent', two));
  c.step({ kind: 'prepareResponse', from: ps[0]!.to, body: { txId: s.txId, ok: false, reason: 'BUSY: later' } });
  assert.is(c.phaseOf(s.txId), 'preparing', 'waits until every target of the round settled');
  okFrom(c, ps[1]!);
  assert.is(c.phaseOf(s.txId), 'abandoned', 'no third member to re-place on');
  const theirs: BlockRecord = { txId: s.txId, ts: s.ts, account: s.account, snapshotId: s.snapshotId, manifestRoot: s.manifestRoot, dataShards: 1, parityShards: 1, shards: [], signatures: [] };
  const out = c.step(block(theirs, 9));
  assert.is(ofKind(out, 'respond')[0]?.response.ok, true);
});

test('no answer from the ledger in time: prepare anyway', () => {
  const c = coordinator();
  const s = spec('quiet-ledger', 2, 1);
  c.step({ kind: 'begin', requester: 'agent', spec: s, members, nowMs: NOW });
  assert.is(prepares(ticks(c, testOptions.ledgerQueryIntervalTicks! - 1)).length, 0);
  assert.is(prepares(ticks(c, 1)).length, 3);
});

test('takeover of an expired transaction answers EXPIRED without staging anything', () => {
  const c = coordinator();
  const s = spec('old', 2, 1);
  c.step({ kind: 'begin', requester: 'agent', spec: s, members, nowMs: NOW });
  const out = c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: s.ts + testOptions.txLifetimeMs! + 1 });
  assert.is(prepares(out).length, 0);
  assert.match(ofKind(out, 'respond')[0]!.response.reason!, /^EXPIRED/);
});

test('takeover: a transaction already in the ledger is just completed', () => {
  const c = coordinator();
  const s = spec('ordered', 2, 1);
  assert.equal(c.step({ kind: 'begin', requester: 'agent', spec: s, members, nowMs: NOW }).map((x) => x.kind), ['queryLedger']);
  const record: BlockRecord = { txId: s.txId, ts: s.ts, account: s.account, snapshotId: s.snapshotId, manifestRoot: s.manifestRoot, dataShards: 2, parityShards: 1, shards: [], signatures: [] };
  const out = c.step({ kind: 'ledgerAnswer', txId: s.txId, committed: { height: 3, blockHash: new Uint8Array(32).fill(3), record }, tipTimeMs: NOW });
  assert.equal(ofKind(out, 'respond')[0]?.response, { txId: s.txId, ok: true, height: 3, blockHash: new Uint8Array(32).fill(3) });
  assert.is(ofKind(out, 'submitForOrdering').length, 0);
  assert.is(c.phaseOf(s.txId), 'finished');
});

test('ordering: resubmitted until seen, bounded; expiry found through the ledger', () => {
  const c = coordinator();
  const s = spec('order', 1, 1);
  for (const p of prepares(begin(c, s))) okFrom(c, p);
  assert.is(c.phaseOf(s.txId), 'ordering');
  const t = ticks(c, 100);
  assert.is(ofKind(t, 'submitForOrdering').length, testOptions.orderingSubmitsMax! - 1, 'resubmits up to the bound');
  assert.ok(ofKind(t, 'queryLedger').length >= 2, 'asks its ledger while waiting');
  assert.ok(ofKind(t, 'wantLedgerPast').length >= 1, 'asks for ledger progress once submissions are exhausted');
  // a block past the deadline without the tx triggers a query; the answer expires it
  const q = c.step({ kind: 'blockCommitted', height: 20, blockHash: new Uint8Array(32), timeMs: s.ts + testOptions.txLifetimeMs! + 1, records: [] });
  assert.is(ofKind(q, 'respond').length, 0);
  const fin = c.step({ kind: 'ledgerAnswer', txId: s.txId, tipTimeMs: s.ts + testOptions.txLifetimeMs! + 1 });
  assert.match(ofKind(fin, 'respond')[0]!.response.reason!, /^EXPIRED/);
});

test('with checkShardHashes off (the requester is this process), the coordinator leaves hashing to the targets', () => {
  const c = new Coordinator({ self: 'n0', verify: verifyTx, options: { ...testOptions, checkShardHashes: false } });
  const tampered = spec('tamper-off', 2, 1);
  tampered.shards[1]!.data[0]! ^= 1;
  const out = begin(c, tampered);
  assert.is(ofKind(out, 'respond').length, 0, 'not refused here');
  assert.ok(ofKind(out, 'send').some((a) => a.message.type === 'PrepareRequest'), 'sent to the targets, which hash what they stage');
});

test('begin refuses bad requests with non-final reasons', () => {
  const c = coordinator();
  const future = spec('future', 2, 1, 1, NOW + 10_000);
  const r1 = ofKind(begin(c, future), 'respond')[0]!.response;
  assert.match(r1.reason!, /^INVALID: ts .* ahead/);
  assert.not.ok(isFinalResponse(r1));
  const tampered = spec('tamper', 2, 1);
  tampered.shards[1]!.data[0]! ^= 1;
  assert.match(ofKind(begin(c, tampered), 'respond')[0]!.response.reason!, /^INVALID: .*does not match its hash/);
  const big = spec('big', 6, 3);
  const r3 = ofKind(begin(c, big), 'respond')[0]!.response;
  assert.match(r3.reason!, /^PLACEMENT_IMPOSSIBLE: 9 shards need 9 distinct members/);
  assert.not.ok(isFinalResponse(r3));
  const eu = spec('eu', 2, 1);
  eu.allowedRegions = ['eu-west'];
  assert.match(ofKind(begin(c, eu), 'respond')[0]!.response.reason!, /^PLACEMENT_IMPOSSIBLE|^RESIDENCY_VIOLATION/);
  assert.is(c.status().inFlight, 0);
});

test('a second requester of a running transaction also gets the answer', () => {
  const c = coordinator();
  const s = spec('two-requesters', 1, 1);
  const ps = prepares(begin(c, s, 'a1'));
  assert.is(begin(c, s, 'a2').length, 0);
  let rec: BlockRecord | undefined;
  for (const p of ps) rec = ofKind(okFrom(c, p), 'submitForOrdering')[0]?.request.record ?? rec;
  assert.equal(ofKind(c.step(block(rec!)), 'respond').map((r) => r.to).sort(), ['a1', 'a2']);
});

test.run();
