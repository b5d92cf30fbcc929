// Ed25519 (shared/crypto/sign.ts): the API other modules rely on stays as it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSigningKey, seedOf, sign, signingKeyFromSeed, verify } from '../../../shared/crypto/sign.ts';

test('sign/verify roundtrip, seeds rebuild the same key, verify never throws on junk', () => {
  const pair = generateSigningKey();
  assert.is(pair.publicKey.length, 32);
  const data = new TextEncoder().encode('ledger block');
  const sig = sign(pair.privateKey, data);
  assert.is(sig.length, 64);
  assert.ok(verify(pair.publicKey, data, sig));
  assert.equal(signingKeyFromSeed(seedOf(pair)).publicKey, pair.publicKey);
  const bad = sig.slice();
  bad[0]! ^= 1;
  assert.not.ok(verify(pair.publicKey, data, bad));
  assert.not.ok(verify(new Uint8Array(5), data, sig));
  assert.not.ok(verify(pair.publicKey, data, new Uint8Array(3)));
  assert.not.ok(verify(new Uint8Array(32), data, sig));
});

test.run();
