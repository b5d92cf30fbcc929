// Edge proofs (DESIGN §6, "ledger-verified"): the cloud checks a block's quorum certificate against the
// site's registered keys, the record's inclusion and signatures and account, and an upload against the
// committed data-shard hashes; the gateway builds the proofs from the ledger file it keeps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LedgerStore,
  SignerRegistry,
  admissionRecord,
  admissionSigningBytes,
  decodeEdgeProof,
  encodeEdgeProof,
  matchesDataShards,
  verifyEdgeProof,
  type Block,
  type EdgeProof,
} from '../../../shared/ledger/index.ts';
import { EdgeProver } from '../../../agent/migrate/edge-proofs.ts';
import { sign } from '../../../shared/crypto/sign.ts';
import { transactionDigest } from '../../../shared/protocol/index.ts';
import { fixtureKey, intruder, type FixtureKey } from '../../fixtures/ledger/make.ts';
import { certifiedBlock, commitRecord, proofOf, siteGateways } from '../../helpers/edge-ledger.ts';

const registry = new SignerRegistry(siteGateways);

interface Site {
  blocks: Block[];
  objects: Map<string, Uint8Array>;
}

/** Three blocks: gw-1's account in blocks 0 and 2, another account in block 1 and beside gw-1 in block 2. */
function site(): Site {
  const objects = new Map<string, Uint8Array>();
  const tx = (account: string, seed: string, sizes: number[]) => {
    const data = sizes.map((n) => randomBytes(n));
    const c = commitRecord(account, data, seed);
    c.ids.forEach((id, i) => objects.set(id, data[i]!));
    return c.record;
  };
  const blocks: Block[] = [];
  for (const records of [[tx('gw-1', 'a', [1000, 33])], [tx('gw-2', 'b', [500])], [tx('gw-2', 'c', [77]), tx('gw-1', 'd', [4096, 1, 9999])]]) {
    blocks.push(certifiedBlock(blocks.at(-1), records));
  }
  return { blocks, objects };
}

const proofAt = (blocks: Block[], height: number, records: number[]): EdgeProof => proofOf('plant-7', blocks[height]!, records);

test('a proof of a quorum-certified block proves its chunks, byte for byte', () => {
  const { blocks, objects } = site();
  const verdict = verifyEdgeProof(decodeEdgeProof(encodeEdgeProof(proofAt(blocks, 2, [1]))), registry, 'gw-1');
  assert.ok(verdict.ok, JSON.stringify(verdict));
  if (!verdict.ok) return;
  assert.is(verdict.chunks.size, 3);
  for (const [id, versions] of verdict.chunks) {
    assert.is(versions.length, 1);
    assert.is(versions[0]!.height, 2);
    const sealed = objects.get(id)!;
    assert.ok(matchesDataShards(sealed, versions[0]!), 'the committed bytes pass');
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length >> 1]! ^= 1;
    assert.not.ok(matchesDataShards(flipped, versions[0]!), 'one flipped byte fails');
  }
});

test('forged or short certificates, records of another account and altered records are refused', () => {
  const { blocks } = site();
  const good = proofAt(blocks, 2, [1]);
  const reasonOf = (p: EdgeProof, account = 'gw-1') => {
    const v = verifyEdgeProof(p, registry, account);
    return v.ok ? 'ok' : v.problem.reason;
  };
  assert.is(reasonOf(good), 'ok');
  const b = good.blocks[0]!;
  assert.is(reasonOf({ ...good, blocks: [{ ...b, qc: b.qc.slice(0, 1) }] }), 'NO_QUORUM');
  const forged = { ...b.qc[1]!, signature: Uint8Array.from(b.qc[1]!.signature, (x, i) => (i === 0 ? x ^ 1 : x)) };
  assert.is(reasonOf({ ...good, blocks: [{ ...b, qc: [b.qc[0]!, forged] }] }), 'BAD_SIGNATURE');
  const byIntruder = { signer: intruder.id, signature: b.qc[1]!.signature };
  assert.is(reasonOf({ ...good, blocks: [{ ...b, qc: [b.qc[0]!, byIntruder] }] }), 'UNKNOWN_SIGNER');
  assert.is(reasonOf({ ...good, blocks: [{ ...b, qc: [b.qc[0]!, b.qc[0]!] }] }), 'DUPLICATE_SIGNER');
  // Another account's record of the same block is genuine, but not this account's to upload.
  assert.match(JSON.stringify(verifyEdgeProof(proofAt(blocks, 2, [0]), registry, 'gw-1')), /not gw-1/);
  // A record altered after the block was signed is not in the block.
  const entry = b.entries[0]!;
  const altered = { ...entry, record: { ...entry.record, shards: entry.record.shards.map((s, i) => (i === 0 ? { ...s, hash: new Uint8Array(32) } : s)) } };
  assert.is(reasonOf({ ...good, blocks: [{ ...b, entries: [altered] }] }), 'BAD_MERKLE_ROOT');
  // A header moved to another height keeps no certificate.
  assert.is(reasonOf({ ...good, blocks: [{ ...b, height: 5 }] }), 'BAD_SIGNATURE');
  // Another site's keys do not certify it.
  assert.is(verifyEdgeProof(good, new SignerRegistry(['x-1', 'x-2', 'x-3'].map(fixtureKey)), 'gw-1').ok, false);
});

test('junk proof bytes are refused by the decoder, never thrown past it', () => {
  for (const junk of [new Uint8Array(0), randomBytes(100), encodeEdgeProof({ site: 'x', blocks: [] }), Buffer.from('\x81\xa4site\xc0')]) {
    assert.throws(() => decodeEdgeProof(junk), (e: Error) => (e as { code?: string }).code !== undefined);
  }
});

test('the gateway proves its chunks from the ledger file: each block once, every version of a chunk, unknown chunks named', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'baksa-edge-proof-'));
  try {
    const { blocks, objects } = site();
    const store = await LedgerStore.create(join(dir, 'edge', 'ledger'), registry);
    for (const b of blocks) await store.append(b);
    await store.close();
    const prover = await EdgeProver.open(dir, 'plant-7', 'gw-1');
    assert.is(prover.chunkCount, 5);
    const mine = [...objects.keys()].filter((id) => prover.prove([id]).proof !== undefined);
    assert.is(mine.length, 5);
    const stranger = 'ab'.repeat(32);
    const { proof, unproven } = prover.prove([...mine, stranger]);
    assert.equal(unproven, [stranger]);
    assert.equal(proof!.blocks.map((b) => [b.height, b.entries.length]), [[0, 1], [2, 1]]);
    const verdict = verifyEdgeProof(decodeEdgeProof(encodeEdgeProof(proof!)), registry, 'gw-1');
    assert.ok(verdict.ok);
    if (verdict.ok) for (const id of mine) assert.ok(matchesDataShards(objects.get(id)!, verdict.chunks.get(id)![0]!), id);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a chunk a storage member signed is proven with the member\'s admission, which the index finds in any block', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'baksa-edge-member-'));
  try {
    const [gw1, gw2, gw3] = siteGateways as [FixtureKey, FixtureKey, FixtureKey];
    const gw4 = fixtureKey('gw-4');
    // Block 1 admits gw-4 (a record of account gw-4, signed by the validator gw-2); block 3 holds a record of
    // gw-1 placed on gw-1, gw-4, gw-3; block 4 one placed on the validators only.
    const admit = admissionRecord({ node: 'gw-4', publicKey: gw4.publicKey }, new Uint8Array(16).fill(4), 1_700_000_000_000);
    const admission = { ...admit, signatures: [{ signer: gw2.id, signature: sign(gw2.privateKey, admissionSigningBytes(admit)) }] };
    const objects = [randomBytes(700), randomBytes(5000)];
    const onMember = commitRecord('gw-1', [objects[0]!], 'member', { targets: [gw1, gw4, gw3] });
    const onValidators = commitRecord('gw-1', [objects[1]!], 'validators');
    const blocks: Block[] = [];
    for (const records of [[commitRecord('gw-2', [randomBytes(10)], 'z').record], [admission], [commitRecord('gw-1', [randomBytes(10)], 'y').record], [onMember.record], [onValidators.record]]) {
      blocks.push(certifiedBlock(blocks.at(-1), records));
    }
    const store = await LedgerStore.create(join(dir, 'edge', 'ledger'), registry);
    for (const b of blocks) await store.append(b);
    await store.close();

    const prover = await EdgeProver.open(dir, 'plant-7', 'gw-1');
    const [id] = onMember.ids;
    const { proof } = prover.prove([id!]);
    assert.ok(proof);
    assert.equal(
      proof!.blocks.map((b) => [b.height, b.entries.map((e) => e.record.snapshotId)]),
      [
        [1, ['member:gw-4']],
        [3, ['snap-member']],
      ],
    );
    const verdict = verifyEdgeProof(decodeEdgeProof(encodeEdgeProof(proof!)), registry, 'gw-1');
    assert.ok(verdict.ok, JSON.stringify(verdict));
    if (verdict.ok) {
      assert.equal([...verdict.chunks.keys()], [id]);
      assert.ok(matchesDataShards(objects[0]!, verdict.chunks.get(id!)![0]!));
    }
    // The admission is what makes it verify.
    const without = { ...proof!, blocks: proof!.blocks.filter((b) => b.height !== 1) };
    const refused = verifyEdgeProof(without, registry, 'gw-1');
    assert.is(refused.ok ? 'ok' : refused.problem.reason, 'BAD_RECORD_SIGNATURE');

    // Signed by validators only: no admission rides along.
    assert.equal(
      prover.prove([onValidators.ids[0]!]).proof!.blocks.map((b) => [b.height, b.entries.length]),
      [[4, 1]],
    );
    // Both chunks: each block once, in height order, and the admission once.
    const both = prover.prove([onValidators.ids[0]!, id!, id!]).proof!;
    assert.equal(
      both.blocks.map((b) => [b.height, b.entries.length]),
      [
        [1, 1],
        [3, 1],
        [4, 1],
      ],
    );
    assert.ok(verifyEdgeProof(both, registry, 'gw-1').ok);
    // The admission is no snapshot of gw-4's account, nor a chunk of it.
    const member = await EdgeProver.open(dir, 'plant-7', 'gw-4');
    assert.is(member.chunkCount, 0);
    assert.equal(member.descriptors(), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the ledger index tells descriptors from recorded cloud receipts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'baksa-edge-receipts-'));
  try {
    // As the edge writes them: manifestRoot is the object's id; a receipt's record names receipt:<snapshot>.
    const objectId = (ids: string[]) => new Uint8Array(Buffer.from(ids[0]!, 'hex'));
    const descriptor = commitRecord('gw-1', [randomBytes(300)], 'desc', { snapshotId: 'snap-a', manifestRoot: objectId });
    const receipt = commitRecord('gw-1', [randomBytes(200)], 'rcpt', { snapshotId: 'receipt:snap-a', manifestRoot: objectId });
    const blocks = [certifiedBlock(undefined, [descriptor.record, receipt.record])];
    const store = await LedgerStore.create(join(dir, 'edge', 'ledger'), registry);
    for (const b of blocks) await store.append(b);
    await store.close();
    const prover = await EdgeProver.open(dir, 'plant-7', 'gw-1');
    assert.equal(prover.descriptors().map((d) => [d.snapshotId, d.id]), [['snap-a', descriptor.ids[0]]]);
    assert.equal([...prover.receipts()], ['snap-a']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
