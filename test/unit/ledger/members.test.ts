// Storage members (shared/ledger/members.ts): a gateway admitted after the validator set was fixed, by a
// ledger record a validator signs. Every verifier learns its key from the chain in order: the chain
// verifier and the store, the ledger machine (and its snapshots), and edge proofs carrying the admission.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decoder } from '@msgpack/msgpack';
import { sign } from '../../../shared/crypto/sign.ts';
import { BaksaError } from '../../../shared/errors.ts';
import {
  ChainVerifier,
  LedgerStore,
  SignerRegistry,
  admissionRecord,
  admissionSigningBytes,
  decodeEdgeProof,
  encodeEdgeProof,
  nextBlock,
  proofFor,
  signWithAll,
  verifyChain,
  verifyEdgeProof,
  type Block,
  type EdgeProof,
  type EdgeProofBlock,
} from '../../../shared/ledger/index.ts';
import { LedgerMachine, decodeLedgerResult, encodeLedgerOp, type LedgerResult } from '../../../shared/ledger-service/index.ts';
import { transactionDigest, type BlockRecord } from '../../../shared/protocol/index.ts';
import { fixtureKey, intruder, sampleRecord, validators, type FixtureKey } from '../../fixtures/ledger/make.ts';
import * as svc from '../ledger-service/fixture.ts';

const registry = new SignerRegistry(validators);
const [n1, n2, n3] = validators as [FixtureKey, FixtureKey, FixtureKey, FixtureKey];
const gw4 = fixtureKey('gw-4');
const gw5 = fixtureKey('gw-5');
const T = 1_700_000_000_000;

const sha = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest());
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : 'none');

interface Signer {
  id: string;
  privateKey: FixtureKey['privateKey'];
}

/** The admission record of `member` (its key, or `key`), signed by `signers` over its admission signing bytes. */
function admission(member: { id: string; publicKey: Uint8Array }, signers: readonly Signer[], seed = member.id, key = member.publicKey): BlockRecord {
  const record = admissionRecord({ node: member.id, publicKey: key }, sha(`admit ${seed}`).subarray(0, 16), T);
  const digest = admissionSigningBytes(record);
  return { ...record, signatures: signers.map((s) => ({ signer: s.id, signature: sign(s.privateKey, digest) })) };
}

/** A 2+1 record of `account` (one chunk) placed on `targets`, each signing its transaction digest. */
function placedOn(seed: string, targets: readonly Signer[], account = 'acct.example.org'): { record: BlockRecord; chunk: string } {
  const chunk = sha(`chunk ${seed}`);
  const content = {
    txId: sha(`tx ${seed}`).subarray(0, 16),
    ts: T,
    account,
    snapshotId: `snap-${seed}`,
    manifestRoot: sha(`manifest ${seed}`),
    dataShards: 2,
    parityShards: 1,
    shards: targets.map((t, index) => ({ chunk, index, hash: sha(`shard ${seed}.${index}`), node: t.id })),
  };
  const digest = transactionDigest(content);
  return { record: { ...content, signatures: targets.map((t) => ({ signer: t.id, signature: sign(t.privateKey, digest) })) }, chunk: hex(chunk) };
}

/** Blocks holding `recordsPerBlock`, each certified by a quorum (3 of the 4 validators). */
function chainOf(recordsPerBlock: BlockRecord[][]): Block[] {
  const blocks: Block[] = [];
  for (const records of recordsPerBlock) blocks.push(signWithAll(nextBlock(blocks.at(-1), T + blocks.length * 1000, records), [n1, n2, n3]));
  return blocks;
}

const verdictOf = (blocks: Block[]) => {
  const v = verifyChain(blocks, registry);
  return v.ok ? 'ok' : `${v.reason}@${v.height}: ${v.message}`;
};

const byGw4 = (seed: string) => placedOn(seed, [n1, gw4, n3]).record;

// ---- the chain verifier ------------------------------------------------------------------------------

test('verifyChain: a storage member signs records after its admission, never before', () => {
  const admit = admission(gw4, [n1]);
  assert.is(verdictOf(chainOf([[sampleRecord(0, 0)], [admit], [byGw4('after')]])), 'ok');
  // A placement target unknown to the chain is refused, whether it is never admitted or admitted later.
  assert.match(verdictOf(chainOf([[sampleRecord(0, 0)], [byGw4('before')], [admit]])), /^BAD_RECORD_SIGNATURE@1: .*gw-4.*neither a validator nor an admitted member/);
  assert.match(verdictOf(chainOf([[byGw4('never')]])), /^BAD_RECORD_SIGNATURE@0/);
  // Within one block the order of the records decides.
  assert.is(verdictOf(chainOf([[admit, byGw4('same block, after')]])), 'ok');
  assert.match(verdictOf(chainOf([[byGw4('same block, before'), admit]])), /^BAD_RECORD_SIGNATURE@0: record 0:/);
  // Admitting gw-4 does not let it sign for gw-5, nor lets a forged gw-4 signature through.
  assert.match(verdictOf(chainOf([[admit], [placedOn('gw-5', [n1, gw5, n3]).record]])), /^BAD_RECORD_SIGNATURE@1: .*gw-5/);
  const forged = byGw4('forged');
  forged.signatures[1] = { signer: 'gw-4', signature: sign(gw5.privateKey, transactionDigest(forged)) };
  assert.match(verdictOf(chainOf([[admit], [forged]])), /^BAD_RECORD_SIGNATURE@1: .*gw-4.*does not verify/);
});

test('verifyChain: an admission that breaks its rule is refused with BAD_RECORD_SIGNATURE', () => {
  const refused = (records: BlockRecord[][], pattern: RegExp) => {
    const verdict = verdictOf(chainOf(records));
    assert.match(verdict, /^BAD_RECORD_SIGNATURE@/, verdict);
    assert.match(verdict, pattern, verdict);
  };
  const good = admission(gw4, [n1]);
  assert.is(verdictOf(chainOf([[good]])), 'ok', 'the reference admission passes');
  assert.is(verdictOf(chainOf([[admission(gw4, [n1, n2, n3])]])), 'ok', 'several validators may sign');
  refused([[admission(gw4, [intruder])]], /not a validator/);
  refused([[admission(gw4, [n1, gw4])]], /not a validator/);
  refused([[admission(gw4, [])]], /signed by no validator/);
  refused([[admission(gw4, [n1, n1])]], /signed twice/);
  // A signature over another record's digest.
  const forged = { ...good, signatures: [{ signer: n1.id, signature: sign(n1.privateKey, sha('something else')) }] };
  refused([[forged]], /does not verify/);
  // A validator's signature over the bare transaction digest (what a placement target signs for any
  // coordinator that asks) is not an admission signature.
  refused([[{ ...good, signatures: [{ signer: n1.id, signature: sign(n1.privateKey, transactionDigest(good)) }] }]], /does not verify/);
  // A validator's name, or a validator's key under a new name.
  refused([[admission({ id: n2.id, publicKey: gw4.publicKey }, [n1])]], /validator of this cluster already/);
  refused([[admission(gw5, [n1], 'gw-5', n2.publicKey)]], /another member's/);
  // The same name twice (in a later block or in the same one), or a second name with a member's key.
  refused([[good], [admission(gw4, [n2], 'gw-4 again')]], /gw-4 was admitted already/);
  refused([[good, admission(gw4, [n2], 'gw-4 again')]], /gw-4 was admitted already/);
  refused([[good], [admission(gw5, [n1], 'gw-5', gw4.publicKey)]], /another member's/);
  // Malformed: account not the member's name, shards placed, a key of the wrong size.
  refused([[{ ...good, account: 'gw-5' }]], /account is the member's name/);
  refused([[{ ...good, shards: sampleRecord(0, 0).shards }]], /places no shards/);
  refused([[{ ...good, manifestRoot: new Uint8Array(31) }]], /32-byte/);
});

test('ChainVerifier.admitted lists each member with the block and index of its admission', () => {
  const verifier = new ChainVerifier(registry);
  for (const b of chainOf([[sampleRecord(0, 0)], [sampleRecord(1, 0), admission(gw4, [n2])], [byGw4('x'), admission(gw5, [n3])]])) {
    assert.is(verifier.push(b), undefined);
  }
  assert.equal(
    verifier.admitted.members().map((m) => [m.node, hex(m.publicKey), m.height, m.index]),
    [
      ['gw-4', hex(gw4.publicKey), 1, 1],
      ['gw-5', hex(gw5.publicKey), 2, 1],
    ],
  );
  // A refused block admits nobody.
  const other = new ChainVerifier(registry);
  const [b0] = chainOf([[admission(gw4, [n1]), byGw4('bad'), placedOn('never', [n1, gw5, n3]).record]]);
  assert.ok(other.push(b0!));
  assert.is(other.admitted.size, 0);
});

// ---- the store ---------------------------------------------------------------------------------------

test('LedgerStore: learns the members from its blocks on append and on open', async () => {
  const dir = await mkdtemp(join(tmpdir(), '2baksa-members-'));
  try {
    const blocks = chainOf([[admission(gw4, [n1])], [byGw4('one')], [byGw4('two')], [placedOn('gw-5', [n1, gw5, n3]).record]]);
    const store = await LedgerStore.create(dir, validators);
    await store.append(blocks[0]!);
    assert.is(hex(store.admitted.keyOf('gw-4')), hex(gw4.publicKey));
    await store.append(blocks[1]!);
    await store.close();

    const again = await LedgerStore.open(dir);
    try {
      assert.is(hex(again.admitted.keyOf('gw-4')), hex(gw4.publicKey));
      assert.equal({ ...again.admitted.get('gw-4'), publicKey: undefined }, { node: 'gw-4', publicKey: undefined, height: 0, index: 0 });
      assert.is(again.admitted.size, 1);
      await again.append(blocks[2]!); // signed by gw-4: it is known after the reopen
      assert.is(again.height, 2);
      // gw-5 was never admitted: its record is refused.
      let error: unknown;
      await again.append(blocks[3]!).catch((e: unknown) => (error = e));
      assert.instance(error, BaksaError);
      assert.is((error as BaksaError).code, 'LEDGER_REJECTED');
      assert.match((error as Error).message, /BAD_RECORD_SIGNATURE/);
    } finally {
      await again.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---- the ledger machine ------------------------------------------------------------------------------

const sgw4 = svc.keyOf('gw-4');
const machine = () => new LedgerMachine({ registry: svc.registry, options: { txLifetimeMs: svc.LIFETIME_MS, clockSkewMsMax: 30_000 } });
const run = (m: LedgerMachine, op: Uint8Array, seq: number, timeMs: number): LedgerResult => decodeLedgerResult(m.execute(op, svc.ctx(seq, timeMs)));
const reason = (r: LedgerResult) => (r.ok ? 'OK' : r.reason);
const admitOp = (record: BlockRecord) => encodeLedgerOp({ op: 'commit', request: { txId: record.txId, record } });
const svcAdmission = (member: svc.TestKey, signers: svc.TestKey[], seed = member.id, key = member.publicKey) => {
  const record = admissionRecord({ node: member.id, publicKey: key }, sha(`svc admit ${seed}`).subarray(0, 16), svc.T0);
  const digest = admissionSigningBytes(record);
  return admitOp({ ...record, signatures: signers.map((s) => ({ signer: s.id, signature: sign(s.privateKey, digest) })) });
};
const onGw4 = (name: string) => svc.commitOp(name, svc.T0, { targets: ['node0', 'gw-4', 'node2'], signers: [svc.keys[0]!, sgw4, svc.keys[2]!] });

test('LedgerMachine: admits a member for the records after its admission, and agrees with the chain verifier', () => {
  const m = machine();
  const t = svc.T0 + 10;
  assert.is(reason(run(m, onGw4('too early'), 1, t)), 'BAD_SIGNATURE', 'gw-4 is no signer before its admission');
  assert.equal(run(m, svcAdmission(sgw4, [svc.keys[1]!]), 1, t), { ok: true, height: 0 });
  assert.is(hex(m.members().keyOf('gw-4')), hex(sgw4.publicKey));
  assert.equal(run(m, onGw4('same batch'), 1, t), { ok: true, height: 0 });
  assert.equal(run(m, onGw4('next batch'), 2, t + 10), { ok: true, height: 1 });
  m.endBatch(2);
  const blocks = m.takeBlocks();
  assert.equal(
    blocks.map((b) => b.records.length),
    [2, 1],
  );
  // The machine records where the admission is (block 0, record 0) …
  assert.equal([m.members().get('gw-4')!.height, m.members().get('gw-4')!.index], [0, 0]);
  // … and the blocks it formed pass the verifier once certified.
  const v = verifyChain(
    blocks.map((b) => signWithAll(b, svc.keys.slice(0, 3))),
    svc.registry,
  );
  assert.ok(v.ok, JSON.stringify(v));
});

test('LedgerMachine: the admitted member is recorded at its index in the block', () => {
  const m = machine();
  const t = svc.T0 + 10;
  assert.ok(run(m, svc.commitOp('first', svc.T0), 1, t).ok);
  assert.ok(run(m, svcAdmission(sgw4, [svc.keys[0]!]), 1, t).ok);
  m.endBatch(1);
  const [block] = m.takeBlocks();
  assert.is(block!.records[1]!.snapshotId, 'member:gw-4');
  assert.equal([m.members().get('gw-4')!.height, m.members().get('gw-4')!.index], [0, 1]);
});

test('LedgerMachine: a bad admission is refused with BAD_ADMISSION and admits nobody', () => {
  const m = machine();
  const t = svc.T0 + 10;
  const bad = (op: Uint8Array, pattern: RegExp) => {
    const r = run(m, op, 1, t);
    assert.is(reason(r), 'BAD_ADMISSION');
    if (!r.ok) assert.match(r.message, pattern);
  };
  bad(svcAdmission(sgw4, [svc.outsider]), /not a validator/);
  bad(svcAdmission(sgw4, []), /signed by no validator/);
  bad(svcAdmission(svc.keyOf('node1'), [svc.keys[0]!]), /validator of this cluster already/);
  bad(svcAdmission(sgw4, [svc.keys[0]!], 'gw-4 with a validator key', svc.keys[3]!.publicKey), /another member's/);
  assert.is(m.members().size, 0);
  assert.is(reason(run(m, onGw4('still unknown'), 1, t)), 'BAD_SIGNATURE');
  assert.ok(run(m, svcAdmission(sgw4, [svc.keys[0]!]), 1, t).ok);
  bad(svcAdmission(sgw4, [svc.keys[1]!], 'gw-4 again'), /admitted already/);
  bad(svcAdmission(svc.keyOf('gw-5'), [svc.keys[1]!], 'gw-5', sgw4.publicKey), /another member's/);
  assert.is(m.stats.refused['BAD_ADMISSION'], 6);
});

test('LedgerMachine: snapshots carry the members (and no members key while there are none)', () => {
  const decode = (bytes: Uint8Array) => new Decoder().decode(bytes) as Record<string, unknown>;
  const t = svc.T0 + 10;

  const plain = machine();
  assert.ok(run(plain, svc.commitOp('a', svc.T0), 1, t).ok);
  const plainState = decode(plain.snapshot());
  assert.equal(Object.keys(plainState).sort(), ['tip', 'txs', 'v']);

  const m = machine();
  assert.ok(run(m, svc.commitOp('a', svc.T0), 1, t).ok);
  assert.ok(run(m, svcAdmission(sgw4, [svc.keys[0]!]), 1, t).ok);
  const snapshot = m.snapshot();
  const state = decode(snapshot);
  assert.equal(Object.keys(state).sort(), ['members', 'tip', 'txs', 'v']);
  assert.equal(
    (state['members'] as { node: string; key: Uint8Array; h: number; i: number }[]).map((x) => [x.node, hex(x.key), x.h, x.i]),
    [['gw-4', hex(sgw4.publicKey), 0, 1]],
  );

  const fresh = machine();
  assert.is(reason(run(fresh, onGw4('before restore'), 1, t)), 'BAD_SIGNATURE');
  fresh.restore(snapshot);
  assert.is(hex(fresh.members().keyOf('gw-4')), hex(sgw4.publicKey));
  assert.equal(run(fresh, onGw4('after restore'), 2, t + 10), { ok: true, height: 1 });
  assert.equal(
    (decode(fresh.snapshot())['members'] as { node: string }[]).map((x) => x.node),
    ['gw-4'],
    'its own snapshots carry the member on',
  );
  // Restoring a snapshot without members forgets them.
  fresh.restore(plain.snapshot());
  assert.is(fresh.members().size, 0);
  assert.is(reason(run(fresh, onGw4('forgotten'), 3, t + 20)), 'BAD_SIGNATURE');
});

// ---- edge proofs -------------------------------------------------------------------------------------

/** An edge proof of some records of some blocks (in the order given). */
function proofOfBlocks(blocks: Block[], picks: [height: number, records: number[]][]): EdgeProof {
  const out: EdgeProofBlock[] = picks.map(([height, indexes]) => {
    const b = blocks[height]!;
    return {
      height: b.height,
      prevHash: b.prevHash,
      time: b.time,
      merkleRoot: b.merkleRoot,
      qc: [...b.qc],
      entries: indexes.map((i) => ({ record: b.records[i]!, proof: proofFor(b.records, i) })),
    };
  });
  return { site: 'plant-7', blocks: out };
}

const proofVerdict = (proof: EdgeProof, account = 'acct.example.org') => {
  const v = verifyEdgeProof(decodeEdgeProof(encodeEdgeProof(proof)), registry, account);
  return v.ok ? 'ok' : `${v.problem.reason}@${v.height}: ${v.problem.message}`;
};

test('verifyEdgeProof: a record a storage member signed is proven with its admission entry', () => {
  const mine = placedOn('edge', [n1, gw4, n3]);
  const blocks = chainOf([[sampleRecord(0, 0), admission(gw4, [n2])], [sampleRecord(1, 0), mine.record]]);
  const full = proofOfBlocks(blocks, [
    [0, [1]],
    [1, [1]],
  ]);
  const v = verifyEdgeProof(full, registry, 'acct.example.org');
  assert.ok(v.ok, JSON.stringify(v));
  if (v.ok) {
    // The admission (of account gw-4) is no chunk of this account and fails no account check.
    assert.equal([...v.chunks.keys()], [mine.chunk]);
    assert.equal(
      v.chunks.get(mine.chunk)!.map((c) => [c.k, c.m, c.height]),
      [[2, 1, 1]],
    );
  }
  // Without the admission, gw-4's signature is of nobody the verifier knows.
  assert.match(proofVerdict(proofOfBlocks(blocks, [[1, [1]]])), /^BAD_RECORD_SIGNATURE@1: record 1: .*gw-4/);
  // Blocks in either order: admissions are checked in chain order first.
  assert.is(
    proofVerdict(
      proofOfBlocks(blocks, [
        [1, [1]],
        [0, [1]],
      ]),
    ),
    'ok',
  );
  // The admission entry must be the certified one.
  const tampered = proofOfBlocks(blocks, [
    [0, [1]],
    [1, [1]],
  ]);
  const entry = tampered.blocks[0]!.entries[0]!;
  tampered.blocks[0]!.entries[0] = { ...entry, record: { ...entry.record, manifestRoot: gw5.publicKey } };
  assert.match(proofVerdict(tampered), /^BAD_MERKLE_ROOT@0/);
});

test('verifyEdgeProof: an admission after the record, or one that breaks its rule, does not prove a signature', () => {
  const mine = placedOn('late', [n1, gw4, n3]);
  // Same block, the record before the admission.
  const late = chainOf([[mine.record, admission(gw4, [n2])]]);
  assert.match(proofVerdict(proofOfBlocks(late, [[0, [0, 1]]])), /^BAD_RECORD_SIGNATURE@0: record 0: .*gw-4/);
  // Same block, the admission first: fine.
  const early = chainOf([[admission(gw4, [n2]), mine.record]]);
  assert.is(proofVerdict(proofOfBlocks(early, [[0, [0, 1]]])), 'ok');
  // A later block.
  const later = chainOf([[mine.record], [admission(gw4, [n2])]]);
  assert.match(
    proofVerdict(
      proofOfBlocks(later, [
        [0, [0]],
        [1, [0]],
      ]),
    ),
    /^BAD_RECORD_SIGNATURE@0/,
  );
  // A (certified) admission signed by a non-validator proves nothing: the proof is refused.
  const byIntruder = chainOf([[admission(gw4, [intruder]), mine.record]]);
  assert.match(proofVerdict(proofOfBlocks(byIntruder, [[0, [0, 1]]])), /^BAD_RECORD_SIGNATURE@0: record 0: .*not a validator/);
  // An admission alone proves no chunk.
  const only = verifyEdgeProof(proofOfBlocks(early, [[0, [0]]]), registry, 'acct.example.org');
  assert.ok(only.ok);
  if (only.ok) assert.is(only.chunks.size, 0);
});

test.run();
