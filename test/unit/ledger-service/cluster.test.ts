// A 4-replica ledger cluster in one process (DESIGN §5: PBFT orders CommitRequests, every replica forms the
// same block, a quorum of validator signatures certifies it, every node keeps the chain).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '../../../shared/crypto/sign.ts';
import { admissionRecord, admissionSigningBytes, verifyChain } from '../../../shared/ledger/index.ts';
import { encodeLedgerOp, type LedgerResult } from '../../../shared/ledger-service/index.ts';
import { LedgerCluster, hashesOf } from './cluster.ts';
import { LIFETIME_MS, commitOp, commitRequest, keyOf, keys, registry, sha, type TestKey } from './fixture.ts';

const root = mkdtempSync(join(tmpdir(), '2baksa-ledger-service-'));
let dirs = 0;
const cluster = (options: Omit<Parameters<typeof LedgerCluster.create>[0], 'root'> = {}) => LedgerCluster.create({ root: join(root, `c${dirs++}`), ...options });
const reason = (r: LedgerResult | undefined) => (r === undefined ? 'NONE' : r.ok ? 'OK' : r.reason);
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

/** The op admitting `member` as a storage member (shared/ledger/members.ts), signed by validators `signers`. */
function admissionOp(member: TestKey, signers: TestKey[], ts: number): Uint8Array {
  const record = admissionRecord({ node: member.id, publicKey: member.publicKey }, sha(`cluster admit ${member.id}`).subarray(0, 16), ts);
  const digest = admissionSigningBytes(record);
  const signed = { ...record, signatures: signers.map((s) => ({ signer: s.id, signature: sign(s.privateKey, digest) })) };
  return encodeLedgerOp({ op: 'commit', request: { txId: signed.txId, record: signed } });
}

/** Every listed node holds the same chain, and it verifies against the validator set. */
async function sameVerifiedChains(c: LedgerCluster, nodes = [0, 1, 2, 3]): Promise<string[]> {
  const chains = await Promise.all(nodes.map((i) => c.chain(i)));
  const reference = hashesOf(chains[0]!);
  for (const [k, chain] of chains.entries()) {
    assert.equal(hashesOf(chain), reference, `node${nodes[k]} has the same block hashes`);
    const verdict = verifyChain(chain, registry);
    assert.ok(verdict.ok, `node${nodes[k]}: ${JSON.stringify(verdict)}`);
  }
  return reference;
}

test('CommitRequests become identical, verified, quorum-signed chains on every replica', async () => {
  const c = await cluster({ clients: 3 });
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'].map((name, i) => [name, c.submit(commitOp(name, c.now), i % 3), i % 3] as const);
  await c.settle();
  for (const [name, id, client] of ids) assert.is(reason(c.result(id, client)), 'OK', name);
  const chain = await c.chain(0);
  assert.is(chain.reduce((n, b) => n + b.records.length, 0), 6, 'every record in the chain');
  assert.ok(chain.some((b) => b.records.length > 1), 'requests of several clients share a batch, hence a block');
  await sameVerifiedChains(c);
  for (const node of c.nodes) {
    const answer = await node.service.answer(commitRequest('d', 0).txId);
    assert.ok(answer.committed, 'queryLedger finds the record');
    assert.is(answer.committed.height, node.service.lookup(commitRequest('d', 0).txId)!.height);
  }
  await c.close();
});

test('duplicate and expired requests are refused; cut ops advance time with empty blocks', async () => {
  const c = await cluster();
  const first = c.submit(commitOp('dup', c.now));
  await c.settle();
  assert.is(reason(c.result(first)), 'OK');
  const again = c.submit(commitOp('dup', c.now - 100)); // another coordinator's copy of the same transaction
  const expired = c.submit(commitOp('old', c.now - LIFETIME_MS - 60_000));
  await c.settle();
  assert.is(reason(c.result(again)), 'DUPLICATE_TX');
  assert.is(reason(c.result(expired)), 'EXPIRED');
  const before = (await c.chain(0)).at(-1)!;
  const early = c.submit(encodeLedgerOp({ op: 'cut', pastMs: c.now + 60_000 }));
  await c.settle();
  assert.is(reason(c.result(early)), 'TOO_EARLY');
  const pastMs = c.now - 1;
  const cut = c.submit(encodeLedgerOp({ op: 'cut', pastMs }));
  await c.settle();
  assert.is(reason(c.result(cut)), 'OK');
  const chain = await sameVerifiedChains(c);
  const tip = (await c.chain(1)).at(-1)!;
  assert.is(tip.height, before.height + 1, 'refused requests formed no block; the cut formed one');
  assert.is(tip.records.length, 0);
  assert.ok(tip.time > pastMs);
  assert.is(chain.length, tip.height + 1);
  await c.close();
});

test('a Byzantine replica signing another hash neither blocks certification nor ever counts', async () => {
  const c = await cluster({ faults: { 3: 'wrong-hash' } });
  for (const name of ['x', 'y', 'z']) c.submit(commitOp(name, c.now));
  await c.runUntil(async () => c.results[0]!.size === 3 && (await Promise.all([0, 1, 2].map((i) => c.chain(i)))).every((ch) => ch.length === 3));
  await sameVerifiedChains(c, [0, 1, 2]);
  // With node2 down, PBFT still orders (3 of 4 replicas), but node0 + node1 + node3's bad signature is no quorum.
  await c.crash(2);
  c.submit(commitOp('w', c.now));
  await c.runUntil(() => c.results[0]!.size === 4);
  for (let t = 0; t < 20; t++) await c.tick();
  for (const i of [0, 1]) {
    const s = c.nodes[i]!.service.status();
    assert.is(s.storeHeight, 2, `node${i} formed block 3 but cannot certify it`);
    assert.is(s.machineHeight, 3);
    assert.equal(Object.keys(s.certifier.mismatches), ['node3'], 'node3\'s signature was seen, refused and blamed on node3');
  }
  await c.restart(2);
  await c.settle();
  await sameVerifiedChains(c, [0, 1, 2]);
  // Certificates that correct replicas gathered never hold node3 (node2 may have synced a block node3 certified
  // with its own, real signature: that certificate is valid too, and verified above).
  for (const i of [0, 1]) {
    for (const block of await c.chain(i)) {
      assert.ok(block.qc.every((q) => q.signer !== 'node3'), 'node3 is never in a certificate');
      assert.is(block.qc.length, 3);
    }
  }
  await c.close();
});

test('restart: a replica that crashed before certifying recovers from its snapshot, log and peers', async () => {
  const c = await cluster();
  for (const name of ['r1', 'r2', 'r3', 'r4', 'r5']) c.submit(commitOp(name, c.now));
  await c.settle();
  // Order one more block, then crash node2 after it formed the block but before any signature moved.
  c.submit(commitOp('r6', c.now));
  c.tickPbft(); // ordered and executed: every replica formed the block, no signature has moved yet
  assert.ok(c.nodes[2]!.machine.tip()!.height > c.nodes[2]!.store.height, 'node2 formed a block it has not stored');
  await c.crash(2);
  for (const name of ['r7', 'r8']) c.submit(commitOp(name, c.now));
  await c.runUntil(() => c.results[0]!.size === 8);
  await c.restart(2);
  await c.settle();
  await sameVerifiedChains(c);
  assert.is((await c.chain(2)).reduce((n, b) => n + b.records.length, 0), 8);
  await c.close();
});

test('a replica down past the log window catches up by state transfer and syncs the blocks it skipped', async () => {
  const c = await cluster();
  c.submit(commitOp('s0', c.now));
  await c.settle();
  await c.crash(1);
  for (let i = 1; i <= 14; i++) {
    c.submit(commitOp(`s${i}`, c.now));
    await c.runUntil(() => c.results[0]!.size === i + 1);
  }
  await c.restart(1);
  c.submit(commitOp('s15', c.now));
  await c.settle(600);
  const chain = await sameVerifiedChains(c);
  assert.ok(chain.length >= 15);
  assert.ok(c.nodes[1]!.service.status().syncAppended > 0, 'node1 took blocks from a peer');
  await c.close();
});

test('a replica that catches up by state transfer learns the storage members from the snapshot', async () => {
  const gw4 = keyOf('gw-4');
  const c = await cluster();
  c.submit(commitOp('m0', c.now));
  await c.settle();
  await c.crash(1);
  // While node1 is down: admit gw-4, then order enough batches that the admission leaves every live
  // replica's log (checkpointInterval 4, logWindow 8), so node1 can only learn it from a checkpoint snapshot.
  const admitted = c.submit(admissionOp(gw4, [keys[0]!], c.now));
  await c.runUntil(() => c.result(admitted) !== undefined);
  assert.equal(c.result(admitted), { ok: true, height: 1 });
  for (let i = 1; i <= 14; i++) {
    const id = c.submit(commitOp(`m${i}`, c.now));
    await c.runUntil(() => c.result(id) !== undefined);
    assert.is(reason(c.result(id)), 'OK', `m${i}`);
  }
  await c.restart(1);
  assert.is(c.nodes[1]!.machine.members().size, 0, 'node1 restarted from its own checkpoint, taken before the admission');
  c.submit(commitOp('m15', c.now));
  await c.settle(600);
  assert.ok(c.nodes[1]!.service.status().syncAppended > 0, 'node1 took the blocks it skipped from a peer');
  assert.ok(c.nodes[1]!.machine.stats.admitted < 15, `node1 did not execute the admission itself (it executed ${c.nodes[1]!.machine.stats.admitted} records)`);
  assert.is(hex(c.nodes[1]!.machine.members().keyOf('gw-4')), hex(gw4.publicKey), "node1's machine knows gw-4 from the transferred snapshot");

  // A record placed on gw-4 and signed by it: every replica, node1 included, admits it the same way.
  const name = 'on gw-4';
  const placed = c.submit(commitOp(name, c.now, { targets: ['node0', 'gw-4', 'node2'], signers: [keys[0]!, gw4, keys[2]!] }));
  await c.runUntil(() => c.result(placed) !== undefined && c.repliesTo(placed).size === c.nodes.length);
  const result = c.result(placed);
  assert.is(reason(result), 'OK');
  for (const [i, r] of c.repliesTo(placed)) assert.equal(r, result, `node${i} admitted the record like the others`);
  await c.settle(600);
  const txId = commitRequest(name, 0).txId;
  for (const node of c.nodes) {
    assert.is(node.machine.lookup(txId)?.height, result!.ok ? result!.height : -1, `node${node.index}'s machine placed it in the same block`);
    assert.is(hex(node.store.admitted.keyOf('gw-4')), hex(gw4.publicKey), `node${node.index}'s store learned gw-4 from the chain`);
    assert.is(hex(node.machine.members().keyOf('gw-4')), hex(gw4.publicKey), `node${node.index}'s machine knows gw-4`);
  }
  const chain = await sameVerifiedChains(c);
  assert.ok(chain.length >= 18);
  const blocks = await c.chain(1);
  assert.ok(
    blocks.some((b) => b.records.some((r) => hex(r.txId) === hex(txId))),
    "node1's chain holds the record",
  );
  await c.close();
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
