// Rendezvous ranking and the coordinator takeover order (DESIGN §3 step 6, §5 step 1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { coordinatorOf, coordinatorOrder, rank } from '../../../shared/placement/index.ts';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `node-${i}`);
const key = fc.uint8Array({ minLength: 16, maxLength: 32 });

test('rank is a deterministic permutation, independent of input order', () => {
  fc.assert(
    fc.property(key, fc.integer({ min: 1, max: 12 }), (k, n) => {
      const r = rank(k, ids(n)).map((m) => m.id);
      assert.equal([...r].sort(), [...ids(n)].sort());
      assert.equal(rank(k, [...ids(n)].reverse()).map((m) => m.id), r);
    }),
  );
});

test('removing a member keeps the relative order of the others', () => {
  fc.assert(
    fc.property(key, fc.integer({ min: 2, max: 10 }), fc.nat(), (k, n, pick) => {
      const gone = `node-${pick % n}`;
      const before = rank(k, ids(n)).map((m) => m.id).filter((id) => id !== gone);
      assert.equal(rank(k, ids(n).filter((id) => id !== gone)).map((m) => m.id), before);
    }),
  );
});

test('first choice is spread evenly and moves ~1/(N+1) when a member joins', () => {
  const counts = new Map<string, number>();
  let moved = 0;
  const keys = 4000;
  for (let i = 0; i < keys; i++) {
    const first = rank(`k${i}`, ids(8))[0]!.id;
    counts.set(first, (counts.get(first) ?? 0) + 1);
    const after = rank(`k${i}`, ids(9))[0]!.id;
    if (after !== first) {
      moved++;
      assert.is(after, 'node-8', 'a join only moves keys to the new member');
    }
  }
  for (const c of counts.values()) assert.ok(c > 400 && c < 600, `share ${c} of ${keys} is far from 1/8`);
  assert.ok(moved > keys / 9 - 120 && moved < keys / 9 + 120, `moved ${moved}, expected about ${keys / 9}`);
});

test('weights steer the first choice', () => {
  let heavy = 0;
  for (let i = 0; i < 3000; i++) if (rank(`k${i}`, [{ id: 'a', weight: 3 }, { id: 'b' }])[0]!.id === 'a') heavy++;
  assert.ok(heavy > 2100 && heavy < 2400, `weight 3 of 4 got ${heavy} of 3000`);
});

test('coordinatorOrder: first is the coordinator, the next takes over when it dies', () => {
  fc.assert(
    fc.property(key, fc.integer({ min: 2, max: 9 }), (txId, n) => {
      const order = coordinatorOrder(txId, ids(n));
      assert.is(coordinatorOf(txId, ids(n)), order[0]);
      const live = ids(n).filter((id) => id !== order[0]);
      assert.equal(coordinatorOrder(txId, live), order.slice(1));
    }),
  );
  assert.is(coordinatorOf(new Uint8Array(16), []), undefined);
});

test('coordinator order differs from shard placement order (separate hash domains)', () => {
  let same = 0;
  for (let i = 0; i < 200; i++) if (coordinatorOrder(`t${i}`, ids(6))[0] === rank(`t${i}`, ids(6))[0]!.id) same++;
  assert.ok(same < 80, `coordinator and first shard holder coincide ${same} of 200 times`);
});

test('duplicate member ids and bad weights are refused with the field', () => {
  assert.throws(() => rank('k', ['a', 'a']), (e: Error) => /CONFIG_INVALID|listed twice/.test(`${(e as { code?: string }).code} ${e.message}`));
  assert.throws(() => rank('k', [{ id: 'a', weight: 0 }]), /weight/);
});

test.run();
