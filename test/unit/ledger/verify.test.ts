// Chain verification (DESIGN §5: a valid block needs a quorum ⌈(n+f+1)/2⌉ of distinct registered keys;
// `ledger verify` re-checks every hash and signature).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { sign } from '../../../shared/crypto/sign.ts';
import {
  ChainVerifier,
  GENESIS_PREV_HASH,
  SignerRegistry,
  blockHash,
  buildBlock,
  decodeBlock,
  encodeBlock,
  faultsTolerated,
  nextBlock,
  quorumSize,
  signBlock,
  signWithAll,
  verifyChain,
  withQc,
  type Block,
  type UnsignedBlock,
} from '../../../shared/ledger/index.ts';
import { fixtureKey, goodChain, intruder, sampleRecord, validators } from '../../fixtures/ledger/make.ts';

const registry = new SignerRegistry(validators);
const [n1, n2, n3, n4] = validators as [(typeof validators)[0], (typeof validators)[0], (typeof validators)[0], (typeof validators)[0]];

test('quorum sizes: ⌈(n+f+1)/2⌉ with f = ⌊(n−1)/3⌋', () => {
  const expected: Record<number, [number, number]> = { 1: [0, 1], 2: [0, 2], 3: [0, 2], 4: [1, 3], 5: [1, 4], 6: [1, 4], 7: [2, 5], 10: [3, 7], 20: [6, 14] };
  for (const [n, [f, q]] of Object.entries(expected)) {
    assert.is(faultsTolerated(Number(n)), f, `f(${n})`);
    assert.is(quorumSize(Number(n)), q, `q(${n})`);
  }
  for (let f = 0; f < 10; f++) assert.is(quorumSize(3 * f + 1), 2 * f + 1);
  assert.is(registry.quorum, 3);
});

test('the validator set refuses duplicates, shared keys, bad ids and bad keys', () => {
  assert.throws(() => new SignerRegistry([n1, n1]), /twice/);
  assert.throws(() => new SignerRegistry([n1, { id: 'other', publicKey: n1.publicKey }]), /reuses/);
  assert.throws(() => new SignerRegistry([{ id: 'a/b', publicKey: n1.publicKey }]), /node id/);
  assert.throws(() => new SignerRegistry([{ id: 'a', publicKey: new Uint8Array(31) }]), /32-byte/);
  assert.throws(() => new SignerRegistry([]), /empty/);
});

test('a good chain verifies and names its signers', () => {
  const chain = goodChain(6);
  const v = verifyChain(chain, registry);
  assert.ok(v.ok);
  if (v.ok) {
    assert.is(v.blocks, 6);
    assert.is(v.height, 5);
    assert.equal(v.tipHash, blockHash(chain[5]!));
    assert.equal(v.signers, ['node-1', 'node-2', 'node-3', 'node-4']);
  }
  assert.equal(chain[0]!.prevHash, GENESIS_PREV_HASH);
  const empty = verifyChain([], registry);
  assert.ok(empty.ok && empty.height === -1 && empty.blocks === 0);
});

function failure(chain: Block[]): [number, string] {
  const v = verifyChain(chain, registry);
  assert.not.ok(v.ok, 'expected a bad chain');
  return v.ok ? [-1, ''] : [v.height, v.reason];
}

test('each broken rule is named at the first bad height', () => {
  const good = goodChain(4);
  const edit = (h: number, fn: (b: Block) => Block): Block[] => good.map((b, i) => (i === h ? fn(b) : b));
  const resign = (b: UnsignedBlock, keys = [n1, n2, n3]): Block => signWithAll(b, keys);

  assert.equal(failure(edit(2, (b) => ({ ...b, height: 3 }))), [2, 'BAD_HEIGHT']);
  assert.equal(failure(edit(0, (b) => resign({ ...b, prevHash: new Uint8Array(32).fill(1) }))), [0, 'BAD_PREV_HASH']);
  assert.equal(failure(edit(2, (b) => resign({ ...b, prevHash: good[0]!.prevHash }))), [2, 'BAD_PREV_HASH']);
  assert.equal(failure(edit(3, (b) => resign({ ...b, time: good[2]!.time - 1 }))), [3, 'BAD_TIME']);
  assert.equal(failure(edit(1, (b) => ({ ...b, records: b.records.slice(1) }))), [1, 'BAD_MERKLE_ROOT']);
  assert.equal(failure(edit(1, (b) => resign(buildBlock({ ...b, records: [{ ...b.records[0]!, account: 'evil' }] })))), [1, 'BAD_RECORD_SIGNATURE']);
  assert.equal(failure(edit(2, (b) => resign(b, [n1, n2, intruder]))), [2, 'UNKNOWN_SIGNER']);
  assert.equal(failure(edit(2, (b) => ({ ...b, qc: [b.qc[0]!, b.qc[1]!, b.qc[0]!] }))), [2, 'DUPLICATE_SIGNER']);
  assert.equal(failure(edit(1, (b) => ({ ...b, qc: [b.qc[0]!, b.qc[1]!, { signer: b.qc[2]!.signer, signature: new Uint8Array(64) }] }))), [1, 'BAD_SIGNATURE']);
  assert.equal(failure(edit(3, (b) => resign(b, [n4, n2]))), [3, 'NO_QUORUM']);
  assert.equal(failure(edit(3, (b) => ({ ...b, qc: [] }))), [3, 'NO_QUORUM']);
  // the signature must be over the block-signing domain, not the bare hash
  assert.equal(failure(edit(0, (b) => ({ ...b, qc: [n1, n2, n3].map((k) => ({ signer: k.id, signature: sign(k.privateKey, blockHash(b)) })) }))), [0, 'BAD_SIGNATURE']);
  // record signatures can be skipped on request
  const unsignedRecords = edit(1, (b) => resign(buildBlock({ ...b, records: [{ ...b.records[0]!, account: 'evil' }] })));
  assert.ok(verifyChain(unsignedRecords.slice(0, 2), registry, { recordSignatures: false }).ok);
  assert.not.ok(verifyChain(unsignedRecords.slice(0, 2), registry).ok);
});

test('a quorum from a different validator set does not count', () => {
  const others = new SignerRegistry(['node-1', 'node-2', 'node-3', 'node-4'].map((id) => fixtureKey(`${id}-other`)).map((k, i) => ({ id: `node-${i + 1}`, publicKey: k.publicKey })));
  const v = verifyChain(goodChain(2), others, { recordSignatures: false });
  assert.ok(!v.ok && v.height === 0 && v.reason === 'BAD_SIGNATURE');
});

test('ChainVerifier stops at the first problem and keeps reporting it', () => {
  const chain = goodChain(3);
  const verifier = new ChainVerifier(registry);
  assert.is(verifier.push(chain[0]!), undefined);
  assert.is(verifier.push(chain[2]!)?.reason, 'BAD_HEIGHT');
  assert.is(verifier.push(chain[1]!)?.reason, 'BAD_HEIGHT', 'a later good block does not clear the failure');
  const r = verifier.result();
  assert.ok(!r.ok && r.height === 1 && r.blocks === 1);
});

test('blocks survive encode/decode, and any single byte flip is caught (property)', () => {
  const chain = goodChain(3);
  for (const b of chain) assert.equal(decodeBlock(encodeBlock(b)), b);
  const encoded = chain.map(encodeBlock);
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (h, at, bit) => {
      const bytes = new Uint8Array(encoded[h]!);
      bytes[at % bytes.length]! ^= 1 << bit;
      let block: Block;
      try {
        block = decodeBlock(bytes);
      } catch {
        return true; // refused while decoding: fine
      }
      const blocks = chain.map((b, i) => (i === h ? block : b));
      return !verifyChain(blocks, registry).ok;
    }),
    { numRuns: 400 },
  );
});

test('nextBlock links to the previous block and signBlock signs its hash', () => {
  const b0 = signWithAll(nextBlock(undefined, 1000, [sampleRecord(0, 0)]), [n1, n2, n3]);
  const b1u = nextBlock(b0, 1000, []);
  assert.is(b1u.height, 1);
  assert.equal(b1u.prevHash, blockHash(b0));
  const b1 = withQc(b1u, [signBlock(b1u, 'node-2', n2.privateKey), signBlock(b1u, 'node-3', n3.privateKey), signBlock(b1u, 'node-4', n4.privateKey)]);
  assert.ok(verifyChain([b0, b1], registry).ok);
});

test.run();
