// LedgerService, one replica driven by hand: own blocks signed and broadcast, peer signatures certify them
// into the store, 2PC ledger answers come from the durable prefix, sync answers are served and checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LedgerStore, blockHash, nextBlock, signBlock, signWithAll, type Block } from '../../../shared/ledger/index.ts';
import { LedgerMachine, LedgerService, blockCommittedOf, type LedgerMessage } from '../../../shared/ledger-service/index.ts';
import { LIFETIME_MS, T0, commitOp, commitRequest, ctx, keys, registry } from './fixture.ts';

const root = mkdtempSync(join(tmpdir(), '2baksa-ledger-svc-'));
let dirs = 0;

async function replica() {
  const store = await LedgerStore.create(join(root, `s${dirs++}`), registry);
  const machine = new LedgerMachine({ registry, options: { txLifetimeMs: LIFETIME_MS } });
  const sent: { to: string | undefined; message: LedgerMessage }[] = [];
  const durable: Block[] = [];
  const service = await LedgerService.open({
    self: 'node0',
    privateKey: keys[0]!.privateKey,
    store,
    machine,
    send: (to, message) => sent.push({ to, message }),
    onBlock: (b) => durable.push(b),
  });
  /** Executes ops as batch `seq` and reports the batch, as the PBFT shell would. */
  const batch = (seq: number, timeMs: number, ...ops: Uint8Array[]) => {
    for (const op of ops) machine.execute(op, ctx(seq, timeMs));
    service.observe({ type: 'execute', seq, view: 0, digest: new Uint8Array(32), timeMs, requests: [], replay: false });
  };
  const peerSign = (block: Block | ReturnType<typeof nextBlock>, ...who: number[]) => {
    for (const i of who) {
      const s = signBlock(block, keys[i]!.id, keys[i]!.privateKey);
      service.receive(keys[i]!.id, { type: 'BlockSignature', body: { height: block.height, hash: blockHash(block), signer: s.signer, signature: s.signature } });
    }
  };
  return { store, machine, service, sent, durable, batch, peerSign };
}

test('own block → signed broadcast → peer signatures → durable, indexed, reported', async () => {
  const r = await replica();
  r.batch(1, T0 + 5, commitOp('a', T0), commitOp('b', T0));
  const [first] = r.sent;
  assert.is(first?.to, undefined, 'broadcast');
  assert.is(first?.message.type, 'BlockSignature');
  const formed = nextBlock(undefined, T0 + 5, [commitRequest('a', T0).record, commitRequest('b', T0).record]);
  r.peerSign(formed, 2, 3);
  await r.service.idle();
  assert.is(r.store.height, 0);
  assert.equal(r.durable.map((b) => b.height), [0]);
  assert.equal(blockCommittedOf(r.durable[0]!).blockHash, blockHash(formed));
  assert.equal(r.service.lookup(commitRequest('b', T0).txId), { height: 0 });
  const answer = await r.service.answer(commitRequest('a', T0).txId);
  assert.is(answer.committed?.height, 0);
  assert.equal(answer.committed?.record.snapshotId, 'snap-a');
  assert.is(answer.tipTimeMs, T0 + 5);
  assert.equal(await r.service.answer(commitRequest('zz', T0).txId), { kind: 'ledgerAnswer', txId: commitRequest('zz', T0).txId, tipTimeMs: T0 + 5 });
  assert.equal(r.service.tip(), { height: 0, hash: blockHash(formed), time: T0 + 5 });
  await r.store.close();
});

test('answers a peer: a sync request with its blocks; a want with the certificate', async () => {
  const r = await replica();
  r.batch(1, T0, commitOp('c', T0));
  r.peerSign(nextBlock(undefined, T0, [commitRequest('c', T0).record]), 1, 2);
  await r.service.idle();
  r.sent.length = 0;
  r.service.receive('node3', { type: 'LedgerSyncRequest', body: { fromHeight: 0, blocksMax: 10 } });
  await r.service.idle();
  const sync = r.sent.find((s) => s.message.type === 'LedgerSyncBlocks');
  assert.is(sync?.to, 'node3');
  assert.ok(sync?.message.type === 'LedgerSyncBlocks' && sync.message.body.blocks.length === 1);
  r.sent.length = 0;
  const block = await r.store.block(0);
  const s3 = signBlock(block, 'node3', keys[3]!.privateKey);
  r.service.receive('node3', { type: 'BlockSignature', body: { height: 0, hash: blockHash(block), signer: 'node3', signature: s3.signature, want: true } });
  await r.service.idle();
  assert.equal(r.sent.map((s) => [s.to, s.message.type === 'BlockSignature' && s.message.body.signer]), [
    ['node3', 'node0'],
    ['node3', 'node1'],
    ['node3', 'node2'],
  ]);
  await r.store.close();
});

test('sync: certified blocks fill a gap; a block without a quorum or with a bad signature is refused and counted', async () => {
  const r = await replica();
  const b0 = nextBlock(undefined, T0, [commitRequest('d', T0).record]);
  const b1 = nextBlock(b0, T0 + 1, []);
  const forged = signWithAll(b0, keys.slice(1, 3)); // 2 of the 3 signatures needed
  r.service.receive('node1', { type: 'LedgerSyncBlocks', body: { blocks: [forged] } });
  await r.service.idle();
  assert.is(r.store.height, -1);
  assert.is(r.service.status().syncRefused, 1);
  // Enough signers, one signature not theirs: a peer's block has every signature checked (only blocks
  // certified here skip that, their signatures having been checked as they came).
  const full = signWithAll(b0, keys.slice(1));
  const badSig = { ...full, qc: full.qc.map((q, i) => (i === 0 ? { ...q, signature: full.qc[1]!.signature } : q)) };
  r.service.receive('node1', { type: 'LedgerSyncBlocks', body: { blocks: [badSig] } });
  await r.service.idle();
  assert.is(r.store.height, -1);
  assert.is(r.service.status().syncRefused, 2);
  r.service.receive('node2', { type: 'LedgerSyncBlocks', body: { blocks: [signWithAll(b1, keys.slice(1)), signWithAll(b0, keys.slice(1))] } });
  await r.service.idle();
  assert.is(r.store.height, 1, 'sorted into height order and appended');
  assert.is(r.service.status().syncAppended, 2);
  assert.is(r.service.certifier.nextHeight, 2);
  assert.equal(r.service.lookup(commitRequest('d', T0).txId), { height: 0 });
  await r.store.close();
});

test('reopening indexes the whole stored chain', async () => {
  const r = await replica();
  r.batch(1, T0, commitOp('e', T0));
  r.peerSign(nextBlock(undefined, T0, [commitRequest('e', T0).record]), 1, 2);
  await r.service.idle();
  const dir = r.store.paths.dir;
  await r.store.close();
  const store = await LedgerStore.open(dir);
  const machine = new LedgerMachine({ registry });
  const again = await LedgerService.open({ self: 'node0', privateKey: keys[0]!.privateKey, store, machine, send: () => {} });
  assert.equal(again.lookup(commitRequest('e', T0).txId), { height: 0 });
  assert.is(again.certifier.nextHeight, 1);
  await store.close();
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
