// Chunk compression choices (agent/chunks/codec.ts): the brotli window per quality, chunks that use the
// narrow window round-trip at every chunk size, and random data is stored as it is; zstd round-trips,
// its scratch buffer is never shared by two chunks, and a frame is checked before it is decompressed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { createRequire } from 'node:module';
import { sealVersioned } from '../../../shared/crypto/aead.ts';
import { joinShards } from '../../../shared/erasure/index.ts';
import { CHUNK_FORMAT, brotliWindowBits, chunkIdHex, compress, openChunk, sealChunk, sealChunkShards } from '../../../agent/chunks/codec.ts';
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

const zstd = createRequire(import.meta.url)('zstd-napi') as typeof import('zstd-napi');

/** A sealed object whose body is `body` as it is, under compression code `code` (3: zstd). */
function sealedZstdBody(id: string, body: Uint8Array, code = 3): Uint8Array {
  const header = Uint8Array.of(CHUNK_FORMAT, code);
  return Buffer.concat([header, sealVersioned(ring.current, body, Buffer.concat([Buffer.from(id, 'hex'), header]))]);
}

async function corrupt(object: Uint8Array, id: string, lengthMax: number): Promise<string> {
  return openChunk(ring, id, object, lengthMax).then(
    () => assert.unreachable('opened') as never,
    (e: { code?: string; message: string }) => {
      assert.is(e.code, 'CHUNK_CORRUPT');
      return e.message;
    },
  );
}

test('zstd chunks round-trip at every size and level, and shrink', async () => {
  for (const lines of [3, 2_000, 40_000]) {
    const plain = Buffer.from(sensorLines(lines));
    for (const level of [-5, 1, 3]) {
      const id = chunkIdHex(ring.current, plain);
      const sealed = await sealChunk(ring.current, id, plain, { algorithm: 'zstd', level });
      assert.is(sealed[1], 3);
      if (plain.length > 4096) assert.ok(sealed.length < plain.length / 2, `${plain.length} bytes at level ${level} shrink`);
      assert.equal(Buffer.from(await openChunk(ring, id, sealed, plain.length)), plain);
    }
  }
});

test('zstd chunks sealed at once each get their own bytes (the scratch buffer is used before any await)', async () => {
  const plains = [0, 1, 2, 3].map((i) => Buffer.from(sensorLines(5_000, i * 1000, `s${i}`)));
  const ids = plains.map((p) => chunkIdHex(ring.current, p));
  const sealed = await Promise.all(plains.map((p, i) => sealChunkShards(ring.current, ids[i]!, p, { algorithm: 'zstd', level: 1 }, 2, 1)));
  const bodies = await Promise.all(plains.map((p) => compress(p, { algorithm: 'zstd', level: 1 })));
  for (let i = 0; i < plains.length; i++) {
    const object = joinShards(sealed[i]!.shards, 2, sealed[i]!.sealedLength);
    assert.equal(Buffer.from(await openChunk(ring, ids[i]!, object, plains[i]!.length)), plains[i]);
    assert.equal(Buffer.from(zstd.decompress(bodies[i]!.body)), plains[i], 'compress returns a body of its own');
  }
});

test('a zstd frame is refused before decompression when it claims more than the catalog records, or no size', async () => {
  const plain = Buffer.from(sensorLines(2_000));
  const id = chunkIdHex(ring.current, plain);
  const sealed = await sealChunk(ring.current, id, plain, { algorithm: 'zstd', level: 1 });
  assert.match(await corrupt(sealed, id, plain.length - 1), /more than the \d+ bytes recorded/);
  const unsized = new zstd.Compressor();
  unsized.setParameters({ compressionLevel: 1, contentSizeFlag: false });
  assert.match(await corrupt(sealedZstdBody(id, unsized.compress(plain)), id, plain.length), /does not state its size/);
  assert.match(await corrupt(sealedZstdBody(id, Buffer.from('not a zstd frame at all')), id, plain.length), /does not decompress/);
  // A frame that stops short of the size it states.
  const frame = zstd.compress(plain, { compressionLevel: 1 });
  assert.match(await corrupt(sealedZstdBody(id, frame.subarray(0, frame.length - 20)), id, plain.length), /does not decompress|decompresses to/);
  // The right size but other bytes: the id check.
  const other = Buffer.from(plain);
  other[10] = other[10]! ^ 1;
  assert.match(await corrupt(sealedZstdBody(id, zstd.compress(other)), id, plain.length), /does not match its id/);
});

test('a compression method this version does not know is named as a newer writer, not as damage', async () => {
  const plain = Buffer.from(sensorLines(100));
  const id = chunkIdHex(ring.current, plain);
  await openChunk(ring, id, sealedZstdBody(id, plain, 9), plain.length).then(
    () => assert.unreachable('opened'),
    (e: { code?: string; message: string; hint?: string }) => {
      assert.is(e.code, 'CHUNK_FORMAT_UNKNOWN');
      assert.match(e.message, 'method 9');
      assert.match(e.hint ?? '', 'upgrade');
    },
  );
});

test.run();
