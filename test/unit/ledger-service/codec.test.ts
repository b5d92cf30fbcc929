// Codecs of the ledger service: ops, results, the machine snapshot and the BlockSignature / sync messages in
// signed envelopes (STYLE "property tests for every codec"; garbage yields only ProtocolError).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { nextBlock, signWithAll } from '../../../shared/ledger/index.ts';
import { ProtocolError, sealEnvelope, verifyEnvelope } from '../../../shared/protocol/index.ts';
import {
  decodeLedgerOp,
  decodeLedgerResult,
  decodeMachineState,
  encodeLedgerOp,
  encodeLedgerResult,
  encodeMachineState,
  LedgerRefusal,
  ledgerMessageOf,
  outgoingLedgerMessage,
  type LedgerMessage,
  type LedgerResult,
} from '../../../shared/ledger-service/index.ts';
import { T0, commitRequest, keys, registry } from './fixture.ts';

const onlyProtocolErrors = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
};

test('ops round-trip', () => {
  const request = commitRequest('a', T0);
  assert.equal(decodeLedgerOp(encodeLedgerOp({ op: 'commit', request })), { op: 'commit', request });
  fc.assert(fc.property(fc.nat(), (pastMs) => assert.equal(decodeLedgerOp(encodeLedgerOp({ op: 'cut', pastMs })), { op: 'cut', pastMs })));
});

test('results round-trip', () => {
  const result: fc.Arbitrary<LedgerResult> = fc.oneof(
    fc.nat().map((height) => ({ ok: true as const, height })),
    fc.record({ ok: fc.constant(false as const), reason: fc.constantFrom(...Object.values(LedgerRefusal)), message: fc.string({ maxLength: 200 }) }).map((r) => ({ ...r })),
  );
  fc.assert(fc.property(result, (r) => assert.equal(decodeLedgerResult(encodeLedgerResult(r)), r)));
});

test('garbage ops and results raise ProtocolError only', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      onlyProtocolErrors(() => decodeLedgerOp(bytes));
      onlyProtocolErrors(() => decodeLedgerResult(bytes));
    }),
  );
  const op = encodeLedgerOp({ op: 'commit', request: commitRequest('b', T0) });
  fc.assert(
    fc.property(fc.nat({ max: op.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, value) => {
      const bad = op.slice();
      bad[at] = value;
      onlyProtocolErrors(() => decodeLedgerOp(bad));
    }),
  );
});

test('machine state round-trips', () => {
  const tx = fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 32 }), fc.nat(), fc.nat());
  const tip = fc.option(fc.record({ height: fc.nat(), hash: fc.uint8Array({ minLength: 32, maxLength: 32 }), time: fc.nat() }).map((r) => ({ ...r })), { nil: undefined });
  fc.assert(
    fc.property(tip, fc.array(tx, { maxLength: 20 }), (t, txs) => {
      const state = { tip: t, txs: txs.map(([id, ts, height]) => [id, { ts, height }] as [Uint8Array, { ts: number; height: number }]), members: [] };
      const back = decodeMachineState(encodeMachineState(state), 100);
      assert.equal(back.tip, state.tip);
      assert.equal(back.txs, state.txs);
    }),
  );
  const big = encodeMachineState({ tip: undefined, txs: Array.from({ length: 5 }, (_, i) => [new Uint8Array(16).fill(i), { ts: 1, height: 0 }]), members: [] });
  assert.throws(() => decodeMachineState(big, 4), (e: unknown) => e instanceof ProtocolError);
});

test('BlockSignature, LedgerSyncRequest and LedgerSyncBlocks are registered and travel in envelopes', () => {
  const key = keys[1]!;
  const keyOf = (id: string) => registry.keyOf(id);
  const block = signWithAll(nextBlock(undefined, T0, [commitRequest('c', T0).record]), keys.slice(0, 3));
  const bodies = [
    { type: 'BlockSignature', body: { height: 0, hash: new Uint8Array(32), signer: 'node1', signature: new Uint8Array(64), want: true } },
    { type: 'LedgerSyncRequest', body: { fromHeight: 3, blocksMax: 64 } },
    { type: 'LedgerSyncBlocks', body: { blocks: [block] } },
  ] satisfies LedgerMessage[];
  for (const m of bodies) {
    const bytes = sealEnvelope(outgoingLedgerMessage(m, key.id, T0, 'node2'), key);
    const opened = verifyEnvelope(bytes, { keyOf });
    assert.is(opened.message.to, 'node2');
    assert.equal(ledgerMessageOf(opened.message), m);
  }
  assert.throws(
    () => sealEnvelope({ type: 'BlockSignature', from: key.id, ts: T0, body: { height: 0, hash: new Uint8Array(31), signer: 'node1', signature: new Uint8Array(64) } }, key),
    (e: unknown) => e instanceof ProtocolError && e.code === 'SCHEMA',
  );
});

test.run();
