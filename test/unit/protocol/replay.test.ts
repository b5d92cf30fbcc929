// Replay protection (DESIGN §8: message ids and timestamps inside the signed payload, with a window).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProtocolError, ReplayGuard } from '../../../shared/protocol/index.ts';

const id = (n: number): Uint8Array => {
  const b = new Uint8Array(16);
  new DataView(b.buffer).setUint32(12, n);
  return b;
};

function code(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.instance(error, ProtocolError);
    return (error as ProtocolError).code;
  }
}

test('the window is ±windowMs around our clock', () => {
  const g = new ReplayGuard({ windowMs: 1000 });
  assert.is(code(() => g.admit('a', id(1), 5000, 6000)), undefined);
  assert.is(code(() => g.admit('a', id(2), 7000, 6000)), undefined);
  assert.is(code(() => g.admit('a', id(3), 4999, 6000)), 'STALE');
  assert.is(code(() => g.admit('a', id(4), 7001, 6000)), 'STALE');
  assert.is(g.check('a', id(1), 5000, 6000), 'REPLAY');
  assert.is(g.check('b', id(1), 5000, 6000), undefined, 'ids are per sender');
});

test('a repeated id is REPLAY until it would be STALE anyway', () => {
  const g = new ReplayGuard({ windowMs: 1000 });
  g.admit('a', id(1), 1000, 1000);
  for (const now of [1000, 1500, 2000]) assert.is(code(() => g.admit('a', id(1), 1000, now)), 'REPLAY');
  assert.is(code(() => g.admit('a', id(1), 1000, 2001)), 'STALE');
});

test('memory stays within idsMax, and a forgotten id still cannot come back', () => {
  const g = new ReplayGuard({ windowMs: 60_000, idsMax: 100 });
  for (let i = 0; i < 1000; i++) g.admit('a', id(i), 10_000 + i, 10_000 + i);
  assert.ok(g.size <= 100, `remembers ${g.size}`);
  // id 0 was evicted by the flood; replaying it is still refused, within the window
  const again = code(() => g.admit('a', id(0), 10_000, 11_000));
  assert.ok(again === 'STALE' || again === 'REPLAY', String(again));
  for (let i = 0; i < 1000; i++) assert.ok(g.check('a', id(i), 10_000 + i, 11_000) !== undefined, `id ${i} would pass again`);
  // new messages keep flowing
  assert.is(code(() => g.admit('a', id(5000), 11_001, 11_001)), undefined);
});

test('expired ids are forgotten as time moves on, even if the clock steps back', () => {
  const g = new ReplayGuard({ windowMs: 1000, idsMax: 10_000 });
  for (let i = 0; i < 50; i++) g.admit('a', id(i), i, 0);
  g.admit('a', id(100), 5000, 5000);
  assert.is(g.size, 1);
  assert.ok(g.check('a', id(3), 3, 500) !== undefined, 'a forgotten id is refused after the clock steps back');
});

test('a flooding sender with a fast clock only shuts out itself', () => {
  const g = new ReplayGuard({ windowMs: 60_000, idsMax: 50 });
  const now = 100_000;
  for (let i = 0; i < 500; i++) code(() => g.admit('byzantine', id(i), now + 59_000, now));
  assert.ok(g.size <= 50);
  assert.is(code(() => g.admit('byzantine', id(9999), now + 59_000, now)), 'STALE');
  assert.is(code(() => g.admit('honest', id(1), now - 1000, now)), undefined);
  assert.is(code(() => g.admit('honest', id(2), now, now)), undefined);
});

test('a clock that is not a number refuses everything', () => {
  const g = new ReplayGuard();
  assert.is(code(() => g.admit('a', id(1), 5, Number.NaN)), 'STALE');
  assert.is(g.check('a', id(1), Number.NaN, 5), 'STALE');
});

test('bad options are refused', () => {
  assert.throws(() => new ReplayGuard({ idsMax: 0 }));
  assert.throws(() => new ReplayGuard({ windowMs: -1 }));
});

test.run();
