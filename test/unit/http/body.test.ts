// Collecting HTTP bodies (shared/http/body.ts): with a Content-Length into one buffer of that size,
// without one by joining; every way of passing the bound refused; pieces of any sizes, and more or
// fewer bytes than declared, give exactly the bytes received.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { BodyCollector, BodyTooLarge, ByteParts, collectBody, declaredLength } from '../../../shared/http/body.ts';

const pieceArb = fc.uint8Array({ maxLength: 40 });

test('any pieces, declared right, too long, too short or not at all: the bytes received, in order', () => {
  fc.assert(
    fc.property(fc.array(pieceArb, { maxLength: 12 }), fc.integer({ min: -30, max: 30 }), fc.boolean(), (pieces, skew, declare) => {
      const whole = Buffer.concat(pieces);
      const declared = declare ? Math.max(0, whole.length + skew) : undefined;
      const c = new BodyCollector(10_000, declared);
      for (const p of pieces) c.add(p);
      assert.is(c.size, whole.length);
      assert.equal(c.bytes(), whole);
    }),
    { numRuns: 500 },
  );
});

test('with a Content-Length the pieces are copied into one buffer, not kept', () => {
  const pieces = [Buffer.from('abc'), Buffer.from('defg')];
  const c = new BodyCollector(100, 7);
  for (const p of pieces) c.add(p);
  pieces[0]![0] = 0x7a; // a piece taken is not held: what it held was copied when it came
  assert.is(c.bytes().toString(), 'abcdefg');
  const kept = new BodyCollector(100);
  for (const p of pieces) kept.add(p);
  pieces[0]![0] = 0x61;
  assert.is(kept.bytes().toString(), 'abcdefg', 'without a Content-Length the pieces are kept and joined at the end');
});

test('past the bound: refused by the declared length at once, or at the piece that crosses it', () => {
  assert.throws(() => new BodyCollector(10, 11), (e: unknown) => e instanceof BodyTooLarge && e.bytesMax === 10);
  for (const declared of [undefined, 10, 4]) {
    const c = new BodyCollector(10, declared);
    c.add(new Uint8Array(6));
    c.add(new Uint8Array(4));
    assert.throws(() => c.add(new Uint8Array(1)), (e: unknown) => e instanceof BodyTooLarge);
    assert.is(c.size, 10, 'the refused piece is not taken');
  }
});

test('a stream is collected whole, and refused past the bound', async () => {
  const pieces = [Buffer.from('hello '), Buffer.from('world')];
  assert.is((await collectBody(Readable.from(pieces), 11, 11)).toString(), 'hello world');
  assert.is((await collectBody(Readable.from(pieces), 11)).toString(), 'hello world');
  try {
    await collectBody(Readable.from(pieces), 10);
    assert.unreachable('past the bound');
  } catch (e) {
    assert.instance(e, BodyTooLarge);
  }
});

test('only a plain decimal Content-Length is taken', () => {
  assert.is(declaredLength('1234'), 1234);
  assert.is(declaredLength('0'), 0);
  for (const bad of [undefined, '', '-1', '1e3', ' 12', '12abc', '0x10', '9'.repeat(16), 12]) assert.is(declaredLength(bad), undefined, String(bad));
});

test('ByteParts: its length is the sum of its pieces', () => {
  assert.is(new ByteParts([new Uint8Array(3), new Uint8Array(0), new Uint8Array(5)]).length, 8);
  assert.is(new ByteParts([]).length, 0);
});

test.run();
