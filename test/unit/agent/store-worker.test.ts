// The store worker path of the chunk writer (a second thread seals and stages; profiles with
// storeWorker on machines of 3+ cores): chunks it stores read back byte-identical, dedup still holds,
// and the checkpoint commits the worker's transaction before the catalog names its shards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { FsShardStore } from '../../../shared/storage/index.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { ChunkReader, ChunkWriter } from '../../../agent/chunks/index.ts';
import { pseudoRandom, sensorLines, tempDir } from './_helpers.ts';

const ring = KeyRing.fromRoot(generateRootKey(), 'gw1.test.example', 1);

test('chunks sealed and staged by the store worker read back, and are committed by the checkpoint', async () => {
  const t = tempDir();
  const volume = join(t.path, 'shards');
  const store = await FsShardStore.open({ volumes: [volume], volumeReserveBytes: 0 });
  const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
  let writer: ChunkWriter | undefined;
  try {
    writer = await ChunkWriter.create(store, catalog, ring, {
      k: 2,
      m: 1,
      compression: { algorithm: 'brotli', level: 1 },
      memoryBudgetBytes: 1 << 20,
      checkpointBytes: 1 << 30,
      location: 'local',
      worker: { volumes: [volume], reserveBytes: 0, afterBytes: 0 },
    });
    const chunks = [Buffer.from(sensorLines(4000)), pseudoRandom(200_000, 5), Buffer.from(sensorLines(100, 9000, 's2'))];
    const added = [];
    for (const c of chunks) added.push(await writer.add(c));
    assert.not.ok((await writer.add(Buffer.from(chunks[1]!))).isNew, 'dedup of a chunk in flight in the worker');
    assert.ok(added.every((a) => a.isNew));
    await writer.checkpoint();
    assert.equal(await store.stagedTransactions(), [], 'the worker committed its transaction');
    const reader = new ChunkReader(store, catalog, ring);
    for (let i = 0; i < chunks.length; i++) {
      const record = (await catalog.getChunk(added[i]!.id))!;
      assert.is(record.shards.length, 3);
      for (const s of record.shards) assert.ok(await store.has(s.shardId), 'every shard the catalog names is committed');
      assert.equal(Buffer.from(await reader.read(added[i]!.id)), chunks[i]);
    }
    assert.is(writer.stats.chunksNew, 3);
  } finally {
    await writer?.close();
    await catalog.close();
    await store.close();
    t.cleanup();
  }
});

test.run();
