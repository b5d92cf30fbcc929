// Chunks: the sealed-object codec (compression recorded in the header, id bound in), the writer's dedup
// and checkpoints, the reader's rebuild from parity (DESIGN §3 steps 3-5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { MemoryShardStore } from '../../../shared/storage/index.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { ChunkReader, ChunkWriter, chunkIdHex, openChunk, sealChunk, type ChunkBackend } from '../../../agent/chunks/index.ts';
import { sealChunkShards, type CompressionOptions } from '../../../agent/chunks/codec.ts';
import { ReedSolomon, joinShards } from '../../../shared/erasure/index.ts';
import { pseudoRandom, sensorLines, tempDir } from './_helpers.ts';

const ring = KeyRing.fromRoot(generateRootKey(), 'gw1.test.example', 1);

test('sealing straight into the shards gives an object that opens, from the data shards or rebuilt from parity', async () => {
  const rs = await ReedSolomon.create(4, 2);
  for (const plain of [Buffer.from(sensorLines(3000)), pseudoRandom(200_001), new Uint8Array(0), pseudoRandom(3)]) {
    for (const algorithm of ['none', 'brotli', 'zstd'] as const) {
      const id = chunkIdHex(ring.current, plain);
      const { shards, shardBytes, sealedLength } = await sealChunkShards(ring.current, id, plain, { algorithm, level: 1 }, 4, 2);
      assert.is(shards.length, 6);
      assert.ok(shards.every((s) => s.length === shardBytes));
      // The padding after the sealed object is zero (shards are content-addressed: no stray bytes).
      const joined = Buffer.concat(shards.slice(0, 4));
      assert.ok(joined.subarray(sealedLength).every((b) => b === 0), 'zero padding');
      rs.encode(shards);
      const sealed = joinShards(shards, 4, sealedLength);
      assert.equal(Buffer.from(await openChunk(ring, id, sealed, plain.length)), Buffer.from(plain));
      const rebuilt = rs.reconstruct([null, shards[1]!, null, shards[3]!, shards[4]!, shards[5]!], { dataOnly: true });
      assert.equal(Buffer.from(await openChunk(ring, id, joinShards(rebuilt, 4, sealedLength), plain.length)), Buffer.from(plain));
    }
  }
});

test('seal/open round-trips with every compression and records it in the header', async () => {
  const text = Buffer.from(sensorLines(2000));
  const random = pseudoRandom(50_000);
  const codes = { none: 0, gzip: 1, brotli: 2, zstd: 3 };
  for (const algorithm of ['none', 'gzip', 'brotli', 'zstd'] as const) {
    for (const plain of [text, random, new Uint8Array(0)]) {
      const id = chunkIdHex(ring.current, plain);
      const sealed = await sealChunk(ring.current, id, plain, { algorithm, level: 1 });
      const expected = plain === random || plain.length === 0 ? 0 : codes[algorithm];
      assert.is(sealed[1], expected, `${algorithm} header`);
      assert.equal(Buffer.from(await openChunk(ring, id, sealed, plain.length)), Buffer.from(plain));
    }
  }
  const id = chunkIdHex(ring.current, text);
  const sealed = await sealChunk(ring.current, id, text, { algorithm: 'brotli', level: 1 });
  assert.ok(sealed.length < text.length / 2, 'sensor text compresses');
  // The id is bound into the AAD: the same object cannot pass as another chunk.
  const other = chunkIdHex(ring.current, Buffer.from('other'));
  await openChunk(ring, other, sealed, text.length).then(
    () => assert.unreachable('opened under another id'),
    (e: { code?: string }) => assert.is(e.code, 'DECRYPT_FAILED'),
  );
  const flipped = Uint8Array.from(sealed);
  flipped[1] = 0; // claim "no compression"
  await openChunk(ring, id, flipped, text.length).then(
    () => assert.unreachable('header tampering went unnoticed'),
    (e: { code?: string }) => assert.is(e.code, 'DECRYPT_FAILED'),
  );
});

/** A 2+1 writer over a memory store and a fresh catalog, with no checkpoint but the test's own, for `body`. */
async function withWriter(
  compression: CompressionOptions,
  body: (w: { writer: ChunkWriter; store: MemoryShardStore; catalog: Catalog }) => Promise<void>,
): Promise<void> {
  const t = tempDir();
  const store = new MemoryShardStore();
  const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
  try {
    const writer = await ChunkWriter.create(store, catalog, ring, {
      k: 2, m: 1, compression, memoryBudgetBytes: 1 << 20, checkpointBytes: 1 << 30, location: 'local',
    });
    await body({ writer, store, catalog });
  } finally {
    await catalog.close();
    t.cleanup();
  }
}

test('writer dedups, commits at checkpoints, and the reader rebuilds lost data shards', () =>
  withWriter({ algorithm: 'brotli', level: 1 }, async ({ writer, store, catalog }) => {
    const a = pseudoRandom(100_000, 7);
    const b = Buffer.from(sensorLines(3000));
    const r1 = await writer.add(a);
    const r2 = await writer.add(b);
    const r3 = await writer.add(Buffer.from(a)); // same bytes again, in flight or staged
    assert.ok(r1.isNew && r2.isNew);
    assert.not.ok(r3.isNew);
    assert.is(r3.id, r1.id);
    assert.not.ok(await catalog.hasChunk(r1.id), 'nothing is recorded before the checkpoint');
    await writer.checkpoint();
    assert.ok(await catalog.hasChunk(r1.id));
    assert.not.ok((await writer.add(a)).isNew, 'known in the catalog');
    assert.is(writer.stats.chunksNew, 2);
    const rec = (await catalog.getChunk(r1.id))!;
    assert.is(rec.shards.length, 3);
    // Lose data shard 0: the reader rebuilds it from the parity.
    await store.delete(rec.shards[0]!.shardId);
    const reader = new ChunkReader(store, catalog, ring);
    assert.equal(Buffer.from(await reader.read(r1.id)), a);
    // Lose a second shard: 1 of 2 needed is left.
    await store.delete(rec.shards[1]!.shardId);
    await reader.read(r1.id).then(
      () => assert.unreachable('read with too few shards'),
      (e: { code?: string }) => assert.is(e.code, 'CHUNK_UNRECOVERABLE'),
    );
    assert.equal(Buffer.from(await reader.read(r2.id)), b);
  }));

test('a healthy chunk is read without hashing its shards; a damaged one is read again shard by shard and rebuilt', () =>
  withWriter({ algorithm: 'brotli', level: 1 }, async ({ writer, store, catalog }) => {
    const a = Buffer.from(sensorLines(4000));
    const { id } = await writer.add(a);
    await writer.checkpoint();
    const rec = (await catalog.getChunk(id))!;
    const reads: string[] = [];
    const getInto = store.getInto.bind(store);
    store.getInto = (shardId, target, options) => {
      reads.push(`${rec.shards.find((s) => s.shardId === shardId)!.idx}${options?.verify === false ? '' : ' hashed'}`);
      return getInto(shardId, target, options);
    };
    const reader = new ChunkReader(store, catalog, ring);
    assert.equal(Buffer.from(await reader.read(id)), a);
    assert.equal(reads.sort(), ['0', '1'], 'the data shards, unhashed: the open authenticates them');
    // One flipped bit inside the ciphertext of data shard 1: the open fails, the hashed read finds the shard.
    reads.length = 0;
    store.corrupt(rec.shards[1]!.shardId);
    assert.equal(Buffer.from(await reader.read(id)), a);
    assert.equal(reads.slice(0, 2).sort(), ['0', '1']);
    assert.equal(reads.slice(2).sort(), ['0 hashed', '1 hashed', '2 hashed'], 'then every shard hashed, parity rebuilding shard 1');
  }));

test('adds made at once run one after another: a new chunk two files bring at the same time is stored once', () =>
  withWriter({ algorithm: 'brotli', level: 1 }, async ({ writer, catalog }) => {
    const a = pseudoRandom(100_000, 11);
    const b = Buffer.from(sensorLines(2000));
    // Each add waits for the budget before it marks its chunk in flight: without one-at-a-time, the
    // second add of `a` would not see the first and store it again.
    const added = await Promise.all([writer.add(a), writer.add(Buffer.from(a)), writer.add(b), writer.add(Buffer.from(b))]);
    assert.equal(added.map((r) => r.isNew), [true, false, true, false]);
    assert.is(added[1]!.id, added[0]!.id);
    await writer.checkpoint();
    assert.is(writer.stats.chunksNew, 2);
    assert.is(writer.stats.chunks, 4);
    assert.is((await catalog.chunkCount()), 2);
  }));

test('abort drops the staged batch; the catalog never names uncommitted shards', () =>
  withWriter({ algorithm: 'none', level: 0 }, async ({ writer, store, catalog }) => {
    await writer.add(pseudoRandom(10_000, 3));
    await writer.abort();
    assert.is((await catalog.chunkStats()).chunks, 0);
    assert.is((await store.stagedTransactions()).length, 0);
    let committed = 0;
    for await (const _ of store.list()) committed++;
    assert.is(committed, 0);
  }));

/** A backend whose commits resolve when the test says, placing every shard on "peer-<idx>". */
function slowBackend(): { backend: ChunkBackend; release(n?: number): void; commits: string[]; failNext(): void } {
  const waiting: Array<() => void> = [];
  const puts = new Map<string, string[]>();
  const commits: string[] = [];
  let fail = false;
  return {
    commits,
    release: (n = waiting.length) => waiting.splice(0, n).forEach((go) => go()),
    failNext: () => (fail = true),
    backend: {
      async put(txId, id, plain) {
        puts.set(txId, [...(puts.get(txId) ?? []), id]);
        return { shardIds: ['a', 'b', 'c'].map((x) => x.repeat(64)), shardBytes: plain.length, sealedLength: plain.length };
      },
      async commit(txId) {
        commits.push(txId);
        await new Promise<void>((go) => waiting.push(go));
        if (fail) {
          fail = false;
          throw new Error('the cluster refused');
        }
        return new Map((puts.get(txId) ?? []).map((id) => [id, ['peer-0', 'peer-1', 'peer-2']]));
      },
      async abort() {},
      async close() {},
    },
  };
}

/** A writer that closes a batch at every chunk (2000 bytes > 1000) and lets 3 commits run at once. */
function pipelinedWriter(catalog: Catalog, backend: ChunkBackend): Promise<ChunkWriter> {
  const options = { k: 2, m: 1, compression: { algorithm: 'none' as const, level: 0 }, memoryBudgetBytes: 1 << 20, checkpointBytes: 1000, location: 'self', commitsInFlightMax: 3 };
  return ChunkWriter.create(new MemoryShardStore(), catalog, ring, options, backend);
}

test('with commitsInFlightMax, batches commit while the next ones fill; the catalog gets each placement', async () => {
  const t = tempDir();
  const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
  const slow = slowBackend();
  try {
    const writer = await pipelinedWriter(catalog, slow.backend);
    const ids: string[] = [];
    // Each add past the first closes the previous batch: two commits start without waiting.
    for (let i = 0; i < 3; i++) ids.push((await writer.add(pseudoRandom(2000, 10 + i))).id);
    assert.is(slow.commits.length, 2, 'two batches are committing while the third fills');
    assert.not.ok(await catalog.hasChunk(ids[0]!), 'nothing is recorded before its commit');
    // A fourth batch must wait: three commits would be in flight.
    let fourthAdded = false;
    const fourth = writer.add(pseudoRandom(2000, 20)).then((r) => ((fourthAdded = true), r));
    await new Promise((r) => setTimeout(r, 50));
    assert.is(slow.commits.length, 3);
    assert.not.ok(fourthAdded, 'the writer waits for the oldest commit');
    slow.release(1);
    ids.push((await fourth).id);
    const done = writer.checkpoint();
    for (let i = 0; i < 10 && slow.commits.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    slow.release();
    await new Promise((r) => setTimeout(r, 10));
    slow.release();
    await done;
    for (const id of ids) {
      const rec = (await catalog.getChunk(id))!;
      assert.equal(rec.shards.map((s) => s.location), ['peer-0', 'peer-1', 'peer-2']);
    }
  } finally {
    await catalog.close();
    t.cleanup();
  }
});

test('a failed commit fails the writer at its next step, and its chunks are not recorded', async () => {
  const t = tempDir();
  const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
  const slow = slowBackend();
  try {
    const writer = await pipelinedWriter(catalog, slow.backend);
    const first = await writer.add(pseudoRandom(2000, 30));
    await writer.add(pseudoRandom(2000, 31));
    slow.failNext();
    slow.release();
    await new Promise((r) => setTimeout(r, 20));
    await writer.add(pseudoRandom(2000, 32)).then(
      () => assert.unreachable('the writer goes on after a failed commit'),
      (e: Error) => assert.match(e.message, /the cluster refused/),
    );
    assert.not.ok(await catalog.hasChunk(first.id));
    slow.release();
    await writer.abort();
  } finally {
    await catalog.close();
    t.cleanup();
  }
});

test.run();
