// Chunker options: validation names the field; masks follow FastCDC normalized chunking (level 2).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import {
  defaultChunkerOptions,
  NORMALIZATION_BITS,
  resolveChunkerOptions,
  roundedLog2,
  smallChunkerOptions,
  topBitsMask,
} from '../../../shared/chunking/options.ts';

function bitCount(x: number): number {
  let n = 0;
  for (let v = x >>> 0; v; v >>>= 1) n += v & 1;
  return n;
}

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof BaksaError && e.code === 'CONFIG_INVALID') return e.details?.field as string;
    throw e;
  }
  return undefined;
}

test('defaults are 256 KiB / 1 MiB / 4 MiB and resolve with 22-bit MaskS and 18-bit MaskL', () => {
  assert.equal({ ...defaultChunkerOptions }, { minBytes: 256 * 1024, avgBytes: 1024 * 1024, maxBytes: 4 * 1024 * 1024 });
  const p = resolveChunkerOptions();
  assert.is(p.avgBits, 20);
  assert.is(bitCount(p.maskS), 20 + NORMALIZATION_BITS);
  assert.is(bitCount(p.maskL), 20 - NORMALIZATION_BITS);
  assert.is(p.maskS >>> 0, 0xfffffc00); // top 22 bits
  assert.is(p.maskL >>> 0, 0xffffc000); // top 18 bits
  assert.is(p.maskS & p.maskL, p.maskL, 'MaskL bits are a subset of MaskS bits');
  assert.is(resolveChunkerOptions(smallChunkerOptions).avgBits, 18);
});

test('partial options merge over the defaults', () => {
  const p = resolveChunkerOptions({ maxBytes: 8 * 1024 * 1024 });
  assert.is(p.minBytes, 256 * 1024);
  assert.is(p.maxBytes, 8 * 1024 * 1024);
});

test('avg need not be a power of two: mask bits are round(log2(avg))', () => {
  assert.is(roundedLog2(1024), 10);
  assert.is(roundedLog2(1448), 10); // 1024 * sqrt(2) = 1448.15
  assert.is(roundedLog2(1449), 11);
  assert.is(roundedLog2(3 * 1024 * 1024), 22);
  assert.is(roundedLog2(2 ** 28), 28);
  assert.is(resolveChunkerOptions({ minBytes: 1000, avgBytes: 3000, maxBytes: 9000 }).avgBits, 12);
});

test('topBitsMask sets the top bits as a signed int', () => {
  assert.is(topBitsMask(0), 0);
  assert.is(topBitsMask(1), -0x80000000);
  assert.is(topBitsMask(32), -1);
  assert.is(topBitsMask(4) >>> 0, 0xf0000000);
});

test('bad options throw CONFIG_INVALID naming the field', () => {
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: 2048, avgBytes: 1024, maxBytes: 4096 })), 'chunker.avgBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: 256, avgBytes: 1024, maxBytes: 512 })), 'chunker.maxBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: 1.5 })), 'chunker.minBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: -1 })), 'chunker.minBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ avgBytes: Number.NaN })), 'chunker.avgBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ avgBytes: 2 ** 30 })), 'chunker.avgBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ maxBytes: 2 ** 31 })), 'chunker.maxBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ avgBytes: '1M' as unknown as number })), 'chunker.avgBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: 0 }, 'profile.chunking')), 'profile.chunking.minBytes');
  assert.is(fieldOf(() => resolveChunkerOptions({ minBytes: 64, avgBytes: 64, maxBytes: 64 })), undefined);
});

test.run();
