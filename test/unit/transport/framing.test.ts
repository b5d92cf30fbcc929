import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { BoundedFrameQueue, FrameDecoder, FrameTooLargeError, encodeFrameHeader } from '../../../shared/transport/index.ts';

function encode(frames: Uint8Array[]): Buffer {
  return Buffer.concat(frames.flatMap((f) => [encodeFrameHeader(f.length), f]));
}

test('frames survive any split of the byte stream', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(400), { maxLength: 30 }), (frames, cuts) => {
      const stream = encode(frames);
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      const decoder = new FrameDecoder(1024);
      const out: Uint8Array[] = [];
      let at = 0;
      for (const p of [...points, stream.length]) {
        out.push(...decoder.push(stream.subarray(at, p)));
        at = p;
      }
      assert.equal(out.map((f) => Buffer.from(f).toString('hex')), frames.map((f) => Buffer.from(f).toString('hex')));
    }),
  );
});

test('a frame that arrives in many chunks is joined once, not once per chunk', () => {
  const frame = new Uint8Array(1 << 20).map((_, i) => i * 7);
  const stream = encode([frame, new Uint8Array([1, 2, 3])]);
  const decoder = new FrameDecoder(2 << 20);
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
    const joined = concat(list, total);
    copied += joined.length;
    return joined;
  }) as typeof Buffer.concat;
  const out: Uint8Array[] = [];
  try {
    for (let at = 0; at < stream.length; at += 4096) out.push(...decoder.push(stream.subarray(at, at + 4096)));
  } finally {
    Buffer.concat = concat;
  }
  assert.is(out.length, 2);
  assert.ok(Buffer.from(out[0]!).equals(Buffer.from(frame)), 'the large frame, intact');
  assert.equal([...out[1]!], [1, 2, 3]);
  assert.ok(copied <= 2 * stream.length, `joining copied ${copied} bytes for a ${stream.length}-byte stream`);
});

test('a declared length over the bound is refused before its bytes arrive', () => {
  const decoder = new FrameDecoder(1000);
  assert.throws(() => decoder.push(Buffer.from(encodeFrameHeader(1001))), (e: unknown) => e instanceof FrameTooLargeError);
});

test('the bounded queue keeps the newest frames and counts the dropped', () => {
  const q = new BoundedFrameQueue(3, 1_000_000);
  for (let i = 0; i < 5; i++) q.push(new Uint8Array([i]));
  assert.is(q.dropped, 2);
  assert.equal([q.shift()![0], q.shift()![0], q.shift()![0]], [2, 3, 4]);
  assert.is(q.shift(), undefined);
  const byBytes = new BoundedFrameQueue(100, 10);
  byBytes.push(new Uint8Array(6));
  byBytes.push(new Uint8Array(6));
  assert.is(byBytes.length, 1);
  assert.is(byBytes.byteLength, 6);
});

test.run();
