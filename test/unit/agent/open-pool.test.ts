// Chunk openers on worker threads (restore): what they return is what `openChunk` returns on the main
// thread, and what it refuses they refuse with the same error code; a sealed object's buffer is handed
// over, not copied; a restore through them is byte-identical.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { BaksaError } from '../../../shared/errors.ts';
import { chunkIdHex, openChunk, sealChunk } from '../../../agent/chunks/codec.ts';
import { ChunkOpenPool } from '../../../agent/chunks/open-pool.ts';
import { runBackup } from '../../../agent/backup/run.ts';
import { runRestore } from '../../../agent/restore/index.ts';
import { handOver } from '../../../agent/util/worker-rpc.ts';
import { assertSameTree, freshState, pseudoRandom, sensorLines, snapshotTree, tempDir } from './_helpers.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { openRepo } from '../../../agent/backup/open.ts';
import { ChunkReader } from '../../../agent/chunks/index.ts';
import { until } from '../../helpers/wait.ts';

const root = generateRootKey();
const ring = KeyRing.fromRoot(root, 'gw1.test.example', 2); // versions 1 and 2

async function sealed(plain: Uint8Array, version = 2, algorithm: 'brotli' | 'gzip' | 'none' = 'brotli') {
  const keys = ring.byVersion(version);
  const id = chunkIdHex(ring.idKeys, plain); // ids keep the first version's dedup key
  return { id, object: await sealChunk(keys, id, plain, { algorithm, level: 1 }) };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (error) {
    return error instanceof BaksaError ? error.code : `not a BaksaError: ${String(error)}`;
  }
}

test('openers return what openChunk returns, for every key version and codec, large and tiny', async () => {
  const pool = ChunkOpenPool.start(ring, 2);
  try {
    const plains = [Buffer.from(sensorLines(20_000)), pseudoRandom(300_000, 3), Buffer.from('x'), Buffer.alloc(0)];
    const jobs = [];
    for (const [i, plain] of plains.entries()) {
      for (const algorithm of ['brotli', 'gzip', 'none'] as const) {
        const { id, object } = await sealed(plain, 1 + (i % 2), algorithm);
        const expected = await openChunk(ring, id, object.slice(), plain.length);
        jobs.push(pool.open(id, object, plain.length).then((got) => assert.equal(Buffer.from(got), Buffer.from(expected), `${algorithm} ${plain.length}`)));
      }
    }
    await Promise.all(jobs);
  } finally {
    await pool.close();
  }
});

test('openers refuse what openChunk refuses, with its error codes, and go on working', async () => {
  const pool = ChunkOpenPool.start(KeyRing.fromRoot(root, 'gw1.test.example', 1, [1]), 1);
  try {
    const plain = Buffer.from(sensorLines(5000));
    const good = await sealed(plain, 1);
    const flipped = good.object.slice();
    flipped[flipped.length - 40]! ^= 0x01;
    assert.is(await codeOf(pool.open(good.id, flipped, plain.length)), 'DECRYPT_FAILED');
    const other = await sealed(Buffer.from(sensorLines(10, 0, 'other')), 1);
    assert.is(await codeOf(pool.open(good.id, other.object, plain.length)), 'DECRYPT_FAILED', 'an object under another id');
    const v2 = await sealed(plain, 2);
    assert.is(await codeOf(pool.open(v2.id, v2.object, plain.length)), 'KEY_VERSION_UNKNOWN');
    assert.is(await codeOf(pool.open(good.id, good.object.slice(), 100)), 'CHUNK_CORRUPT', 'longer than the catalog says');
    assert.is(await codeOf(pool.open(good.id, Uint8Array.of(9, 9, 9), plain.length)), 'CHUNK_CORRUPT');
    assert.equal(Buffer.from(await pool.open(good.id, good.object, plain.length)), plain, 'still opening after refusals');
  } finally {
    await pool.close();
  }
  assert.ok((await codeOf(pool.open('00', new Uint8Array(10), 10))).startsWith('not a BaksaError'), 'a closed pool refuses calls');
});

test('a key version newer than the ring the openers were given is opened on this thread, which derives it', async () => {
  const older = KeyRing.fromRoot(root, 'gw1.test.example', 1); // a config from before two rotations
  const pool = ChunkOpenPool.start(older, 1);
  try {
    await until('the opener loaded', () => pool.threadsReady === 1);
    const plain = Buffer.from(sensorLines(3000));
    const keys = KeyRing.fromRoot(root, 'gw1.test.example', 3).current;
    const id = chunkIdHex(older.idKeys, plain);
    const object = await sealChunk(keys, id, plain, { algorithm: 'brotli', level: 1 });
    assert.equal(Buffer.from(await pool.open(id, object, plain.length)), plain);
    assert.is(object.buffer.byteLength > 0, true, 'opened here: the object was not transferred');
  } finally {
    await pool.close();
  }
});

test('until a worker has loaded, chunks are opened on this thread; then they go to the worker', async () => {
  const pool = ChunkOpenPool.start(ring, 1);
  try {
    const plain = Buffer.from(sensorLines(5000));
    const first = await sealed(plain);
    assert.is(pool.threadsReady, 0, 'a worker takes tens of milliseconds to load');
    assert.equal(Buffer.from(await pool.open(first.id, first.object, plain.length)), plain);
    assert.ok(first.object.byteLength > 0, 'opened here: its buffer was not transferred');
    await until('the opener loaded', () => pool.threadsReady === 1, 30_000);
    const second = await sealed(plain);
    assert.equal(Buffer.from(await pool.open(second.id, second.object, plain.length)), plain);
    assert.is(second.object.byteLength, 0, 'opened by the worker: its buffer went over');
  } finally {
    await pool.close();
  }
});

test('handOver transfers a buffer the caller owns and copies a small (possibly pooled) one', () => {
  const big = new Uint8Array(new ArrayBuffer(64 * 1024), 100, 1000);
  const h = handOver(big);
  assert.ok(h.data === big.buffer && h.offset === 100);
  const small = Buffer.from('pooled bytes');
  const s = handOver(small);
  assert.ok(s.data !== small.buffer && s.offset === 0);
  assert.equal(Buffer.from(s.data), small);
});

test('a reader whose opener thread is gone opens its chunks on its own thread', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.csv'), sensorLines(30_000));
    const state = await freshState(t.path, [src], 'x86-edge');
    await runBackup(state, { type: 'snapshot' });
    const repo = await openRepo(state);
    try {
      const reader = new ChunkReader(repo.store, repo.catalog, repo.ring);
      const pool = ChunkOpenPool.start(repo.ring, 1);
      await pool.close(); // as if the thread had died
      reader.open = (id, object, lengthMax) => pool.open(id, object, lengthMax);
      const file = (await repo.catalog.getFile(join(src, 'a.csv')))!;
      const parts = [];
      for (const c of file.chunks) parts.push(Buffer.from(await reader.read(c.id)));
      assert.equal(Buffer.concat(parts), readFileSync(join(src, 'a.csv')));
    } finally {
      await repo.close();
    }
  } finally {
    t.cleanup();
  }
});

test('a restore on a profile with worker threads opens its chunks in them and comes back byte-identical', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'logs'), { recursive: true });
    writeFileSync(join(src, 'logs', 'a.csv'), sensorLines(60_000));
    writeFileSync(join(src, 'blob.bin'), pseudoRandom(900_000, 9));
    const state = await freshState(t.path, [src], 'x86-edge');
    assert.ok(state.profile.storeWorker, 'the profile allows worker threads');
    await runBackup(state, { type: 'snapshot' });
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    assertSameTree(snapshotTree(join(t.path, 'r', src)), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test.run();
