// Ed25519 verify pool (shared/crypto/verify-pool.ts): the same answers as the synchronous `verify`,
// whatever the input, through workers, through the fallbacks, and across close().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { generateSigningKey, sign, verify } from '../../../shared/crypto/sign.ts';
import { VerifyPool, syncVerifier, type VerifyItem } from '../../../shared/crypto/verify-pool.ts';

const keys = Array.from({ length: 8 }, () => generateSigningKey());

/** Valid items, then the same with a flipped bit in the data, signature or key, or a malformed length. */
const itemArb: fc.Arbitrary<VerifyItem> = fc
  .record({
    k: fc.nat({ max: keys.length - 1 }),
    data: fc.uint8Array({ maxLength: 300 }),
    damage: fc.constantFrom('none', 'none', 'data', 'sig', 'key', 'otherKey', 'shortKey', 'longSig', 'zeroKey', 'randomKey'),
    at: fc.nat(),
    random: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  })
  .map(({ k, data, damage, at, random }) => {
    const pair = keys[k]!;
    let publicKey = pair.publicKey;
    let signature = sign(pair.privateKey, data);
    let d = data;
    const flip = (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      if (c.length > 0) c[at % c.length]! ^= 1 << (at % 8);
      return c;
    };
    if (damage === 'data') d = data.length > 0 ? flip(data) : Uint8Array.of(1);
    if (damage === 'sig') signature = flip(signature);
    if (damage === 'key') publicKey = flip(publicKey);
    if (damage === 'otherKey') publicKey = keys[(k + 1) % keys.length]!.publicKey;
    if (damage === 'shortKey') publicKey = publicKey.subarray(0, 31);
    if (damage === 'longSig') signature = Uint8Array.from([...signature, 0]);
    if (damage === 'zeroKey') publicKey = new Uint8Array(32);
    if (damage === 'randomKey') publicKey = random;
    return { publicKey, data: d, signature };
  });

const expected = (items: readonly VerifyItem[]) => items.map((it) => verify(it.publicKey, it.data, it.signature));

test('workers answer exactly what the synchronous verify answers (valid, damaged and malformed items)', async () => {
  const pool = new VerifyPool({ size: 2, batchItemsMax: 7 });
  try {
    assert.is(pool.size, 2);
    await fc.assert(
      fc.asyncProperty(fc.array(itemArb, { maxLength: 40 }), async (items) => {
        assert.equal(await pool.verifyBatch(items), expected(items));
      }),
      { numRuns: 60 },
    );
    const stats = pool.stats();
    assert.ok(stats.workerItems > 0, 'the workers did the work');
    assert.is(stats.syncItems, 0);
    assert.is(stats.workerFailures, 0);
  } finally {
    await pool.close();
  }
});

test('many concurrent calls split over workers keep their order', async () => {
  const pool = new VerifyPool({ size: 2, batchItemsMax: 16, batchesPerWorkerMax: 1 });
  try {
    const batches = fc.sample(fc.array(itemArb, { minLength: 1, maxLength: 50 }), { numRuns: 30, seed: 7 });
    const answers = await Promise.all(batches.map((b) => pool.verifyBatch(b)));
    batches.forEach((b, i) => assert.equal(answers[i], expected(b)));
    assert.ok(answers.flat().some((x) => x) && answers.flat().some((x) => !x), 'both outcomes occur');
    assert.is(pool.stats().queuedItems, 0);
  } finally {
    await pool.close();
  }
});

test('garbage never throws: empty batch, zero-length everything, a huge item', async () => {
  const pool = new VerifyPool({ size: 1 });
  try {
    assert.equal(await pool.verifyBatch([]), []);
    const e = new Uint8Array(0);
    const pair = keys[0]!;
    const big = new Uint8Array(2 << 20).fill(7);
    const items: VerifyItem[] = [
      { publicKey: e, data: e, signature: e },
      { publicKey: new Uint8Array(32).fill(0xff), data: e, signature: new Uint8Array(64).fill(0xff) },
      { publicKey: pair.publicKey, data: big, signature: sign(pair.privateKey, big) },
      { publicKey: pair.publicKey, data: e, signature: sign(pair.privateKey, e) },
    ];
    assert.equal(await pool.verifyBatch(items), [false, false, true, true]);
    assert.is(pool.stats().workerFailures, 0, 'the worker survived the garbage');
    // still working afterwards
    const ok = { publicKey: pair.publicKey, data: Uint8Array.of(1, 2), signature: sign(pair.privateKey, Uint8Array.of(1, 2)) };
    assert.equal(await pool.verifyBatch([ok]), [true]);
  } finally {
    await pool.close();
  }
});

test('falls back to the calling thread: no workers, workers that cannot start, a full queue, after close', async () => {
  const items = fc.sample(itemArb, { numRuns: 30, seed: 3 });
  const none = new VerifyPool({ size: 0 });
  assert.equal(await none.verifyBatch(items), expected(items));
  assert.is(none.stats().syncItems, items.length);
  await none.close();

  const broken = new VerifyPool({ size: 2, workerSource: 'throw new Error("cannot start")' });
  assert.equal(await broken.verifyBatch(items), expected(items));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await broken.verifyBatch(items), expected(items));
  assert.is(broken.size, 0, 'the dead workers are gone');
  assert.is(broken.stats().workerFailures, 2);
  await broken.close();

  const small = new VerifyPool({ size: 1, queuedItemsMax: 10 });
  const [a, b] = await Promise.all([small.verifyBatch(items.slice(0, 10)), small.verifyBatch(items.slice(10))]);
  assert.equal([...a, ...b], expected(items));
  assert.is(small.stats().syncItems, 20, 'the call past the bound was verified here');
  await small.close();
  assert.equal(await small.verifyBatch(items), expected(items));
  assert.is(small.size, 0);
});

test('close() answers what was accepted, then stops the workers', async () => {
  const pool = new VerifyPool({ size: 2, batchItemsMax: 5 });
  const items = fc.sample(itemArb, { numRuns: 100, seed: 11 });
  const pending = pool.verifyBatch(items);
  await pool.close();
  assert.equal(await pending, expected(items));
  assert.is(pool.size, 0);
  await pool.close(); // twice is fine
  assert.equal(await syncVerifier.verifyBatch(items), expected(items));
});

test.run();
