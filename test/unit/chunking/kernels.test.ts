// The WebAssembly kernel (gear.wat) and the TypeScript kernel (kernel.ts) must find the same cut points
// for every input and option set, including searches that span the wasm copy window (256 KiB).
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chunkerKernel, cutPoints, prepareChunker, smallChunkerOptions } from '../../../shared/chunking/index.ts';
import { findCutTs } from '../../../shared/chunking/kernel.ts';
import { resolveChunkerOptions } from '../../../shared/chunking/options.ts';
import { loadWasmFindCut, wasmLoadError } from '../../../shared/chunking/wasm.ts';
import { logLines, xorshiftBytes } from './data.ts';

test('the wasm kernel builds from gear.wat and becomes the default', async () => {
  assert.is(await prepareChunker(), 'wasm', String(wasmLoadError()));
  assert.is(chunkerKernel(), 'wasm');
});

test('same boundaries on random and text data, default and small sizes', () => {
  const inputs = [xorshiftBytes(12 << 20, 1234), logLines(6 << 20, 77)];
  for (const data of inputs) {
    for (const options of [{}, smallChunkerOptions, { minBytes: 4096, avgBytes: 16384, maxBytes: 65536 }]) {
      const ts = cutPoints(data, options, 'ts');
      assert.ok(ts.length > 2);
      assert.equal(cutPoints(data, options, 'wasm'), ts);
    }
  }
});

test('same answers for searches resumed mid-chunk (property)', async () => {
  const findCutWasm = (await loadWasmFindCut())!;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0x7fffffff }),
      fc.integer({ min: 0, max: 600_000 }),
      fc.integer({ min: 0, max: 600_000 }),
      fc.integer({ min: 16, max: 200_000 }),
      fc.integer({ min: 0, max: 300_000 }),
      fc.integer({ min: 0, max: 300_000 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (seed, from, len, min, avgExtra, maxExtra, h0) => {
        const params = resolveChunkerOptions({ minBytes: min, avgBytes: Math.max(64, min + avgExtra), maxBytes: Math.max(64, min + avgExtra) + maxExtra });
        const data = xorshiftBytes(from + len, seed);
        const before = seed % (params.maxBytes + 1);
        const a = { h: h0 | 0 };
        const b = { h: h0 | 0 };
        const cutTs = findCutTs(data, from, data.length, before, a, params);
        const cutWasm = findCutWasm(data, from, data.length, before, b, params);
        assert.is(cutWasm, cutTs);
        if (cutTs < 0) assert.is(b.h, a.h);
      },
    ),
    { numRuns: 80 },
  );
});

test.run();
