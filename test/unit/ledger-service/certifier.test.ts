// BlockCertifier: a quorum of distinct registered validators over the block hash (DESIGN §5 "No single node
// can forge a block"), Byzantine signatures never counted, certified blocks released in height order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { blockHash, nextBlock, signBlock, verifyBlock, type UnsignedBlock } from '../../../shared/ledger/index.ts';
import { BlockCertifier, type CertifierAction, type CertifierEvent } from '../../../shared/ledger-service/index.ts';
import { T0, commitRequest, keys, outsider, registry, sha, type TestKey } from './fixture.ts';

const [k0, k1, k2, k3] = keys as [TestKey, TestKey, TestKey, TestKey];
const b0 = nextBlock(undefined, T0, [commitRequest('a', T0).record]);
const b1 = nextBlock(b0, T0 + 1, []);
const b2 = nextBlock(b1, T0 + 2, []);
const forked = nextBlock(b0, T0 + 1, [commitRequest('evil', T0).record]);

const own = (block: UnsignedBlock, key = k0): CertifierEvent => ({ type: 'own', block, signature: signBlock(block, key.id, key.privateKey).signature });
const peer = (block: UnsignedBlock, key: TestKey, extra: { want?: boolean; from?: string } = {}): CertifierEvent => {
  const s = signBlock(block, key.id, key.privateKey);
  return { type: 'peer', height: block.height, hash: blockHash(block), signer: s.signer, signature: s.signature, ...extra };
};
const certifier = (nextHeight = 0, options = {}) => new BlockCertifier({ self: 'node0', registry, nextHeight, options });
const certified = (actions: CertifierAction[]) => actions.flatMap((a) => (a.type === 'blockCertified' ? [a.block] : []));

test('own block: broadcasts our signature; certified at the quorum (3 of 4) with a valid certificate', () => {
  const c = certifier();
  const a = c.step(own(b0));
  assert.is(a[0]?.type, 'broadcastSignature');
  assert.is(certified(c.step(peer(b0, k1))).length, 0, '2 of 3');
  const [block] = certified(c.step(peer(b0, k2)));
  assert.ok(block);
  assert.equal(block.qc.map((q) => q.signer), ['node0', 'node1', 'node2']);
  assert.is(verifyBlock(block, undefined, registry), undefined);
  assert.is(c.nextHeight, 1);
  assert.is(certified(c.step(peer(b0, k3))).length, 0, 'a late signature is ignored');
});

test('peer signatures that arrive before our block wait for it', () => {
  const c = certifier();
  c.step(peer(b0, k1));
  c.step(peer(b0, k2));
  const [block] = certified(c.step(own(b0)));
  assert.ok(block);
  assert.is(block.qc.length, 3);
});

test('a Byzantine validator signing another hash never counts, even if it later signs ours', () => {
  const c = certifier();
  c.step(own(b0));
  c.step(own(b1));
  c.step(peer(b1, k1));
  assert.is(certified(c.step(peer(forked, k3))).length, 0, 'node3 signed a different block at height 1');
  assert.is(certified(c.step(peer(b1, k3))).length, 0, 'its second, matching signature is not taken');
  assert.is(c.status().rejected['hash-mismatch'], 1);
  assert.equal(c.status().mismatches, { node3: 1 });
  // Block 0 and 1 certify with the correct validators only.
  c.step(peer(b0, k1));
  const out = certified(c.step(peer(b0, k2)));
  assert.is(out.length, 1);
  const [block1] = certified(c.step(peer(b1, k2)));
  assert.ok(block1);
  assert.ok(block1.qc.every((q) => q.signer !== 'node3'));
  assert.is(verifyBlock(block1, { height: 0, hash: blockHash(b0), time: b0.time }, registry), undefined);
});

test('a mismatched signature received before our block is found out when our block comes', () => {
  const c = certifier();
  c.step(peer(forked, k3));
  c.step(peer(b1, k1));
  c.step(peer(b0, k1));
  c.step(peer(b0, k2));
  certified(c.step(own(b0)));
  assert.is(certified(c.step(own(b1))).length, 0, 'node0 + node1 only; node3 is not counted');
  assert.is(c.status().rejected['hash-mismatch'], 1);
});

test('unknown signers, forged signatures and far-ahead heights are dropped and counted; our own id is ignored', () => {
  const c = certifier();
  c.step(own(b0));
  const intruder = signBlock(b0, outsider.id, outsider.privateKey);
  c.step({ type: 'peer', height: 0, hash: blockHash(b0), signer: 'outsider', signature: intruder.signature });
  c.step({ type: 'peer', height: 0, hash: blockHash(b0), signer: 'node1', signature: intruder.signature }); // not node1's
  c.step(peer(b0, k0));
  const far = { ...peer(b0, k1), height: 10_000 } as CertifierEvent;
  c.step(far);
  assert.equal(c.status().rejected, { 'unknown-signer': 1, 'bad-signature': 1, 'out-of-window': 1 });
  assert.is(certified(c.step(peer(b0, k1))).length, 0, 'the forged one did not take node1\'s place');
  assert.is(certified(c.step(peer(b0, k2))).length, 1);
});

test('certified blocks come out in height order', () => {
  const c = certifier();
  for (const b of [b0, b1, b2]) c.step(own(b));
  for (const b of [b2, b1]) for (const k of [k1, k2]) assert.is(certified(c.step(peer(b, k))).length, 0, 'waits for block 0');
  c.step(peer(b0, k1));
  const out = certified(c.step(peer(b0, k2)));
  assert.equal(out.map((b) => b.height), [0, 1, 2]);
  assert.is(c.nextHeight, 3);
});

test('retry: after retryTicks without a certificate our signature goes out again with want', () => {
  const c = certifier(0, { retryTicks: 3 });
  c.step(own(b0));
  assert.is(c.step({ type: 'tick' }).length, 0);
  assert.is(c.step({ type: 'tick' }).length, 0);
  const [again] = c.step({ type: 'tick' });
  assert.is(again?.type, 'broadcastSignature');
  assert.ok(again?.type === 'broadcastSignature' && again.signature.want === true);
});

test('want: answered with the signatures we hold, from a round or from a remembered certificate', () => {
  const c = certifier();
  c.step(own(b0));
  const a = c.step(peer(b0, k1, { want: true, from: 'node1-link' }));
  const send = a.find((x) => x.type === 'sendSignatures');
  assert.ok(send?.type === 'sendSignatures');
  assert.is(send.to, 'node1-link');
  assert.equal(send.signatures.map((s) => s.signer).sort(), ['node0', 'node1']);
  c.step(peer(b0, k2));
  const late = c.step(peer(b0, k3, { want: true }));
  const answer = late.find((x) => x.type === 'sendSignatures');
  assert.ok(answer?.type === 'sendSignatures');
  assert.equal(answer.signatures.map((s) => s.signer), ['node0', 'node1', 'node2'], 'the whole certificate');
  // A want for another hash at that height gets nothing.
  assert.is(c.step(peer(forked, k3, { want: true })).length, 0);
});

test('want for a height certified before we remember: the shell answers from its store', () => {
  const c = certifier(5);
  const old = { ...peer(b0, k1, { want: true }) } as CertifierEvent;
  const [a] = c.step(old);
  assert.equal(a, { type: 'answerFromStore', to: 'node1', height: 0, hash: blockHash(b0) });
});

test('gap: the machine is past the store and block nextHeight will never come as own: ask for a sync', () => {
  const c = certifier(0, { retryTicks: 2 });
  const a = c.step(own(b2)); // the machine restored past heights 0 and 1
  assert.ok(a.some((x) => x.type === 'syncNeeded' && x.fromHeight === 0));
  assert.is(c.step({ type: 'tick' }).filter((x) => x.type === 'syncNeeded').length, 0);
  assert.is(c.step({ type: 'tick' }).filter((x) => x.type === 'syncNeeded').length, 1, 'asked again after retryTicks');
  const stored = c.step({ type: 'stored', height: 0 });
  assert.ok(stored.some((x) => x.type === 'syncNeeded' && x.fromHeight === 1), 'progress: the rest is asked for at once');
  c.step({ type: 'stored', height: 1 });
  assert.is(c.nextHeight, 2);
  c.step(peer(b2, k1));
  assert.equal(certified(c.step(peer(b2, k2))).map((b) => b.height), [2]);
  // No gap: a formed height we hold the block for asks nothing.
  assert.is(certifier().step({ type: 'formed', height: -1 }).length, 0);
});

test('an own block below nextHeight (replayed after a restart) is ignored; two different own blocks are a bug', () => {
  const c = certifier(1);
  assert.is(c.step(own(b0)).length, 0);
  c.step(own(b1));
  assert.throws(() => c.step(own(forked)), /two different own blocks/);
});

test('random signature hash bytes never certify anything', () => {
  const c = certifier();
  c.step(own(b0));
  for (const k of [k1, k2, k3]) c.step({ ...peer(b0, k), hash: sha(`junk ${k.id}`) } as CertifierEvent);
  assert.is(c.status().rejected['bad-signature'], 3);
  assert.is(c.nextHeight, 0);
});

test.run();
