/**
 * The ShardStore contract suite (STYLE.md: one contract suite runs against every implementation).
 * `runShardStoreContract(name, factory)` registers a uvu suite; the factory returns a fresh, empty store
 * and a cleanup. Each implementation's test file calls it and runs the suite.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { BaksaError } from '../../../shared/errors.ts';
import { shardIdOf, type ShardStore } from '../../../shared/storage/index.ts';

export interface StoreUnderTest {
  store: ShardStore;
  cleanup: () => Promise<void>;
}

export type StoreFactory = () => Promise<StoreUnderTest>;

async function expectCode(p: Promise<unknown>, code: string): Promise<BaksaError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BaksaError, `expected BaksaError ${code}, got ${String(err)}`);
    assert.is((err as BaksaError).code, code);
    return err as BaksaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const id of it) out.push(id);
  return out.sort();
}

const bytes = (n: number) => new Uint8Array(randomBytes(n));

export function runShardStoreContract(name: string, factory: StoreFactory): void {
  const s = suite<{ sut?: StoreUnderTest }>(`ShardStore contract: ${name}`, {});
  s.before.each(async (ctx) => {
    ctx.sut = await factory();
  });
  s.after.each(async (ctx) => {
    await ctx.sut?.store.close();
    await ctx.sut?.cleanup();
  });
  const storeOf = (ctx: { sut?: StoreUnderTest }) => ctx.sut!.store;

  s('put returns the SHA-256 id and get returns the same bytes', async (ctx) => {
    const store = storeOf(ctx);
    for (const size of [0, 1, 4095, 70_000]) {
      const data = bytes(size);
      const id = await store.put(data);
      assert.is(id, shardIdOf(data));
      assert.ok(await store.has(id));
      assert.equal(Buffer.from(await store.get(id)), Buffer.from(data));
    }
  });

  s('getInto fills a buffer of the shard size, hash-verified; another size is SHARD_CORRUPT', async (ctx) => {
    const store = storeOf(ctx);
    const data = bytes(5000);
    const id = await store.put(data);
    const whole = new Uint8Array(7000);
    await store.getInto(id, whole.subarray(1000, 6000));
    assert.equal(Buffer.from(whole.subarray(1000, 6000)), Buffer.from(data));
    assert.ok(whole.subarray(0, 1000).every((b) => b === 0) && whole.subarray(6000).every((b) => b === 0), 'nothing outside the target');
    await expectCode(store.getInto(id, new Uint8Array(4999)), 'SHARD_CORRUPT');
    await expectCode(store.getInto(id, new Uint8Array(5001)), 'SHARD_CORRUPT');
    await expectCode(store.getInto(shardIdOf(bytes(10)), new Uint8Array(10)), 'SHARD_MISSING');
    await expectCode(store.getInto('nope', new Uint8Array(10)), 'SHARD_ID_INVALID');
    const empty = await store.put(new Uint8Array(0));
    await store.getInto(empty, new Uint8Array(0));
  });

  s('getInto without the hash check fills the buffer; a missing shard or a short one is still refused', async (ctx) => {
    const store = storeOf(ctx);
    const data = bytes(5000);
    const id = await store.put(data);
    const target = new Uint8Array(5000);
    await store.getInto(id, target, { verify: false });
    assert.equal(Buffer.from(target), Buffer.from(data));
    await expectCode(store.getInto(id, new Uint8Array(5001), { verify: false }), 'SHARD_CORRUPT');
    await expectCode(store.getInto(shardIdOf(bytes(10)), new Uint8Array(10), { verify: false }), 'SHARD_MISSING');
    await expectCode(store.getInto('nope', new Uint8Array(10), { verify: false }), 'SHARD_ID_INVALID');
  });

  s('stored bytes do not change when the caller changes its buffer', async (ctx) => {
    const store = storeOf(ctx);
    const data = bytes(100);
    const copy = Uint8Array.from(data);
    const id = await store.put(data);
    data[0] = data[0]! ^ 0xff;
    const got = await store.get(id);
    assert.equal(Buffer.from(got), Buffer.from(copy));
  });

  s('a shard staged with the id its caller checked is stored and committed under that id', async (ctx) => {
    const store = storeOf(ctx);
    const data = bytes(1500);
    const id = createHash('sha256').update(data).digest('hex');
    assert.is(await store.putStaged('tx-known-id', data, id), id);
    await store.commit('tx-known-id');
    assert.equal(Buffer.from(await store.get(id)), Buffer.from(data));
  });

  s('a shard put with the id its caller checked is stored under that id; a malformed id is refused', async (ctx) => {
    const store = storeOf(ctx);
    const data = bytes(1200);
    const id = createHash('sha256').update(data).digest('hex');
    assert.is(await store.put(data, id), id);
    assert.equal(Buffer.from(await store.get(id)), Buffer.from(data));
    await expectCode(store.put(data, 'not-a-shard-id'), 'SHARD_ID_INVALID');
  });

  s('staged shards are invisible until commit, then visible', async (ctx) => {
    const store = storeOf(ctx);
    const a = bytes(1000);
    const b = bytes(2000);
    const ida = await store.putStaged('tx-1', a);
    const idb = await store.putStaged('tx-1', b);
    assert.not.ok(await store.has(ida));
    await expectCode(store.get(ida), 'SHARD_MISSING');
    const staged = await store.stagedTransactions();
    assert.is(staged.length, 1);
    assert.is(staged[0]!.txId, 'tx-1');
    assert.equal(staged[0]!.shardIds, [ida, idb].sort());
    assert.is(staged[0]!.bytes, 3000);
    assert.ok(staged[0]!.modifiedMs > 0);
    await store.commit('tx-1');
    assert.ok(await store.has(ida));
    assert.equal(Buffer.from(await store.get(idb)), Buffer.from(b));
    assert.equal(await store.stagedTransactions(), []);
  });

  s('getStaged reads a shard staged in any open transaction, and nothing once it is committed or aborted', async (ctx) => {
    const store = storeOf(ctx);
    const a = bytes(1000);
    const b = bytes(3000);
    const ida = await store.putStaged('tx-1', a);
    const idb = await store.putStaged('tx-2', b);
    assert.equal(Buffer.from(await store.getStaged(ida)), Buffer.from(a));
    assert.equal(Buffer.from(await store.getStaged(idb)), Buffer.from(b));
    await expectCode(store.getStaged(shardIdOf(bytes(10))), 'SHARD_MISSING');
    await expectCode(store.getStaged('nope'), 'SHARD_ID_INVALID');
    await store.commit('tx-1');
    await expectCode(store.getStaged(ida), 'SHARD_MISSING');
    assert.equal(Buffer.from(await store.get(ida)), Buffer.from(a));
    await store.abort('tx-2');
    await expectCode(store.getStaged(idb), 'SHARD_MISSING');
    await expectCode(store.get(idb), 'SHARD_MISSING');
  });

  s('syncStaged keeps shards staged and invisible, is idempotent, and allows more staging', async (ctx) => {
    const store = storeOf(ctx);
    const a = bytes(1500);
    const b = bytes(700);
    const ida = await store.putStaged('tx-sync', a);
    await store.syncStaged('tx-sync');
    await store.syncStaged('tx-sync');
    await store.syncStaged('never-staged');
    assert.not.ok(await store.has(ida));
    assert.equal((await store.stagedTransactions()).map((t) => [t.txId, t.shardIds]), [['tx-sync', [ida]]]);
    const idb = await store.putStaged('tx-sync', b);
    await store.syncStaged('tx-sync');
    assert.equal((await store.stagedTransactions())[0]!.shardIds, [ida, idb].sort());
    await store.commit('tx-sync');
    assert.equal(Buffer.from(await store.get(ida)), Buffer.from(a));
    assert.equal(Buffer.from(await store.get(idb)), Buffer.from(b));
    assert.equal(await store.stagedTransactions(), []);
    await expectCode(store.syncStaged('a/b'), 'TX_ID_INVALID');
  });

  s('a synced tx can still be aborted; the same tx id can stage again afterwards', async (ctx) => {
    const store = storeOf(ctx);
    const id = await store.putStaged('tx-again', bytes(900));
    await store.syncStaged('tx-again');
    await store.abort('tx-again');
    assert.equal(await store.stagedTransactions(), []);
    const id2 = await store.putStaged('tx-again', bytes(901));
    await store.commit('tx-again');
    assert.not.ok(await store.has(id));
    assert.ok(await store.has(id2));
  });

  s('commit is idempotent and a commit of an unknown tx does nothing', async (ctx) => {
    const store = storeOf(ctx);
    const id = await store.putStaged('tx-2', bytes(10));
    await store.commit('tx-2');
    await store.commit('tx-2');
    await store.commit('never-staged');
    assert.ok(await store.has(id));
    assert.equal(await collect(store.list()), [id]);
  });

  s('abort drops staged shards, is idempotent, and never touches committed ones', async (ctx) => {
    const store = storeOf(ctx);
    const shared = bytes(500);
    const committedId = await store.put(shared);
    const other = await store.putStaged('tx-3', bytes(500));
    assert.is(await store.putStaged('tx-3', shared), committedId);
    await store.abort('tx-3');
    await store.abort('tx-3');
    assert.not.ok(await store.has(other));
    assert.ok(await store.has(committedId));
    assert.equal(await store.stagedTransactions(), []);
    await store.commit('tx-3'); // nothing left to commit
    assert.not.ok(await store.has(other));
  });

  s('transactions are independent', async (ctx) => {
    const store = storeOf(ctx);
    const x = await store.putStaged('tx-a', bytes(10));
    const y = await store.putStaged('tx-b', bytes(10));
    await store.commit('tx-a');
    assert.ok(await store.has(x));
    assert.not.ok(await store.has(y));
    assert.equal((await store.stagedTransactions()).map((t) => t.txId), ['tx-b']);
  });

  s('staging the same bytes twice, and committing bytes already stored, keep one shard', async (ctx) => {
    const store = storeOf(ctx);
    await store.space(); // counting starts before the writes, so the re-commit below must not count twice
    const data = bytes(300);
    const id1 = await store.putStaged('tx-d', data);
    const id2 = await store.putStaged('tx-d', data);
    assert.is(id1, id2);
    assert.equal((await store.stagedTransactions())[0]!.shardIds, [id1]);
    await store.commit('tx-d');
    await store.putStaged('tx-e', data);
    await store.commit('tx-e');
    assert.equal(await collect(store.list()), [id1]);
    const vols = await store.space();
    assert.is(vols.reduce((a, v) => a + v.shards, 0), 1);
    assert.is(vols.reduce((a, v) => a + v.usedBytes, 0), 300);
  });

  s('concurrent putStaged into one tx, then commit', async (ctx) => {
    const store = storeOf(ctx);
    const datas = Array.from({ length: 12 }, (_, i) => bytes(1000 + i));
    const ids = await Promise.all(datas.map((d) => store.putStaged('tx-par', d)));
    await store.commit('tx-par');
    for (let i = 0; i < datas.length; i++) assert.equal(Buffer.from(await store.get(ids[i]!)), Buffer.from(datas[i]!));
    assert.equal(await collect(store.list()), [...ids].sort());
  });

  s('delete removes a committed shard and reports whether it did', async (ctx) => {
    const store = storeOf(ctx);
    const id = await store.put(bytes(64));
    assert.ok(await store.delete(id));
    assert.not.ok(await store.delete(id));
    assert.not.ok(await store.has(id));
    await expectCode(store.get(id), 'SHARD_MISSING');
    assert.equal(await collect(store.list()), []);
  });

  s('deleteMany removes the shards it names that exist, counts them, and leaves the rest', async (ctx) => {
    const store = storeOf(ctx);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await store.put(bytes(64 + i)));
    const missing = 'ab'.repeat(32);
    assert.is(await store.deleteMany([ids[0]!, ids[2]!, missing, ids[4]!]), 3);
    assert.equal(await collect(store.list()), [ids[1]!, ids[3]!].sort());
    assert.is(await store.deleteMany([]), 0);
    await expectCode(store.deleteMany([ids[1]!, 'nope']), 'SHARD_ID_INVALID');
    assert.ok(await store.has(ids[1]!), 'a bad id in the list deletes nothing');
  });

  s('space counts committed shards and bytes', async (ctx) => {
    const store = storeOf(ctx);
    const before = await store.space();
    assert.ok(before.length >= 1);
    for (const v of before) {
      assert.is(v.shards, 0);
      assert.is(v.usedBytes, 0);
      assert.ok(v.totalBytes > 0);
      assert.ok(v.freeBytes <= v.totalBytes);
      assert.type(v.id, 'string');
      assert.type(v.path, 'string');
    }
    const a = await store.put(bytes(1000));
    await store.putStaged('tx-s', bytes(2000));
    await store.commit('tx-s');
    await store.putStaged('tx-t', bytes(5000)); // staged only: not counted
    const sum = (vs: typeof before, f: (v: (typeof before)[number]) => number) => vs.reduce((n, v) => n + f(v), 0);
    let after = await store.space();
    assert.is(sum(after, (v) => v.shards), 2);
    assert.is(sum(after, (v) => v.usedBytes), 3000);
    await store.delete(a);
    after = await store.space();
    assert.is(sum(after, (v) => v.shards), 1);
    assert.is(sum(after, (v) => v.usedBytes), 2000);
  });

  s('bad shard ids and tx ids are refused before anything is touched', async (ctx) => {
    const store = storeOf(ctx);
    const badIds = ['', 'abc', '../../etc/passwd', 'A'.repeat(64), 'g'.repeat(64), '0'.repeat(63), '0'.repeat(65), `${'0'.repeat(62)}/x`];
    for (const bad of badIds) {
      await expectCode(store.get(bad), 'SHARD_ID_INVALID');
      await expectCode(store.has(bad), 'SHARD_ID_INVALID');
      await expectCode(store.delete(bad), 'SHARD_ID_INVALID');
    }
    const badTx = ['', '..', '../x', 'a/b', 'a.b', 'x'.repeat(129), 'a b', 'ä', '\0'];
    for (const bad of badTx) {
      await expectCode(store.putStaged(bad, bytes(1)), 'TX_ID_INVALID');
      await expectCode(store.commit(bad), 'TX_ID_INVALID');
      await expectCode(store.abort(bad), 'TX_ID_INVALID');
    }
    await store.putStaged('x'.repeat(128), bytes(1)); // the longest allowed
    for (const bad of badIds) await expectCode(store.putStaged('tx-known', bytes(1), bad), 'SHARD_ID_INVALID');
    await expectCode(store.get(undefined as unknown as string), 'SHARD_ID_INVALID');
  });

  s('a shard over shardBytesMax is refused', async (ctx) => {
    const store = storeOf(ctx);
    await expectCode(store.put(new Uint8Array(16 * 1024 * 1024 + 1)), 'SHARD_TOO_LARGE');
    await expectCode(store.putStaged('tx-big', new Uint8Array(16 * 1024 * 1024 + 1)), 'SHARD_TOO_LARGE');
    assert.equal(await store.stagedTransactions(), []);
  });

  s('list yields every committed id once', async (ctx) => {
    const store = storeOf(ctx);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await store.put(bytes(50 + i)));
    for (let i = 0; i < 5; i++) await store.putStaged('tx-l', bytes(20 + i));
    assert.equal(await collect(store.list()), [...new Set(ids)].sort());
  });

  s('use after close fails loudly', async (ctx) => {
    const store = storeOf(ctx);
    await store.close();
    try {
      await store.put(bytes(1));
      assert.unreachable('closed');
    } catch (err) {
      assert.match((err as Error).message, /after close/);
    }
  });

  s.run();
}
