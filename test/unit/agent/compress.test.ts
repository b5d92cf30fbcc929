// Chunk compression choices (agent/chunks/codec.ts): the brotli window per quality, chunks that use the
// narrow window round-trip at every chunk size, and random data is stored as it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { brotliWindowBits, chunkIdHex, compress, openChunk, sealChunk } from '../../../agent/chunks/codec.ts';
import { pseudoRandom, sensorLines } from './_helpers.ts';

const ring = KeyRing.fromRoot(generateRootKey(), 'gw1.test.example', 1);

test('brotli window: 64 KiB at qualities 0 and 1, the chunk size (16..24 bits) above', () => {
  assert.is(brotliWindowBits(1, 4 << 20), 16);
  assert.is(brotliWindowBits(0, 100), 16);
  assert.is(brotliWindowBits(5, 100), 16);
  assert.is(brotliWindowBits(5, 1 << 20), 21);
  assert.is(brotliWindowBits(11, 64 << 20), 24);
});

test('text chunks of every size round-trip through the narrow window, and shrink', async () => {
  for (const lines of [3, 2_000, 40_000, 120_000]) {
    const plain = Buffer.from(sensorLines(lines));
    for (const level of [1, 5]) {
      const id = chunkIdHex(ring.current, plain);
      const sealed = await sealChunk(ring.current, id, plain, { algorithm: 'brotli', level });
      if (plain.length > 4096) assert.ok(sealed.length < plain.length / 2, `${plain.length} bytes at level ${level} shrink`);
      assert.equal(Buffer.from(await openChunk(ring, id, sealed, plain.length)), plain);
    }
  }
});

test('random data is stored as it is; data that barely compresses still round-trips', async () => {
  const random = pseudoRandom(200_000, 11);
  assert.is((await compress(random, { algorithm: 'brotli', level: 1 })).code, 0);
  // Text then random (the entropy sample, from the middle, sees text): compresses to more than half its
  // size, so the output spills past the one half-size buffer.
  const mixed = Buffer.concat([Buffer.from(sensorLines(2_000)).subarray(0, 60_000), pseudoRandom(40_000, 3)]);
  const { code, body } = await compress(mixed, { algorithm: 'brotli', level: 1 });
  assert.is(code, 2);
  assert.ok(body.length > mixed.length / 2 && body.length < mixed.length, `${body.length} of ${mixed.length}`);
  const id = chunkIdHex(ring.current, mixed);
  const sealed = await sealChunk(ring.current, id, mixed, { algorithm: 'brotli', level: 1 });
  assert.equal(Buffer.from(await openChunk(ring, id, sealed, mixed.length)), mixed);
});

test.run();
