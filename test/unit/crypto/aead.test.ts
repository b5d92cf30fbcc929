// AES-256-GCM sealing (DESIGN §3 step 4): format, golden bytes, and that any tampering fails loudly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BaksaError } from '../../../shared/errors.ts';
import {
  KEY_VERSION_HEADER_BYTES, OPEN_SLICE_BYTES, SEAL_HEADER_BYTES, SEAL_OVERHEAD_BYTES, SEAL_SLICE_BYTES, keyVersionOf, open, openInPlace,
  openVersioned, seal, sealInto, sealVersioned,
  sealVersionedInto, sealedVersionedBytes,
} from '../../../shared/crypto/aead.ts';
import { KeyRing } from '../../../shared/crypto/keys.ts';

const KEY = new Uint8Array(32).map((_, i) => 0x20 + i);
const OTHER = new Uint8Array(32).map((_, i) => 0x21 + i);
const text = (s: string) => new TextEncoder().encode(s);

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

// Golden bytes of format 1, cross-checked with Python's `cryptography` AESGCM when they were made.
test('golden: format-1 bytes made earlier still open', () => {
  const sealed = Buffer.from('014d21fcf27878c61aaa3e9e20778de682e2b26476025d3e3dd3ab6ed8dbb327024b4b28dd6dbc62e9', 'hex');
  assert.is(new TextDecoder().decode(open(KEY, sealed, text('aad'))), 'golden chunk');
  failsDecrypt(() => open(KEY, sealed, text('aae')));
});

test('layout: format byte, 12-byte nonce, ciphertext, 16-byte tag; nonces are fresh', () => {
  const plain = text('sensor log line');
  const a = seal(KEY, plain);
  const b = seal(KEY, plain);
  assert.is(a.length, plain.length + SEAL_OVERHEAD_BYTES);
  assert.is(SEAL_OVERHEAD_BYTES, 29);
  assert.is(a[0], 1);
  assert.is.not(Buffer.from(a.subarray(1, 13)).toString('hex'), Buffer.from(b.subarray(1, 13)).toString('hex'));
  assert.equal(open(KEY, a), plain);
  assert.equal(open(KEY, seal(KEY, new Uint8Array(0))), new Uint8Array(0));
});

test('property: seal then open returns the plaintext for any bytes and AAD', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), fc.uint8Array({ maxLength: 64 }), (plain, aad) => {
    assert.equal(open(KEY, seal(KEY, plain, aad), aad), plain);
  }), { numRuns: 200 });
});

test('property: flipping any bit anywhere fails with DECRYPT_FAILED', () => {
  const plain = text('a chunk of a backup that must never come back altered');
  const sealed = seal(KEY, plain, text('ctx'));
  fc.assert(fc.property(fc.nat({ max: sealed.length * 8 - 1 }), (bit) => {
    const bad = sealed.slice();
    bad[bit >> 3]! ^= 1 << (bit & 7);
    failsDecrypt(() => open(KEY, bad, text('ctx')));
  }), { numRuns: 300 });
});

test('wrong key, wrong or missing AAD, truncation and extension all fail', () => {
  const sealed = seal(KEY, text('payload'), text('ctx'));
  failsDecrypt(() => open(OTHER, sealed, text('ctx')));
  failsDecrypt(() => open(KEY, sealed));
  failsDecrypt(() => open(KEY, sealed, text('ctX')));
  for (let n = 0; n < sealed.length; n++) failsDecrypt(() => open(KEY, sealed.subarray(0, n), text('ctx')));
  failsDecrypt(() => open(KEY, Buffer.concat([sealed, Buffer.from([0])]), text('ctx')));
  const other = sealed.slice();
  other[0] = 2;
  failsDecrypt(() => open(KEY, other, text('ctx')));
});

test('property: random bytes never open and never throw anything but DECRYPT_FAILED', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => failsDecrypt(() => open(KEY, junk))), { numRuns: 300 });
});

test('versioned sealing carries the key version in an authenticated header', () => {
  const root = new Uint8Array(32).fill(7);
  const ring = KeyRing.fromRoot(root, 't', 2);
  const sealed = sealVersioned(ring.byVersion(1), text('v1 data'), text('ctx'));
  assert.is(keyVersionOf(sealed), 1);
  assert.is(sealed.length, KEY_VERSION_HEADER_BYTES + SEAL_OVERHEAD_BYTES + 7);
  assert.equal(openVersioned(ring, sealed, text('ctx')), text('v1 data'));
  const relabelled = sealed.slice();
  relabelled[3] = 2;
  failsDecrypt(() => openVersioned(ring, relabelled, text('ctx')));
  failsDecrypt(() => openVersioned(ring, sealed, text('other')));
  failsDecrypt(() => openVersioned(ring, sealed.subarray(0, 3)));
  assert.is(keyVersionOf(new Uint8Array(2)), undefined);
});

test('sealInto writes the seal format in place, reports every region in order, and opens like seal', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 * SEAL_SLICE_BYTES + 17 }), fc.integer({ min: 0, max: 40 }), (length, offset) => {
      const plain = new Uint8Array(length).map((_, i) => (i * 13 + length) & 0xff);
      const out = new Uint8Array(offset + SEAL_OVERHEAD_BYTES + length + 5).fill(0xee);
      const regions: Array<[number, number]> = [];
      const end = sealInto(KEY, plain, text('ctx'), out, offset, (from, to) => regions.push([from, to]));
      assert.is(end, offset + SEAL_OVERHEAD_BYTES + length);
      // Regions are contiguous and cover exactly the sealed bytes; nothing outside is touched.
      assert.is(regions[0]![0], offset);
      for (let i = 1; i < regions.length; i++) assert.is(regions[i]![0], regions[i - 1]![1]);
      assert.is(regions.at(-1)![1], end);
      assert.ok(out.subarray(0, offset).every((b) => b === 0xee) && out.subarray(end).every((b) => b === 0xee));
      assert.equal(Buffer.from(open(KEY, out.subarray(offset, end), text('ctx'))), Buffer.from(plain));
    }),
    { numRuns: 40 },
  );
  const ring = KeyRing.fromRoot(new Uint8Array(32).fill(3), 'gw.example', 1);
  const plain = text('versioned in place');
  const out = new Uint8Array(sealedVersionedBytes(plain.length));
  assert.is(sealVersionedInto(ring.current, plain, text('a'), out, 0), out.length);
  assert.equal(Buffer.from(openVersioned(ring, out, text('a'))), Buffer.from(plain));
  assert.throws(() => sealInto(KEY, plain, text(''), new Uint8Array(10), 0), /no room/);
});

test('openInPlace decrypts over the ciphertext, across slices, touching nothing outside the sealed bytes', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 * OPEN_SLICE_BYTES + 33 }), fc.integer({ min: 0, max: 40 }), (length, offset) => {
      const plain = new Uint8Array(length).map((_, i) => (i * 7 + length) & 0xff);
      const sealed = seal(KEY, plain, text('ctx'));
      const buffer = new Uint8Array(offset + sealed.length + 5).fill(0xee);
      buffer.set(sealed, offset);
      const view = buffer.subarray(offset, offset + sealed.length);
      const opened = openInPlace(KEY, view, text('ctx'));
      assert.is(opened.buffer, buffer.buffer); // a view, no copy
      assert.is(opened.byteOffset, offset + SEAL_HEADER_BYTES);
      assert.equal(Buffer.from(opened), Buffer.from(plain));
      assert.ok(buffer.subarray(0, offset).every((b) => b === 0xee) && buffer.subarray(offset + sealed.length).every((b) => b === 0xee));
    }),
    { numRuns: 40 },
  );
  // Tampering, a wrong key or AAD fail as `open` does (the bytes are spent either way).
  const sealed = seal(KEY, new Uint8Array(OPEN_SLICE_BYTES + 100).fill(9), text('ctx'));
  for (const bit of [0, 8 * 5, 8 * (SEAL_HEADER_BYTES + OPEN_SLICE_BYTES + 3), 8 * sealed.length - 1]) {
    const bad = sealed.slice();
    bad[bit >> 3]! ^= 1 << (bit & 7);
    failsDecrypt(() => openInPlace(KEY, bad, text('ctx')));
  }
  failsDecrypt(() => openInPlace(OTHER, sealed.slice(), text('ctx')));
  failsDecrypt(() => openInPlace(KEY, sealed.slice(), text('ctX')));
  failsDecrypt(() => openInPlace(KEY, sealed.slice(0, SEAL_OVERHEAD_BYTES - 1), text('ctx')));
  const ring = KeyRing.fromRoot(new Uint8Array(32).fill(5), 'gw.example', 1);
  const versioned = sealVersioned(ring.current, text('versioned, opened in place'), text('a'));
  assert.equal(Buffer.from(openVersioned(ring, versioned, text('a'), true)).toString(), 'versioned, opened in place');
});

test.run();
