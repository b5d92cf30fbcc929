// The deadline rule that makes rollback safe (shared/commit/deadline.ts) and the hint messages on the wire.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { admitRecord, participantDeadlineMs, refusalCode, txDeadlineMs, type AdmissionContext } from '../../../shared/commit/index.ts';
import { transactionDigest } from '../../../shared/protocol/digest.ts';
import { defaultRegistry, openEnvelope, sealEnvelope } from '../../../shared/protocol/index.ts';
import type { BlockRecord } from '../../../shared/protocol/messages.ts';
import { keyOf, shardsFor, signerFor, txIdOf, verifyTx } from './fixture.ts';

const opts = { txLifetimeMs: 60_000, clockSkewMsMax: 1_000 };

test('participant deadline bounds the ledger deadline whenever clocks are within the skew', () => {
  // requester mints ts at real time t0; coordinator accepts it if ts ≤ its clock + skew; participant
  // receives later (t1 ≥ t0). Clocks are within ±skew/2 of real time.
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e9 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: 0, max: 100_000 }),
      fc.integer({ min: -500, max: 500 }),
      fc.integer({ min: -500, max: 500 }),
      fc.integer({ min: -500, max: 500 }),
      (t0, dBegin, dRecv, offR, offC, offP) => {
        const ts = t0 + offR;
        const tBegin = t0 + dBegin;
        if (ts > tBegin + offC + opts.clockSkewMsMax) return; // the coordinator refuses it
        const received = tBegin + dRecv + offP;
        assert.ok(participantDeadlineMs(received, opts) >= txDeadlineMs(ts, opts));
      },
    ),
  );
});

function record(nodes: string[], ts = 100_000): BlockRecord {
  const shards = shardsFor('adm', nodes.length).map((s, i) => ({ chunk: s.chunk, index: s.index, hash: s.hash, node: nodes[i]! }));
  const content = { txId: txIdOf('adm'), ts, account: 'a', snapshotId: 's', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards };
  const digest = transactionDigest(content);
  return { ...content, signatures: [...new Set(nodes)].map((n) => ({ signer: n, signature: signerFor(n)(digest) })) };
}
const ctx = (blockTimeMs: number, committed = false): AdmissionContext => ({ blockTimeMs, isCommitted: () => committed, verifySignature: verifyTx });

test('admitRecord: the ledger rule', () => {
  const r = record(['a', 'b', 'c']);
  assert.equal(admitRecord(r, ctx(100_000), opts), { ok: true });
  assert.equal(admitRecord(r, ctx(160_000), opts), { ok: true }, 'at the deadline exactly');
  const reason = (x: ReturnType<typeof admitRecord>) => (x.ok ? 'ok' : x.reason);
  assert.is(reason(admitRecord(r, ctx(160_001), opts)), 'EXPIRED');
  assert.is(reason(admitRecord(r, ctx(98_999), opts)), 'FUTURE_TS');
  assert.is(reason(admitRecord(r, ctx(100_000, true), opts)), 'DUPLICATE_TX');
  assert.is(reason(admitRecord({ ...r, signatures: r.signatures.slice(1) }, ctx(100_000), opts)), 'MISSING_SIGNATURE');
  assert.is(reason(admitRecord({ ...r, signatures: [...r.signatures, r.signatures[0]!] }, ctx(100_000), opts)), 'EXTRA_SIGNATURE');
  const forged = { ...r, signatures: [{ signer: 'a', signature: signerFor('z')(new Uint8Array(32)) }, ...r.signatures.slice(1)] };
  assert.is(reason(admitRecord(forged, ctx(100_000), opts)), 'BAD_SIGNATURE');
  assert.is(reason(admitRecord({ ...r, ts: r.ts + 1 }, ctx(100_000), opts)), 'BAD_SIGNATURE', 'the signatures cover ts');
});

test('TxAbort and TxCommitted travel in signed envelopes; refusal codes parse', () => {
  assert.ok(defaultRegistry.has('TxAbort') && defaultRegistry.has('TxCommitted'));
  const bytes = sealEnvelope({ type: 'TxAbort', from: 'n1', ts: 5, body: { txId: txIdOf('w'), reason: 'gave up' } }, keyOf('n1'));
  const opened = openEnvelope(bytes, { keyOf: (id) => keyOf(id).publicKey, now: 5 });
  assert.is(opened.message.type, 'TxAbort');
  assert.throws(() => sealEnvelope({ type: 'TxCommitted', from: 'n1', ts: 5, body: { txId: new Uint8Array(3), height: 1, blockHash: new Uint8Array(32) } }, keyOf('n1')), /txId/);
  assert.is(refusalCode('SHARD_DATA_NEEDED: x'), 'SHARD_DATA_NEEDED');
  assert.is(refusalCode('whatever: x'), undefined);
  assert.is(refusalCode(undefined), undefined);
});

test.run();
