// check: structure and --read-data find missing and corrupt shards; --repair rebuilds them (RS);
// too few shards is reported unrecoverable. forget --prune deletes only unreferenced chunks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../../agent/backup/run.ts';
import { openRepo } from '../../../agent/backup/open.ts';
import { runCheck, checkExitCode } from '../../../agent/check/index.ts';
import { ChunkOpenPool } from '../../../agent/chunks/open-pool.ts';
import { forgetSnapshots, prune } from '../../../agent/retention/index.ts';
import { runRestore } from '../../../agent/restore/index.ts';
import type { AgentState } from '../../../agent/config/index.ts';
import { freshState, pseudoRandom, sensorLines, tempDir } from './_helpers.ts';

/** Where the store keeps a shard (found by name, whatever the store's fan-out layout). */
function shardPath(state: AgentState, id: string): string {
  const walk = (dir: string): string | undefined => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        const found = walk(p);
        if (found) return found;
      } else if (e.name === id) return p;
    }
    return undefined;
  };
  const found = walk(join(state.paths.shards, 'committed'));
  assert.ok(found, `shard ${id} is on disk`);
  return found!;
}

async function setup(root: string): Promise<AgentState> {
  const src = join(root, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.csv'), sensorLines(30_000));
  writeFileSync(join(src, 'b.bin'), pseudoRandom(400_000, 9));
  const state = await freshState(root, [src]);
  await runBackup(state, { type: 'snapshot' });
  return state;
}

/** `openers`: open the chunks on an opener thread, or hand them to one that is gone (as if it had died). */
async function check(state: AgentState, readData: boolean, repair: boolean, openers?: 'thread' | 'dead') {
  const repo = await openRepo(state);
  const pool = openers ? ChunkOpenPool.start(repo.ring, 1) : undefined;
  try {
    if (openers === 'dead') await pool!.close();
    return await runCheck(repo.catalog, repo.store, repo.ring, { readData, repair, ...(pool ? { open: (id, object, lengthMax) => pool.open(id, object, lengthMax) } : {}) });
  } finally {
    await pool?.close();
    await repo.close();
  }
}

async function someChunks(state: AgentState, n: number) {
  const repo = await openRepo(state);
  try {
    return await repo.catalog.chunkPage('', n);
  } finally {
    await repo.close();
  }
}

test('a clean store checks clean, with and without --read-data, on opener threads and without', async () => {
  const t = tempDir();
  try {
    const state = await setup(t.path);
    for (const [readData, openers] of [[false], [true], [true, 'thread'], [true, 'dead']] as const) {
      const r = await check(state, readData, false, openers);
      assert.is(checkExitCode(r), 0);
      assert.is(r.issues.length, 0);
      assert.ok(r.chunks > 2);
      assert.is(r.shards, r.chunks * 3);
      if (readData) assert.ok(r.bytesRead >= r.shards, `${openers ?? 'main thread'}: every shard read`);
    }
  } finally {
    t.cleanup();
  }
});

test('missing and corrupt shards are found, repaired from the others, and the data restores', async () => {
  const t = tempDir();
  try {
    const state = await setup(t.path);
    const [c1, c2] = await someChunks(state, 2);
    rmSync(shardPath(state, c1!.shards[0]!.shardId));
    const corrupt = shardPath(state, c2!.shards[2]!.shardId);
    const bytes = readFileSync(corrupt);
    bytes[0] = bytes[0]! ^ 0x55;
    writeFileSync(corrupt, bytes);

    const structure = await check(state, false, false);
    assert.equal(structure.issues.map((i) => i.code), ['SHARD_MISSING'], 'structure sees the missing file only');
    // Chunks with a bad shard are opened on the check's own thread (their shards are needed for the
    // repair), the others on the opener thread.
    const deep = await check(state, true, false, 'thread');
    assert.equal(deep.issues.map((i) => i.code).sort(), ['SHARD_CORRUPT', 'SHARD_MISSING']);
    assert.is(checkExitCode(deep), 1);
    const repaired = await check(state, true, true, 'thread');
    assert.is(repaired.repaired, 2);
    assert.is(checkExitCode(repaired), 0);
    const after = await check(state, true, false);
    assert.is(after.issues.length, 0);
    assert.is(checkExitCode(after), 0);
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    assert.equal(readFileSync(join(t.path, 'r', t.path, 'src', 'b.bin')), pseudoRandom(400_000, 9));
  } finally {
    t.cleanup();
  }
});

test('shards no chunk names are counted as orphans, a page of the listing at a time', async () => {
  const t = tempDir();
  try {
    const state = await setup(t.path);
    const repo = await openRepo(state);
    try {
      const strays = [await repo.store.put(pseudoRandom(1000, 1)), await repo.store.put(pseudoRandom(1000, 2)), await repo.store.put(pseudoRandom(1000, 3))];
      const found: string[] = [];
      for await (const id of repo.catalog.unreferencedOf(repo.store.list(), 2)) found.push(id);
      assert.equal(found.sort(), strays.sort(), 'exactly the strays, across pages of two');
    } finally {
      await repo.close();
    }
    const r = await check(state, false, false);
    assert.is(r.orphanShards, 3);
    assert.equal(r.issues.map((i) => [i.severity, i.code]), [['warning', 'SHARD_ORPHANED']]);
    assert.is(checkExitCode(r), 0, 'orphans are a warning: prune removes them');
  } finally {
    t.cleanup();
  }
});

test('a chunk with fewer than k good shards is unrecoverable (exit 2)', async () => {
  const t = tempDir();
  try {
    const state = await setup(t.path);
    const [c] = await someChunks(state, 1);
    rmSync(shardPath(state, c!.shards[0]!.shardId));
    rmSync(shardPath(state, c!.shards[1]!.shardId));
    const r = await check(state, true, true);
    assert.is(r.unrecoverable, 1);
    assert.ok(r.issues.some((i) => i.code === 'CHUNK_UNRECOVERABLE'));
    assert.is(checkExitCode(r), 2);
  } finally {
    t.cleanup();
  }
});

test('forget + prune deletes the chunks only forgotten snapshots used, and leaves a clean store', async () => {
  const t = tempDir();
  try {
    const state = await setup(t.path);
    const src = join(t.path, 'src');
    writeFileSync(join(src, 'b.bin'), pseudoRandom(400_000, 10)); // replace the blob
    await runBackup(state, { type: 'snapshot' });
    const repo = await openRepo(state);
    try {
      const before = await repo.catalog.chunkStats();
      const f = await forgetSnapshots(repo.catalog, { keepLast: 1 });
      assert.is(f.remove.length, 1);
      const p = await prune(repo.catalog, repo.store, repo.ring);
      assert.ok(p.chunksDeleted >= 1, 'the old blob chunks went');
      const after = await repo.catalog.chunkStats();
      assert.is(after.chunks, before.chunks - p.chunksDeleted);
      let files = 0;
      for await (const _ of repo.store.list()) files++;
      assert.is(files, after.shards, 'every stored shard belongs to a live chunk');
      const r = await runCheck(repo.catalog, repo.store, repo.ring, { readData: true, repair: false });
      assert.is(checkExitCode(r), 0);
    } finally {
      await repo.close();
    }
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    assert.equal(readFileSync(join(t.path, 'r', src, 'b.bin')), pseudoRandom(400_000, 10));
    assert.ok(readdirSync(join(t.path, 'r', src)).includes('a.csv'));
  } finally {
    t.cleanup();
  }
});

test.run();
