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
