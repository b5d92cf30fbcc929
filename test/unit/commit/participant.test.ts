// The placement target of the hybrid commit: stage, sign only when durable, commit from the ledger, and roll
// back only past the ledger deadline (DESIGN §5 step 3: "A committed transaction is never rolled back").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Participant, participantDeadlineMs, txKeyOf, type ParticipantAction } from '../../../shared/commit/index.ts';
import type { BlockRecord, PrepareRequest } from '../../../shared/protocol/messages.ts';
import { ofKind, shardsFor, signerFor, testOptions, txIdOf, verifyTx } from './fixture.ts';

const NOW = 2_000_000;
const digest = new Uint8Array(32).fill(0xd1);

function participant(self = 'n1'): Participant {
  return new Participant({ self, sign: signerFor(self), options: testOptions });
}
function request(label: string, shards = shardsFor(label, 2)): PrepareRequest {
  return { txId: txIdOf(label), digest, account: 'acct', shards };
}
function responses(actions: ParticipantAction[]) {
  return ofKind(actions, 'send').flatMap((a) => (a.message.type === 'PrepareResponse' ? [a.message.body] : []));
}
function recordOf(label: string, nodes: string[]): BlockRecord {
  const shards = shardsFor(label, nodes.length).map((s, i) => ({ chunk: s.chunk, index: s.index, hash: s.hash, node: nodes[i]! }));
  return { txId: txIdOf(label), ts: NOW, account: 'acct', snapshotId: 's', manifestRoot: new Uint8Array(32), dataShards: 1, parityShards: nodes.length - 1, shards, signatures: [] };
}
/** Prepare and report the staging durable: the participant has signed. */
function signed(p: Participant, label: string, from = 'c0'): void {
  const stage = ofKind(p.step({ kind: 'prepareRequest', from, body: request(label), nowMs: NOW }), 'stage')[0]!;
  const r = responses(p.step({ kind: 'staged', ticket: stage.ticket, ok: true }));
  assert.ok(r[0]?.ok);
}
function ticks(p: Participant, n: number): ParticipantAction[] {
  const out: ParticipantAction[] = [];
  for (let i = 0; i < n; i++) out.push(...p.step({ kind: 'tick' }));
  return out;
}
const deadline = participantDeadlineMs(NOW, { txLifetimeMs: testOptions.txLifetimeMs!, clockSkewMsMax: testOptions.clockSkewMsMax! });

test('stage first, answer only when the shell reports it durable, with a signature over the digest', () => {
  const p = participant();
  const a = p.step({ kind: 'prepareRequest', from: 'c0', body: request('t1'), nowMs: NOW });
  assert.is(responses(a).length, 0, 'no answer before the data is durable');
  const stage = ofKind(a, 'stage');
  assert.is(stage.length, 1);
  assert.is(stage[0]!.txKey, txKeyOf(txIdOf('t1')));
  assert.is(stage[0]!.shards.length, 2);
  const r = responses(p.step({ kind: 'staged', ticket: stage[0]!.ticket, ok: true }));
  assert.is(r.length, 1);
  assert.ok(r[0]!.ok && verifyTx('n1', digest, r[0]!.signature!));
  // a re-solicit (new round, new digest) with empty data is signed at once, without staging
  const again = p.step({ kind: 'prepareRequest', from: 'c1', body: { ...request('t1', shardsFor('t1', 2).map((s) => ({ ...s, data: new Uint8Array(0) }))), digest: new Uint8Array(32).fill(2) }, nowMs: NOW + 1 });
  assert.is(ofKind(again, 'stage').length, 0);
  assert.ok(verifyTx('n1', new Uint8Array(32).fill(2), responses(again)[0]!.signature!));
  p.invariants();
});

test('bad shards are refused with a code and nothing is staged', () => {
  const p = participant();
  const sh = shardsFor('bad', 1);
  sh[0]!.data = new Uint8Array([1, 2, 3]);
  const r = responses(p.step({ kind: 'prepareRequest', from: 'c0', body: request('bad', sh), nowMs: NOW }));
  assert.match(r[0]!.reason!, /^HASH_MISMATCH: /);
  const empty = shardsFor('empty', 1).map((s) => ({ ...s, data: new Uint8Array(0) }));
  const r2 = p.step({ kind: 'prepareRequest', from: 'c0', body: request('empty', empty), nowMs: NOW });
  assert.match(responses(r2)[0]!.reason!, /^SHARD_DATA_NEEDED: /);
  assert.is(ofKind(r2, 'stage').length, 0);
  assert.is(p.status().open, 0);
});

test('a failed stage is refused, and the unsigned leftovers dropped at the staged timeout', () => {
  const p = participant();
  const stage = ofKind(p.step({ kind: 'prepareRequest', from: 'c0', body: request('full'), nowMs: NOW }), 'stage')[0]!;
  assert.match(responses(p.step({ kind: 'staged', ticket: stage.ticket, ok: false, reason: 'DISK_FULL' }))[0]!.reason!, /^STAGE_FAILED: DISK_FULL/);
  const t = ticks(p, testOptions.stagedTimeoutTicks!);
  assert.equal(ofKind(t, 'abortStaged').map((a) => a.txKey), [txKeyOf(txIdOf('full'))]);
  assert.is(ofKind(t, 'queryLedger').length, 0, 'never signed: no need to ask the ledger');
});

test('committed block: commitStaged; a record that places nothing here: our staging is dropped', () => {
  const p = participant();
  signed(p, 'mine');
  signed(p, 'lost');
  const out = p.step({ kind: 'blockCommitted', height: 4, blockHash: new Uint8Array(32), timeMs: NOW + 10, records: [recordOf('mine', ['n1', 'n2']), recordOf('lost', ['n2', 'n3'])] });
  assert.equal(ofKind(out, 'commitStaged').map((a) => a.txKey), [txKeyOf(txIdOf('mine'))]);
  assert.equal(ofKind(out, 'abortStaged').map((a) => a.txKey), [txKeyOf(txIdOf('lost'))]);
  // later prepares for it are answered COMMITTED so a takeover coordinator finishes quickly
  assert.match(responses(p.step({ kind: 'prepareRequest', from: 'c9', body: request('mine'), nowMs: NOW }))[0]!.reason!, /^COMMITTED: /);
});

test('TxAbort: dropped at once when not signed; only a ledger query when signed', () => {
  const p = participant();
  ofKind(p.step({ kind: 'prepareRequest', from: 'c0', body: request('early'), nowMs: NOW }), 'stage');
  const a = p.step({ kind: 'abort', from: 'c0', body: { txId: txIdOf('early'), reason: 'gave up' } });
  assert.is(ofKind(a, 'abortStaged').length, 1);
  // the same coordinator's delayed prepare is refused, another coordinator may start afresh
  assert.match(responses(p.step({ kind: 'prepareRequest', from: 'c0', body: request('early'), nowMs: NOW }))[0]!.reason!, /^ABORTED: /);
  assert.is(ofKind(p.step({ kind: 'prepareRequest', from: 'c1', body: request('early'), nowMs: NOW }), 'stage').length, 1);
  signed(p, 'late');
  const b = p.step({ kind: 'abort', from: 'c0', body: { txId: txIdOf('late'), reason: 'gave up' } });
  assert.is(ofKind(b, 'abortStaged').length, 0, 'a signed transaction may still commit through another coordinator');
  assert.is(ofKind(b, 'queryLedger').length, 1);
  p.invariants();
});

test('signed: no rollback until the ledger tip passes the deadline; then rolled back', () => {
  const p = participant();
  signed(p, 'exp');
  const t = ticks(p, testOptions.stagedTimeoutTicks!);
  assert.is(ofKind(t, 'abortStaged').length, 0, 'a timeout alone never rolls back signed staging');
  assert.is(ofKind(t, 'queryLedger').length, 1);
  const txId = txIdOf('exp');
  const pending = p.step({ kind: 'ledgerAnswer', txId, tipTimeMs: deadline });
  assert.is(ofKind(pending, 'abortStaged').length, 0, 'tip time equal to the deadline: the record may still come');
  assert.equal(ofKind(pending, 'wantLedgerPast').map((a) => a.timeMs), [deadline]);
  assert.is(ofKind(p.step({ kind: 'ledgerAnswer', txId }), 'abortStaged').length, 0, 'an empty chain proves nothing');
  const q = ticks(p, testOptions.ledgerQueryIntervalTicks!);
  assert.is(ofKind(q, 'queryLedger').length, 1, 'asks again');
  const rb = p.step({ kind: 'ledgerAnswer', txId, tipTimeMs: deadline + 1 });
  assert.is(ofKind(rb, 'abortStaged').length, 1);
  assert.match(responses(p.step({ kind: 'prepareRequest', from: 'c1', body: request('exp'), nowMs: NOW }))[0]!.reason!, /^EXPIRED: /);
});

test('the commit notice arriving after the timeout still commits (never rolled back)', () => {
  const p = participant();
  signed(p, 'slow');
  ticks(p, testOptions.stagedTimeoutTicks! * 3);
  const out = p.step({ kind: 'ledgerAnswer', txId: txIdOf('slow'), committed: { height: 9, blockHash: new Uint8Array(32), record: recordOf('slow', ['n1', 'n2']) }, tipTimeMs: deadline + 10_000 });
  assert.is(ofKind(out, 'commitStaged').length, 1);
  assert.is(ofKind(out, 'abortStaged').length, 0);
  // the coordinator's hint for a decided tx does nothing
  assert.is(p.step({ kind: 'committedHint', from: 'c0', body: { txId: txIdOf('slow'), height: 9, blockHash: new Uint8Array(32) } }).length, 0);
});

test('restart: restored staging counts as signed and waits for the ledger', () => {
  const p = participant();
  const key = txKeyOf(txIdOf('restored'));
  const a = p.step({ kind: 'restore', staged: [{ txId: key, shardIds: ['aa'.repeat(32)], modifiedMs: NOW }, { txId: 'not-hex!', shardIds: [], modifiedMs: 0 }] });
  assert.equal(ofKind(a, 'queryLedger').map((q) => txKeyOf(q.txId)), [key]);
  assert.is(p.status().open, 1);
  assert.is(ofKind(p.step({ kind: 'abort', from: 'c0', body: { txId: txIdOf('restored'), reason: 'x' } }), 'abortStaged').length, 0);
  ticks(p, 20);
  assert.is(ofKind(p.step({ kind: 'ledgerAnswer', txId: txIdOf('restored'), tipTimeMs: deadline }), 'abortStaged').length, 0);
  assert.is(ofKind(p.step({ kind: 'ledgerAnswer', txId: txIdOf('restored'), tipTimeMs: deadline + 1 }), 'abortStaged').length, 1);
});

test('staging that lands after the decision is resolved the same way', () => {
  const p = participant();
  const s1 = ofKind(p.step({ kind: 'prepareRequest', from: 'c0', body: request('race'), nowMs: NOW }), 'stage')[0]!;
  p.step({ kind: 'abort', from: 'c0', body: { txId: txIdOf('race'), reason: 'x' } });
  const late = p.step({ kind: 'staged', ticket: s1.ticket, ok: true });
  assert.is(ofKind(late, 'abortStaged').length, 1);
  assert.is(responses(late).length, 0, 'never signs late staging');
  // committed while a re-stage is in flight: the late shards are committed too
  signed(p, 'race2');
  const more = shardsFor('race2-extra', 1);
  const s2 = ofKind(p.step({ kind: 'prepareRequest', from: 'c1', body: request('race2', more), nowMs: NOW }), 'stage')[0]!;
  p.step({ kind: 'blockCommitted', height: 1, blockHash: new Uint8Array(32), timeMs: NOW, records: [recordOf('race2', ['n1'])] });
  assert.is(ofKind(p.step({ kind: 'staged', ticket: s2.ticket, ok: true }), 'commitStaged').length, 1);
  p.invariants();
});

test('bounds: open transactions and staging in flight per transaction', () => {
  const p = new Participant({ self: 'n1', sign: signerFor('n1'), options: { ...testOptions, openTxsMax: 2, pendingStagesPerTxMax: 1 } });
  p.step({ kind: 'prepareRequest', from: 'c0', body: request('b1'), nowMs: NOW });
  assert.match(responses(p.step({ kind: 'prepareRequest', from: 'c0', body: request('b1', shardsFor('b1-x', 1)), nowMs: NOW }))[0]!.reason!, /^BUSY: /);
  p.step({ kind: 'prepareRequest', from: 'c0', body: request('b2'), nowMs: NOW });
  assert.match(responses(p.step({ kind: 'prepareRequest', from: 'c0', body: request('b3'), nowMs: NOW }))[0]!.reason!, /^BUSY: /);
  p.invariants();
});

test.run();
