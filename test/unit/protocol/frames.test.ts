// Frame batches (shared/http/frames.ts): the bodies of batched chunk uploads and shard puts. Property round
// trip, every limit refused before anything is sliced, and a fuzzer that lets only ProtocolError escape
// (STYLE "Limits on everything"; msgpack-javascript's fuzzer).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { CHUNK_FRAME_HEAD_BYTES, decodeChunkFrameHead, decodeFrames, encodeChunkFrameHead, encodeFrameParts, encodeFrames, framesBytes, type FrameLimits } from '../../../shared/http/frames.ts';
import { ProtocolError } from '../../../shared/protocol/index.ts';
import { codeOf } from '../../helpers/protocol.ts';

const limits: FrameLimits = { headBytes: 3, countMax: 8, frameBytesMax: 64, batchBytesMax: 1024 };


const frameArb = fc.record({ head: fc.uint8Array({ minLength: 3, maxLength: 3 }), bytes: fc.uint8Array({ maxLength: 64 }) });

test('round trip: heads and bodies come back as they went, views into the input', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 8 }), (frames) => {
      const encoded = encodeFrames(frames, 3);
      assert.is(encoded.length, framesBytes(3, frames.map((f) => f.bytes.length)));
      const back = decodeFrames(encoded, { ...limits, batchBytesMax: encoded.length });
      assert.equal(back.map((f) => [Buffer.from(f.head), Buffer.from(f.bytes)]), frames.map((f) => [Buffer.from(f.head), Buffer.from(f.bytes)]));
      for (const f of back) assert.is(f.bytes.buffer, encoded.buffer);
    }),
    { numRuns: 300 },
  );
});

test('as pieces: in order they are the encoded batch, and each frame body is the caller\'s own buffer', () => {
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 8 }), (frames) => {
      const parts = encodeFrameParts(frames, 3);
      assert.equal(Buffer.concat(parts), encodeFrames(frames, 3));
      const bodies = new Set<Uint8Array>(frames.filter((f) => f.bytes.length > 0).map((f) => f.bytes));
      assert.equal(parts.filter((p) => bodies.has(p)).length, bodies.size, 'no body is copied');
      assert.ok(parts.every((p) => p.length > 0), 'no empty piece');
    }),
    { numRuns: 300 },
  );
  assert.throws(() => encodeFrameParts([{ head: new Uint8Array(2), bytes: new Uint8Array(1) }], 3), /frame head of 2 bytes/);
});

test('every limit is refused with OVERSIZE, the format with MALFORMED or TRAILING_BYTES', () => {
  const one = (size: number) => ({ head: new Uint8Array(3), bytes: new Uint8Array(size) });
  assert.is(codeOf(() => decodeFrames(encodeFrames(Array.from({ length: 9 }, () => one(0)), 3), limits)), 'OVERSIZE');
  assert.is(codeOf(() => decodeFrames(encodeFrames([one(65)], 3), limits)), 'OVERSIZE');
  assert.is(codeOf(() => decodeFrames(encodeFrames(Array.from({ length: 8 }, () => one(64)), 3), { ...limits, batchBytesMax: 500 })), 'OVERSIZE');
  const good = encodeFrames([one(10), one(20)], 3);
  assert.is(decodeFrames(good, limits).length, 2);
  assert.is(codeOf(() => decodeFrames(good.subarray(0, good.length - 1), limits)), 'MALFORMED');
  assert.is(codeOf(() => decodeFrames(good.subarray(0, 5), limits)), 'MALFORMED');
  assert.is(codeOf(() => decodeFrames(Buffer.concat([good, Buffer.from([0])]), limits)), 'TRAILING_BYTES');
  const wrongMagic = Buffer.from(good);
  wrongMagic[0] = 0x58;
  assert.is(codeOf(() => decodeFrames(wrongMagic, limits)), 'MALFORMED');
  // A size field that claims more than is there is caught before any slice.
  const lying = Buffer.from(encodeFrames([one(4)], 3));
  lying.writeUInt32BE(60, 8 + 3);
  assert.is(codeOf(() => decodeFrames(lying, limits)), 'MALFORMED');
  // A count far past the limit is refused before anything is allocated for it.
  const many = Buffer.from(encodeFrames([], 3));
  many.writeUInt32BE(0xffffffff, 4);
  assert.is(codeOf(() => decodeFrames(many, limits)), 'OVERSIZE');
});

test('fuzz: any bytes, mutated batches included, give frames within the limits or a ProtocolError', () => {
  const check = (input: Uint8Array) => {
    try {
      const frames = decodeFrames(input, limits);
      assert.ok(frames.length <= limits.countMax);
      for (const f of frames) assert.ok(f.head.length === 3 && f.bytes.length <= limits.frameBytesMax);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), check), { numRuns: 2000 });
  const mutated = fc.tuple(fc.array(frameArb, { maxLength: 6 }), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([frames, at, value]) => {
    const b = Buffer.from(encodeFrames(frames, 3));
    if (b.length > 0) b[at % b.length] = value;
    return b;
  });
  fc.assert(fc.property(mutated, check), { numRuns: 2000 });
});

test('chunk frame heads: id, sealed SHA-256 and plaintext length', () => {
  const hex = (s: string) => createHash('sha256').update(s).digest('hex');
  const head = { id: hex('a'), sha256: hex('b'), length: 4 * 1024 * 1024 };
  const bytes = encodeChunkFrameHead(head);
  assert.is(bytes.length, CHUNK_FRAME_HEAD_BYTES);
  assert.equal(decodeChunkFrameHead(bytes), head);
});

test.run();
