// The chunk sealers (worker threads that compress, encrypt, erasure-code and hash each new chunk's
// shards; profiles with worker threads on 2+ cores): what they seal reads back byte-identical, dedup
// still holds, the checkpoint commits before the catalog names the shards, and their shard ids are
// the store's own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { FsShardStore, shardIdOf } from '../../../shared/storage/index.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { ChunkReader, ChunkSealPool, ChunkWriter, chunkIdHex, sealAndStage } from '../../../agent/chunks/index.ts';
import { ReedSolomon } from '../../../shared/erasure/index.ts';
import { sealChunkShards } from '../../../agent/chunks/codec.ts';
import { countSealerSeals, pseudoRandom, sensorLines, tempDir } from './_helpers.ts';

const ring = KeyRing.fromRoot(generateRootKey(), 'gw1.test.example', 1);

/** Waits until a sealer takes chunks (before, `seal` answers undefined: the caller seals). */
async function loaded(pool: ChunkSealPool): Promise<void> {
  const probe = Buffer.from('probe');
  for (let i = 0; i < 500; i++) {
    if (await pool.seal('00'.repeat(32), probe, 1, 0)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.unreachable('no sealer loaded');
}

test('a sealer seals, encodes and hashes as this thread would, and gives the plaintext buffer back for reuse', async () => {
  const pool = ChunkSealPool.start({ keys: ring.current, compression: { algorithm: 'zstd', level: 1 } }, 1);
  try {
    await loaded(pool);
    const plain = Buffer.from(sensorLines(3000));
    const before = Buffer.from(plain);
    const id = 'ab'.repeat(32);
    const sealed = (await pool.seal(id, plain, 3, 2))!;
    assert.is(sealed.shards.length, 5);
    assert.equal(sealed.shardIds, sealed.shards.map(shardIdOf), 'each id is the hash of its shard');
    const here = await sealChunkShards(ring.current, id, plain, { algorithm: 'zstd', level: 1 }, 3, 2);
    assert.is(sealed.sealedLength, here.sealedLength, 'the same compressed length as sealed on this thread');
    assert.ok(sealed.shards.slice(3).some((s) => s.some((b) => b !== 0)), 'the parity is encoded');
    assert.equal(plain, before, 'the caller keeps its plaintext (a copy went over)');
    const again = await pool.seal(id, Buffer.from(sensorLines(10)), 3, 2);
    assert.is(again?.shards.length, 5, 'a second chunk goes through the reused buffer');
  } finally {
    await pool.close();
  }
});

test('a chunk in a sealer that is closed under it, and every chunk after, is sealed by the caller', async () => {
  const t = tempDir();
  const store = await FsShardStore.open({ volumes: [join(t.path, 'shards')], volumeReserveBytes: 0 });
  const pool = ChunkSealPool.start({ keys: ring.current, compression: { algorithm: 'zstd', level: 1 } }, 1);
  try {
    await loaded(pool);
    const rs = await ReedSolomon.create(2, 1);
    const plain = Buffer.from(sensorLines(500_000)); // 15 MB: the sealer is still at it when closed
    const id = chunkIdHex(ring.current, plain);
    const inFlight = sealAndStage(store, rs, ring.current, { algorithm: 'zstd', level: 1 }, 'tx-1', id, plain, pool);
    await pool.close();
    const stored = await inFlight;
    assert.is(stored.shardIds.length, 3, 'sealed here after the sealer went');
    assert.is(await pool.seal(id, plain, 2, 1), undefined, 'a pool with no sealer left takes nothing');
    const after = await sealAndStage(store, rs, ring.current, { algorithm: 'zstd', level: 1 }, 'tx-1', id, Buffer.from(sensorLines(5)), pool);
    assert.is(after.shardIds.length, 3);
    await store.commit('tx-1');
    for (const s of stored.shardIds) assert.is(shardIdOf((await store.get(s))!), s);
  } finally {
    await pool.close();
    await store.close();
    t.cleanup();
  }
});

test('chunks sealed by a sealer thread read back, and are committed by the checkpoint', async () => {
  const t = tempDir();
  const volume = join(t.path, 'shards');
  const store = await FsShardStore.open({ volumes: [volume], volumeReserveBytes: 0 });
  const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
  let writer: ChunkWriter | undefined;
  const sealedThere = countSealerSeals();
  try {
    writer = await ChunkWriter.create(store, catalog, ring, {
      k: 2,
      m: 1,
      compression: { algorithm: 'zstd', level: 1 },
      memoryBudgetBytes: 1 << 20,
      checkpointBytes: 1 << 30,
      location: 'local',
      sealers: { threads: 1, afterBytes: 0 },
    });
    // The first chunk starts the sealer and is sealed here while it loads; the rest wait for it.
    const firstPlain = Buffer.from(sensorLines(50, 1, 's0'));
    const first = await writer.add(firstPlain);
    // In flight until its shards are staged, it holds its plaintext, the sealer's copy and its shards.
    assert.is(writer.budget.inFlightBytes, 2 * firstPlain.length + Math.ceil((firstPlain.length * 3) / 2), "the budget counts the sealer's copy");
    await new Promise((r) => setTimeout(r, 1000));
    const chunks = [Buffer.from(sensorLines(4000)), pseudoRandom(200_000, 5), Buffer.from(sensorLines(100, 9000, 's2'))];
    const added = [first];
    for (const c of chunks) added.push(await writer.add(c));
    assert.not.ok((await writer.add(Buffer.from(chunks[1]!))).isNew, 'dedup of a chunk in flight');
    assert.ok(added.every((a) => a.isNew));
    await writer.checkpoint();
    assert.equal(await store.stagedTransactions(), [], 'the checkpoint committed the transaction');
    const reader = new ChunkReader(store, catalog, ring);
    for (let i = 1; i < added.length; i++) {
      const record = (await catalog.getChunk(added[i]!.id))!;
      assert.is(record.shards.length, 3);
      for (const s of record.shards) {
        assert.ok(await store.has(s.shardId), 'every shard the catalog names is committed');
        assert.is(shardIdOf((await store.get(s.shardId))!), s.shardId, 'a shard is stored under its own hash');
      }
      assert.equal(Buffer.from(await reader.read(added[i]!.id)), chunks[i - 1]);
    }
    assert.is(writer.stats.chunksNew, 4);
    assert.is(sealedThere.count(), 3, 'the chunks after the first were sealed by the sealer');
  } finally {
    sealedThere.restore();
    await writer?.close();
    await catalog.close();
    await store.close();
    t.cleanup();
  }
});

test.run();
