// The signed NodeState message (DESIGN §4 membership, §8 signatures): births and wills seal and open,
// nobody can speak for another node, keys are pinned on first use, and bad bytes never throw.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { defaultRegistry, sealEnvelope } from '../../../shared/protocol/index.ts';
import { NODE_STATE_BYTES_MAX, openNodeState, sealNodeState, validatorSetDigest, type NodeStateBody } from '../../../shared/membership/state-message.ts';

const a = generateSigningKey();
const b = generateSigningKey();
const registered = (id: string) => (id === 'a' ? a.publicKey : id === 'b' ? b.publicKey : undefined);
const NOW = 1_700_000_000_000;

test('NodeState is a registered message type', () => {
  assert.ok(defaultRegistry.has('NodeState'));
});

test('a birth and a will seal and open with the registered keys; the will opens long after it was sealed', () => {
  const body: NodeStateBody = { online: true, bdSeq: 7, pubkey: a.publicKey, capacity: { bytesTotal: 1000, bytesFree: 600 }, version: '0.1.0' };
  const r = openNodeState(sealNodeState('a', body, a.privateKey, NOW), { keyOf: registered, trustOnFirstUse: false });
  assert.ok(r.ok);
  if (r.ok) {
    assert.is(r.state.signer, 'a');
    assert.equal(r.state.body, body);
    assert.is(r.state.pinKey, undefined);
  }
  const old = sealNodeState('a', { online: false, bdSeq: 7 }, a.privateKey, NOW - 30 * 86_400_000);
  const w = openNodeState(old, { keyOf: registered, trustOnFirstUse: false });
  assert.ok(w.ok && w.state.body.online === false && w.state.body.bdSeq === 7);
});

test('a birth carries the digest of its validator set: the same set in any order gives the same digest; a digest of another length is refused', () => {
  const digest = validatorSetDigest('plant', ['gw-2', 'gw-1', 'gw-3', 'gw-1']);
  assert.equal(digest, validatorSetDigest('plant', ['gw-1', 'gw-2', 'gw-3']));
  assert.not.equal(digest, validatorSetDigest('plant', ['gw-1', 'gw-2', 'gw-9']));
  assert.not.equal(digest, validatorSetDigest('mill', ['gw-1', 'gw-2', 'gw-3']));
  const r = openNodeState(sealNodeState('a', { online: true, bdSeq: 1, pubkey: a.publicKey, validators: digest }, a.privateKey, NOW), { keyOf: registered, trustOnFirstUse: false });
  assert.ok(r.ok && r.state.body.validators !== undefined);
  if (r.ok) assert.equal(r.state.body.validators, digest);
  assert.throws(() => sealNodeState('a', { online: true, bdSeq: 1, pubkey: a.publicKey, validators: digest.subarray(0, 16) }, a.privateKey, NOW), /validators/);
});

test("a message signed with the wrong key is refused; a state signed by b stays b's (the tracker drops it on a's topic)", () => {
  const forged = sealNodeState('a', { online: false, bdSeq: 9 }, b.privateKey, NOW);
  const r = openNodeState(forged, { keyOf: registered, trustOnFirstUse: false });
  assert.equal(r.ok ? 'ok' : r.code, 'BAD_SIGNATURE');
  const bs = openNodeState(sealNodeState('b', { online: false, bdSeq: 9 }, b.privateKey, NOW), { keyOf: registered, trustOnFirstUse: false });
  assert.ok(bs.ok && bs.state.signer === 'b');
});

test('a birth announcing a key other than the registered one is refused', () => {
  const r = openNodeState(sealNodeState('a', { online: true, bdSeq: 1, pubkey: b.publicKey }, a.privateKey, NOW), { keyOf: registered, trustOnFirstUse: false });
  assert.equal(r.ok ? 'ok' : r.code, 'KEY_MISMATCH');
});

test('trust on first use: an unknown node\'s self-signed birth opens and asks to pin its key; its will needs the pinned key', () => {
  const c = generateSigningKey();
  const pinned = new Map<string, Uint8Array>();
  const options = { keyOf: (id: string) => pinned.get(id), trustOnFirstUse: true };
  const willFirst = openNodeState(sealNodeState('c', { online: false, bdSeq: 1 }, c.privateKey, NOW), options);
  assert.equal(willFirst.ok ? 'ok' : willFirst.code, 'UNKNOWN_SENDER');
  const r = openNodeState(sealNodeState('c', { online: true, bdSeq: 1, pubkey: c.publicKey }, c.privateKey, NOW), options);
  assert.ok(r.ok && r.state.pinKey !== undefined);
  if (r.ok && r.state.pinKey) pinned.set('c', r.state.pinKey);
  assert.ok(openNodeState(sealNodeState('c', { online: false, bdSeq: 1 }, c.privateKey, NOW), options).ok);
  // once pinned, a birth with another key (an impostor) fails
  const mallory = generateSigningKey();
  const impostor = openNodeState(sealNodeState('c', { online: true, bdSeq: 2, pubkey: mallory.publicKey }, mallory.privateKey, NOW), options);
  assert.equal(impostor.ok ? 'ok' : impostor.code, 'BAD_SIGNATURE');
  // without trust on first use an unknown sender stays unknown
  const strict = openNodeState(sealNodeState('d', { online: true, bdSeq: 1, pubkey: mallory.publicKey }, mallory.privateKey, NOW), { keyOf: () => undefined, trustOnFirstUse: false });
  assert.equal(strict.ok ? 'ok' : strict.code, 'UNKNOWN_SENDER');
});

test('schema: a birth needs a key and cannot be orderly; another message type on a state topic is refused', () => {
  assert.throws(() => sealNodeState('a', { online: true, bdSeq: 1 }, a.privateKey, NOW), /pubkey/);
  assert.throws(() => sealNodeState('a', { online: true, bdSeq: 1, pubkey: a.publicKey, orderly: true }, a.privateKey, NOW), /orderly/);
  const other = sealEnvelope({ type: 'Consensus', from: 'a', ts: NOW, body: new Uint8Array([1, 2]) }, { privateKey: a.privateKey });
  const r = openNodeState(other, { keyOf: registered, trustOnFirstUse: false });
  assert.equal(r.ok ? 'ok' : r.code, 'WRONG_TYPE');
});

test('oversized payloads are dropped before decoding', () => {
  const r = openNodeState(new Uint8Array(NODE_STATE_BYTES_MAX + 1), { keyOf: registered, trustOnFirstUse: true });
  assert.equal(r.ok ? 'ok' : r.code, 'OVERSIZE');
});

test('fuzz: random bytes and mutated envelopes never throw and never open', () => {
  const good = sealNodeState('a', { online: true, bdSeq: 3, pubkey: a.publicKey }, a.privateKey, NOW);
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
          const m = Uint8Array.from(good);
          m[i] = m[i]! ^ x;
          return m;
        }),
      ),
      fc.boolean(),
      (bytes, tofu) => {
        const r = openNodeState(bytes, { keyOf: registered, trustOnFirstUse: tofu });
        if (r.ok) {
          // a flipped bit may only land in a place that does not change the signed payload's meaning
          assert.is(r.state.signer, 'a');
          assert.is(r.state.body.bdSeq, 3);
        }
      },
    ),
    { numRuns: 1000 },
  );
});

test.run();
