// FastCDC chunker properties (FastCDC 2016 §3, 2020 §3.3): chunks concatenate back to the input,
// sizes stay within [min, max] (the last may be shorter), any split into pieces gives the same chunks,
// and an insertion changes only the chunks around it.
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Chunker, chunkBuffer, chunkStream, cutPoints, prepareChunker, type Chunk } from '../../../shared/chunking/index.ts';
import type { ChunkerOptions } from '../../../shared/chunking/index.ts';
import { concat, hex, split, xorshiftBytes } from './data.ts';

const tiny: ChunkerOptions = { minBytes: 64, avgBytes: 256, maxBytes: 1024 };

const optionsArb = fc
  .record({ min: fc.integer({ min: 16, max: 512 }), avgExtra: fc.integer({ min: 0, max: 2048 }), maxExtra: fc.integer({ min: 0, max: 4096 }) })
  .map(({ min, avgExtra, maxExtra }) => {
    const avgBytes = Math.max(64, min + avgExtra);
    return { minBytes: min, avgBytes, maxBytes: avgBytes + maxExtra };
  });

/** Random bytes, sometimes with long runs (runs make max-size cuts happen). */
const dataArb = fc.oneof(
  fc.uint8Array({ maxLength: 20000 }),
  fc.tuple(fc.integer({ min: 1, max: 0x7fffffff }), fc.integer({ min: 0, max: 40000 })).map(([seed, n]) => xorshiftBytes(n, seed)),
  fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.integer({ min: 0, max: 6000 }), fc.integer({ min: 0, max: 255 })).map(
    ([head, run, byte]) => concat([head, new Uint8Array(run).fill(byte), head]),
  ),
);

function pushAll(chunker: Chunker, data: Uint8Array, sizes: number[]): Chunk[] {
  const out: Chunk[] = [];
  let at = 0;
  let k = 0;
  while (at < data.length) {
    const size = sizes.length ? sizes[k++ % sizes.length]! : data.length;
    out.push(...chunker.push(data.subarray(at, at + size)));
    at += size;
    assert.ok(chunker.bufferedBytes < chunker.params.maxBytes, 'holds less than max bytes between pushes');
  }
  out.push(...chunker.finish());
  return out;
}

test('chunks concatenate back to the input and sizes are within [min, max]', () => {
  fc.assert(
    fc.property(dataArb, optionsArb, (data, options) => {
      const cuts = cutPoints(data, options, 'ts');
      const parts = split(data, cuts);
      assert.is(hex(concat(parts)), hex(data));
      assert.is(cuts.length === 0 ? 0 : cuts[cuts.length - 1], data.length);
      parts.forEach((part, i) => {
        assert.ok(part.length <= options.maxBytes, `chunk ${i} longer than max`);
        if (i < parts.length - 1) assert.ok(part.length >= options.minBytes, `chunk ${i} shorter than min`);
        assert.ok(part.length > 0);
      });
    }),
    { numRuns: 200 },
  );
});

test('any split of the input into pieces gives the same chunks (both kernels)', async () => {
  await prepareChunker();
  fc.assert(
    fc.property(dataArb, optionsArb, fc.array(fc.integer({ min: 0, max: 5000 }), { maxLength: 12 }), (data, options, sizes) => {
      const whole = cutPoints(data, options, 'ts');
      const pieceSizes = sizes.some((s) => s > 0) ? sizes : [];
      for (const kernel of ['ts', 'wasm'] as const) {
        const chunks = pushAll(new Chunker(options, kernel), data, pieceSizes);
        assert.equal(
          chunks.map((c) => c.offset + c.data.length),
          whole,
          `${kernel} kernel, pieces ${JSON.stringify(pieceSizes)}`,
        );
        let offset = 0;
        for (const c of chunks) {
          assert.is(c.offset, offset);
          assert.is(hex(c.data), hex(data.subarray(offset, offset + c.data.length)));
          offset += c.data.length;
        }
      }
    }),
    { numRuns: 150 },
  );
});

test('an insertion changes only the chunks near it', () => {
  // The default sizes' 1:4:16 ratio at 1/1024 of the size, on 256 KiB (about 230 chunks). After an insertion the chunks
  // re-synchronize within a few chunks (normalization can delay it: a cut the old stream made under MaskL
  // may fall under MaskS in the shifted chunk), so the bound per case is loose and the mean is tight.
  const small: ChunkerOptions = { minBytes: 256, avgBytes: 1024, maxBytes: 4096 };
  let lostTotal = 0;
  let cases = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0x7fffffff }),
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.double({ min: 0.3, max: 0.7, noNaN: true }),
      (seed, inserted, where) => {
        const data = xorshiftBytes(256 * 1024, seed);
        const at = Math.floor(data.length * where);
        const edited = concat([data.subarray(0, at), inserted, data.subarray(at)]);
        const cutsBefore = cutPoints(data, small);
        const before = split(data, cutsBefore).map(hex);
        const after = split(edited, cutPoints(edited, small)).map(hex);
        // Every chunk that ends before the insertion point is identical.
        const untouched = cutsBefore.filter((end) => end <= at).length;
        assert.equal(after.slice(0, untouched), before.slice(0, untouched));
        // The chunks after the one holding the insertion are found again, but for a few.
        const later = before.slice(untouched + 1);
        const afterSet = new Set(after);
        const lost = later.filter((c) => !afterSet.has(c)).length;
        assert.ok(later.length > 50);
        assert.ok(lost <= 20, `lost ${lost} of ${later.length} later chunks`);
        lostTotal += lost;
        cases++;
      },
    ),
    { numRuns: 40 },
  );
  assert.ok(lostTotal / cases <= 3, `on average ${lostTotal / cases} later chunks lost per insertion`);
});

test('an appended tail re-chunks only the last chunk', () => {
  const data = xorshiftBytes(200 * 1024, 7);
  const more = concat([data, xorshiftBytes(10 * 1024, 8)]);
  const a = cutPoints(data, tiny);
  const b = cutPoints(more, tiny);
  assert.equal(b.slice(0, a.length - 1), a.slice(0, -1));
});

test('edge cases: empty, shorter than min, min == max, runs of one byte', () => {
  assert.equal(cutPoints(new Uint8Array(0), tiny), []);
  assert.equal(new Chunker(tiny).finish(), []);
  assert.equal(new Chunker(tiny).push(new Uint8Array(0)), []);
  assert.equal(cutPoints(new Uint8Array(50), tiny), [50]);
  const fixed = { minBytes: 100, avgBytes: 100, maxBytes: 100 };
  assert.equal(cutPoints(xorshiftBytes(350, 3), fixed), [100, 200, 300, 350]);
  // A run of zeros never matches a mask (the gear hash of a run is -gear[0]), so it is cut at max.
  assert.equal(cutPoints(new Uint8Array(5000), tiny), [1024, 2048, 3072, 4096, 5000]);
});

test('sizes average near avg on random data (normalized chunking)', () => {
  const data = xorshiftBytes(1 << 20, 99);
  const cuts = cutPoints(data, tiny);
  const mean = data.length / cuts.length;
  assert.ok(mean > 200 && mean < 400, `mean chunk ${mean}`);
});

test('chunkBuffer gives views with offsets', () => {
  const data = xorshiftBytes(10000, 5);
  const chunks = chunkBuffer(data, tiny);
  assert.equal(
    chunks.map((c) => c.offset + c.data.length),
    cutPoints(data, tiny),
  );
  assert.is(chunks[0]!.data.buffer, data.buffer);
});

test('a chunk that lies inside one piece is a view of it; a remainder is copied', () => {
  for (const data of [xorshiftBytes(50000, 11), Buffer.from(xorshiftBytes(50000, 11))]) {
    const chunker = new Chunker(tiny);
    const chunks = chunker.push(data);
    assert.ok(chunks.length > 10);
    assert.is(chunks[0]!.data.buffer, data.buffer);
    const tail = chunker.finish();
    assert.is(tail.length, 1);
    assert.is.not(tail[0]!.data.buffer, data.buffer);
    assert.is(tail[0]!.offset + tail[0]!.data.length, data.length);
  }
});

test('chunkStream over a Node readable gives the cutPoints boundaries', async () => {
  const data = xorshiftBytes(300 * 1024, 21);
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += 7777) pieces.push(Buffer.from(data.subarray(at, at + 7777)));
  const ends: number[] = [];
  const parts: Uint8Array[] = [];
  for await (const chunk of chunkStream(Readable.from(pieces), tiny)) {
    ends.push(chunk.offset + chunk.data.length);
    parts.push(chunk.data);
  }
  assert.equal(ends, cutPoints(data, tiny));
  assert.is(hex(concat(parts)), hex(data));
});

test('chunkStream refuses bad options with CONFIG_INVALID', async () => {
  const gen = chunkStream(Readable.from([]), { minBytes: 10, avgBytes: 5, maxBytes: 1 });
  try {
    await gen.next();
    assert.unreachable('should throw');
  } catch (e) {
    assert.is((e as { code?: string }).code, 'CONFIG_INVALID');
  }
});

test.run();
