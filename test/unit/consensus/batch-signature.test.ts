// One Ed25519 signature over a Merkle root for many messages (shared/consensus/batch-signature.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  BATCH_LEAVES_MAX,
  decodeMessage,
  defaultCodecOptions,
  ed25519Signer,
  ed25519Verifier,
  encodeMessage,
  signedBytes,
  signBatch,
  verifySignature,
  VerifiedTrees,
  type Request,
} from '../../../shared/consensus/index.ts';
import { generateSigningKey, sign, verify } from '../../../shared/crypto/sign.ts';

const alice = generateSigningKey();
const mallory = generateSigningKey();

function messages(count: number, seed = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => new TextEncoder().encode(`message ${seed}/${i}`));
}

/** A verifier of alice's batch signatures that counts its Ed25519 checks. */
function checker(verified = new VerifiedTrees()) {
  const calls = { ed25519: 0 };
  const one = (data: Uint8Array, sig: Uint8Array) => {
    calls.ed25519 += 1;
    return verify(alice.publicKey, data, sig);
  };
  const check = (data: Uint8Array, sig: Uint8Array) => verifySignature('alice', data, sig, 64, one, verified);
  return { check, calls };
}

test('every message of a batch verifies, whatever its size and order, with one Ed25519 check per batch', () => {
  for (const count of [2, 3, 5, 7, 8, 9, 33, BATCH_LEAVES_MAX]) {
    const data = messages(count, count);
    const sigs = signBatch(data, (d) => sign(alice.privateKey, d));
    assert.is(sigs.length, count);
    const { check, calls } = checker();
    const order = data.map((_, i) => i).sort((a, b) => ((a * 37) % count) - ((b * 37) % count) || a - b);
    for (const i of order) assert.ok(check(data[i]!, sigs[i]!), `message ${i} of ${count}`);
    assert.is(calls.ed25519, 1, `one root check for ${count} messages`);
    for (let i = 0; i < count; i++) assert.ok(checker().check(data[i]!, sigs[i]!), `message ${i} of ${count}, fresh verifier`);
  }
});

test('one message alone gets a plain signature; more than the leaf bound get one signature per batch', () => {
  const [only] = signBatch(messages(1), (d) => sign(alice.privateKey, d));
  assert.is(only!.length, 64);
  let signs = 0;
  const data = messages(BATCH_LEAVES_MAX * 2 + 1);
  const sigs = signBatch(data, (d) => (signs++, sign(alice.privateKey, d)));
  assert.is(signs, 3);
  assert.is(sigs[BATCH_LEAVES_MAX * 2]!.length, 64, 'the last batch holds one message');
  const { check } = checker();
  data.forEach((d, i) => assert.ok(check(d, sigs[i]!), `message ${i}`));
});

test('a message with another message\'s signature, another key\'s batch or a changed byte is refused', () => {
  const data = messages(10);
  const sigs = signBatch(data, (d) => sign(alice.privateKey, d));
  const forged = signBatch(data, (d) => sign(mallory.privateKey, d));
  const { check } = checker();
  assert.ok(check(data[3]!, sigs[3]!));
  assert.not.ok(check(data[3]!, sigs[4]!), 'the signature of message 4');
  assert.not.ok(check(new TextEncoder().encode('message 0/3!'), sigs[3]!), 'other data');
  assert.not.ok(check(data[5]!, forged[5]!), "mallory's batch of the same messages");
  assert.not.ok(check(data[3]!, sigs[3]!.subarray(0, sigs[3]!.length - 32)), 'a sibling short');
  assert.not.ok(check(data[3]!, new Uint8Array(7)), 'no batch layout');
});

test('a verifier that remembers a batch answers as a fresh one does, for any changed byte', () => {
  const data = messages(13);
  const sigs = signBatch(data, (d) => sign(alice.privateKey, d));
  const remembering = checker();
  for (let i = 0; i < data.length; i += 2) assert.ok(remembering.check(data[i]!, sigs[i]!));
  fc.assert(fc.property(fc.nat(12), fc.nat(400), fc.integer({ min: 1, max: 255 }), (i, at, flip) => {
    const sig = sigs[i]!.slice();
    sig[at % sig.length]! ^= flip;
    const fresh = checker().check(data[i]!, sig);
    assert.is(remembering.check(data[i]!, sig), fresh, `message ${i}, byte ${at % sig.length} ^ ${flip}`);
    assert.not.ok(fresh, 'a changed byte never verifies');
  }), { numRuns: 300 });
  const checks = remembering.calls.ed25519;
  for (let at = 7 + 64; at < sigs[0]!.length; at++) {
    const sig = sigs[0]!.slice();
    sig[at]! ^= 1;
    assert.not.ok(remembering.check(data[0]!, sig), `sibling byte ${at} changed`);
  }
  assert.is(remembering.calls.ed25519, checks, 'a changed path under a remembered signature costs no Ed25519 check');
  for (let i = 1; i < data.length; i += 2) assert.ok(remembering.check(data[i]!, sigs[i]!), `message ${i} after the changed ones`);
});

test('the replica verifier takes batch-signed requests from the codec, inside the signature size bound', () => {
  const client = ed25519Signer(alice);
  const unsigned = Array.from({ length: BATCH_LEAVES_MAX }, (_, i) => ({
    type: 'request' as const, client: `link/${i}`, requestId: i + 1, op: new Uint8Array(1024).fill(i),
  }));
  const sigs = client.signMany!(unsigned.map((u) => signedBytes(u)));
  const verifier = ed25519Verifier([], (id) => (id.startsWith('link/') ? alice.publicKey : undefined));
  for (let i = 0; i < unsigned.length; i++) {
    assert.ok(sigs[i]!.length <= defaultCodecOptions.signatureBytesMax, `signature ${i} fits the codec bound`);
    const decoded = decodeMessage(encodeMessage({ ...unsigned[i]!, sig: sigs[i]! }));
    assert.ok(decoded.ok, `request ${i} decodes`);
    const r = decoded.value as Request;
    assert.ok(verifier.verifyClient(r.client, signedBytes(r), r.sig), `request ${i} verifies`);
    assert.not.ok(verifier.verifyClient('other', signedBytes(r), r.sig), 'a client without a key');
  }
});

test.run();
