// X25519 key wrapping for write-only gateways (DESIGN §3 step 4: a stolen gateway cannot read old backups).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { BaksaError } from '../../../shared/errors.ts';
import { generateWrapKeyPair, unwrapKey, wrapKey, wrapKeyPairFromSecret, wrapSecretOf } from '../../../shared/crypto/wrap.ts';
import { open, seal } from '../../../shared/crypto/aead.ts';

function failsDecrypt(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, 'DECRYPT_FAILED');
    return;
  }
  assert.unreachable('expected DECRYPT_FAILED');
}

const tenant = generateWrapKeyPair();

test('roundtrip: a wrapped chunk key unwraps with the tenant private key; wraps are fresh', () => {
  const chunkKey = randomBytes(32);
  const wrapped = wrapKey(tenant.publicKey, chunkKey);
  assert.is(wrapped.length, 94);
  assert.is(wrapped[0], 1);
  assert.equal(unwrapKey(tenant.privateKey, wrapped), new Uint8Array(chunkKey));
  assert.equal(unwrapKey(tenant, wrapped), new Uint8Array(chunkKey));
  assert.is.not(Buffer.from(wrapKey(tenant.publicKey, chunkKey)).toString('hex'), Buffer.from(wrapped).toString('hex'));
  const sealed = seal(chunkKey, new TextEncoder().encode('chunk'));
  assert.is(new TextDecoder().decode(open(unwrapKey(tenant, wrapped), sealed)), 'chunk');
});

// Golden bytes of format 1, cross-checked with Python's `cryptography` (X25519, HKDF, AESGCM) when made.
test('golden: a format-1 wrap made earlier still unwraps', () => {
  const pair = wrapKeyPairFromSecret(new Uint8Array(32).map((_, i) => 0x40 + i));
  assert.is(Buffer.from(pair.publicKey).toString('hex'), '79a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a');
  const wrapped = Buffer.from(
    '0188776bb004162a582336e4526f93dd9fcf627d3c6001dc318c4a17249d43596701abbece62b66a60f5002b0cc89f27a6a6cf970ebaaf39ff372b8bc80850128b4de7a62efc53f60f81119200e99244e1af8a52761d96e44d258bca9756',
    'hex');
  assert.equal(unwrapKey(pair, wrapped), new Uint8Array(32).map((_, i) => 0x20 + i));
});

test('a wrong private key fails with DECRYPT_FAILED', () => {
  const wrapped = wrapKey(tenant.publicKey, randomBytes(32));
  failsDecrypt(() => unwrapKey(generateWrapKeyPair().privateKey, wrapped));
});

test('property: any altered bit fails with DECRYPT_FAILED', () => {
  const wrapped = wrapKey(tenant.publicKey, randomBytes(32));
  fc.assert(fc.property(fc.nat({ max: wrapped.length * 8 - 1 }), (bit) => {
    const bad = wrapped.slice();
    bad[bit >> 3]! ^= 1 << (bit & 7);
    failsDecrypt(() => unwrapKey(tenant, bad));
  }), { numRuns: 200 });
});

test('truncated, extended, low-order and random inputs fail with DECRYPT_FAILED only', () => {
  const wrapped = wrapKey(tenant.publicKey, randomBytes(32));
  for (let n = 0; n < wrapped.length; n++) failsDecrypt(() => unwrapKey(tenant, wrapped.subarray(0, n)));
  failsDecrypt(() => unwrapKey(tenant, Buffer.concat([wrapped, Buffer.alloc(1)])));
  const lowOrder = wrapped.slice();
  lowOrder.fill(0, 1, 33);
  failsDecrypt(() => unwrapKey(tenant, lowOrder));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => failsDecrypt(() => unwrapKey(tenant, junk))), { numRuns: 200 });
});

test('key pairs survive a trip through their raw secret; bad public keys are refused', () => {
  const again = wrapKeyPairFromSecret(wrapSecretOf(tenant));
  assert.equal(again.publicKey, tenant.publicKey);
  const key = randomBytes(16);
  assert.equal(unwrapKey(again, wrapKey(tenant.publicKey, key)), new Uint8Array(key));
  assert.throws(() => wrapKey(new Uint8Array(31), key), (e: unknown) => e instanceof BaksaError && e.code === 'WRAP_KEY_INVALID');
  assert.throws(() => wrapKey(new Uint8Array(32), key), (e: unknown) => e instanceof BaksaError && e.code === 'WRAP_KEY_INVALID');
});

test.run();
