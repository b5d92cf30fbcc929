// The in-memory pair the embedding gateway joins its own broker through: bytes arrive in order and
// unchanged both ways, a writer waits while the reader does not read (backpressure), and ending or
// destroying one end reaches the other.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { localPair } from '../../../agent/broker/local-pair.ts';

test('writes arrive in order, the same bytes, both ways', async () => {
  const [a, b] = localPair();
  const got: Buffer[] = [];
  b.on('data', (d: Buffer) => got.push(d));
  a.write(Buffer.from('one '));
  a.write(Buffer.from('two'));
  const back = new Promise<Buffer>((r) => a.once('data', r));
  b.write(Buffer.from('back'));
  assert.is((await back).toString(), 'back');
  await new Promise((r) => setImmediate(r));
  assert.is(Buffer.concat(got).toString(), 'one two');
});

test('a writer waits while the other end does not read, and goes on when it does', async () => {
  const [a, b] = localPair();
  const piece = Buffer.alloc(64 * 1024, 1);
  let accepted = 0;
  for (let i = 0; i < 64; i++) a.write(piece, () => accepted++);
  await new Promise((r) => setTimeout(r, 20));
  assert.ok(accepted < 64, `${accepted} of 64 writes done with nobody reading`);
  let read = 0;
  b.on('data', (d: Buffer) => (read += d.length));
  await new Promise((r) => setTimeout(r, 20));
  assert.is(accepted, 64);
  assert.is(read, 64 * piece.length);
});

test('ending one end ends the other; destroying one destroys the other', async () => {
  const [a, b] = localPair();
  const ended = new Promise<void>((r) => b.once('end', () => r()));
  b.resume();
  a.end();
  await ended;
  const [c, d] = localPair();
  c.destroy();
  await new Promise((r) => setImmediate(r));
  assert.ok(d.destroyed);
  const failed = await new Promise<Error | null | undefined>((r) => d.write(Buffer.from('x'), r));
  assert.ok(failed, 'a write to a closed pair fails');
});

test.run();
