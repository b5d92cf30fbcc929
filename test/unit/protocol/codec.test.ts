// MessagePack with limits (DESIGN §4 "Decoding untrusted bytes sets every MessagePack length limit"; STYLE
// "Limits on everything"; msgpack-javascript's __proto__ pollution test).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decode, encode } from '@msgpack/msgpack';
import { decodeUntrusted, defaultDecodeLimits, encodeCanonical, scanMsgpack, ProtocolError, type DecodeLimits } from '../../../shared/protocol/index.ts';
import { codeOf } from '../../helpers/protocol.ts';


const tight: DecodeLimits = { inputBytesMax: 1024, maxStrLength: 8, maxBinLength: 8, maxArrayLength: 4, maxMapLength: 4, maxExtLength: 4, depthMax: 3 };

test('round trip of ordinary values', () => {
  const value = { a: 1, b: [true, null, 'x'], c: new Uint8Array([1, 2]), d: -5, e: 1.5, f: 2 ** 40 };
  assert.equal(decodeUntrusted(encode(value)), value);
});

test('every length limit refuses with OVERSIZE', () => {
  assert.is(codeOf(() => decodeUntrusted(encode('123456789'), tight)), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(encode(new Uint8Array(9)), tight)), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(encode([1, 2, 3, 4, 5]), tight)), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(encode({ a: 1, b: 2, c: 3, d: 4, e: 5 }), tight)), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0xc7, 5, 1, 0, 0, 0, 0, 0]), tight)), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(encode(new Uint8Array(2000)), { ...tight, maxBinLength: 4096 })), 'OVERSIZE');
  // a declared length far beyond the input is refused before anything is allocated
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0xdd, 0xff, 0xff, 0xff, 0xff]))), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]))), 'OVERSIZE');
  // and at the limit it passes
  assert.equal(decodeUntrusted(encode({ s: '12345678', b: new Uint8Array(8), a: [1, 2, 3, 4] }), tight), {
    s: '12345678',
    b: new Uint8Array(8),
    a: [1, 2, 3, 4],
  });
});

test('nesting deeper than depthMax is TOO_DEEP, even a megabyte of 0x91', () => {
  assert.is(codeOf(() => decodeUntrusted(encode([[[[1]]]]), tight)), 'TOO_DEEP');
  assert.equal(decodeUntrusted(encode([[[1]]]), tight), [[[1]]]);
  assert.is(codeOf(() => decodeUntrusted(encode({ a: { b: { c: {} } } }), tight)), 'TOO_DEEP');
  const bomb = new Uint8Array(1 << 20).fill(0x91);
  assert.is(codeOf(() => decodeUntrusted(bomb)), 'TOO_DEEP');
  assert.ok(defaultDecodeLimits.depthMax <= 32);
});

test('truncation and junk are MALFORMED, extra bytes are TRAILING_BYTES', () => {
  const good = encode({ key: 'value', n: 300 });
  for (let cut = 0; cut < good.length; cut++) assert.is(codeOf(() => decodeUntrusted(good.subarray(0, cut))), 'MALFORMED');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0xc1]))), 'MALFORMED');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([...good, 0x00]))), 'TRAILING_BYTES');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array(defaultDecodeLimits.inputBytesMax + 1))), 'OVERSIZE');
  assert.is(codeOf(() => decodeUntrusted('not bytes' as unknown as Uint8Array)), 'MALFORMED');
});

test('map keys must be strings; a bad timestamp extension is MALFORMED', () => {
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0x81, 0x01, 0x02]))), 'MALFORMED');
  assert.is(codeOf(() => decodeUntrusted(new Uint8Array([0xc7, 3, 0xff, 1, 2, 3]))), 'MALFORMED');
});

test('__proto__ keys are refused and Object.prototype stays clean', () => {
  // {"__proto__": {"polluted": true}} written by hand: no encoder would produce it from a JS object
  const key = Buffer.from('__proto__');
  const inner = Buffer.concat([Buffer.from([0x81, 0xa8]), Buffer.from('polluted'), Buffer.from([0xc3])]);
  const bytes = new Uint8Array(Buffer.concat([Buffer.from([0x81, 0xa0 + key.length]), key, inner]));
  assert.is(codeOf(() => decodeUntrusted(bytes)), 'MALFORMED');
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  // ordinary keys that shadow Object.prototype members stay plain own data
  const shadow = decodeUntrusted(encode({ constructor: 1, toString: 'x', hasOwnProperty: 2 })) as Record<string, unknown>;
  assert.is(shadow.constructor, 1);
  assert.is(Object.getPrototypeOf(shadow), Object.prototype);
});

test('encodeCanonical ignores key order and leaves out undefined', () => {
  const a = encodeCanonical({ b: 1, a: [1, { y: 2, x: 1 }], u: undefined });
  const b = encodeCanonical({ a: [1, { x: 1, y: 2 }], b: 1 });
  assert.equal(a, b);
  assert.equal(decodeUntrusted(a), { a: [1, { x: 1, y: 2 }], b: 1 });
});

test('the structural scan agrees with the real decoder on what is well-formed (property)', () => {
  const open: DecodeLimits = { inputBytesMax: 1 << 20, maxStrLength: 1 << 20, maxBinLength: 1 << 20, maxArrayLength: 1 << 20, maxMapLength: 1 << 20, maxExtLength: 1 << 20, depthMax: 1000 };
  const mutated = fc
    .tuple(fc.anything({ maxDepth: 4, withTypedArray: true, withNullPrototype: true }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 }))
    .map(([v, at, byte, how]) => {
      const b = encode(v);
      if (how === 0 || b.length === 0) return b;
      const i = at % b.length;
      if (how === 1) return new Uint8Array([...b.subarray(0, i), byte, ...b.subarray(i + 1)]);
      if (how === 2) return b.subarray(0, i);
      return new Uint8Array([...b, byte]);
    });
  fc.assert(
    fc.property(fc.oneof(mutated, fc.uint8Array({ maxLength: 64 })), (bytes) => {
      let scanned = true;
      try {
        scanMsgpack(bytes, open);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        scanned = false;
      }
      let decoded = true;
      try {
        decode(bytes);
      } catch (error) {
        decoded = false;
        // the scan does not look at map keys or extension contents; everything else it must have caught
        if (scanned && error instanceof RangeError) return false;
      }
      return !decoded || scanned;
    }),
    { numRuns: 3000 },
  );
});

test.run();
