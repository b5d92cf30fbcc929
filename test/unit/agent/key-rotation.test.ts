// Scheduled key rotation (DESIGN §8): when it is due, what a backup does about it, and that data sealed
// before and after a rotation restores, compares and dedups as one store.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../../agent/backup/run.ts';
import { openRepo } from '../../../agent/backup/open.ts';
import { ChunkReader } from '../../../agent/chunks/index.ts';
import {
  DEFAULT_KEY_ROTATION_DAYS, keepKeyCurrent, keyRotationDueMs, loadState, readConfig, rotateKey, writeConfig, type AgentState,
} from '../../../agent/config/index.ts';
import { openManifest } from '../../../agent/manifest/index.ts';
import { compareTree, runRestore } from '../../../agent/restore/index.ts';
import { freshState, sensorLines, snapshotTree, tempDir, assertSameTree } from './_helpers.ts';

const DAY_MS = 86_400_000;

test('a rotation is due keyRotationDays (default 90) after the current version began; 0 never', async () => {
  const dir = tempDir();
  try {
    const state = await freshState(dir.path, [dir.path]);
    const c = state.config;
    assert.is(keyRotationDueMs(c), c.createdMs + DEFAULT_KEY_ROTATION_DAYS * DAY_MS);
    assert.is(keyRotationDueMs({ ...c, keyRotatedMs: c.createdMs + 5, keyRotationDays: 7 }), c.createdMs + 5 + 7 * DAY_MS);
    assert.is(keyRotationDueMs({ ...c, keyRotationDays: 0 }), undefined);
    // A version that began in the future (the clock was far ahead then) is due now, not in years.
    assert.is(keyRotationDueMs({ ...c, keyRotatedMs: c.createdMs + 400 * DAY_MS }, c.createdMs + 10 * DAY_MS), c.createdMs + 10 * DAY_MS);
  } finally {
    dir.cleanup();
  }
});

test('before a backup: a version written by `agent rotate-key` is taken, a due rotation is made once, a broken agent.json rotates nothing', async () => {
  const dir = tempDir();
  try {
    const state = await freshState(dir.path, [dir.path]);
    const stateDir = state.paths.root;
    const t0 = state.config.createdMs;
    assert.is(await keepKeyCurrent(state, t0 + DAY_MS), undefined);
    assert.is(state.config.keyVersion, 1);

    // Another process rotated (the daemon loaded its config before): the version is taken, not raised again.
    const { rotation } = await rotateKey(stateDir, t0 + 2 * DAY_MS);
    assert.equal([rotation.from, rotation.to], [1, 2]);
    assert.is(await keepKeyCurrent(state, t0 + 3 * DAY_MS), undefined);
    assert.is(state.config.keyVersion, 2);
    assert.is(state.config.keyRotatedMs, t0 + 2 * DAY_MS);

    // Due 90 days after that rotation: made once, written durably, and the next check does nothing.
    const due = t0 + 2 * DAY_MS + DEFAULT_KEY_ROTATION_DAYS * DAY_MS;
    assert.is(await keepKeyCurrent(state, due - 1), undefined);
    assert.equal(await keepKeyCurrent(state, due), { from: 2, to: 3, atMs: due });
    assert.is(state.config.keyVersion, 3);
    assert.is((await readConfig(stateDir)).keyVersion, 3);
    assert.is((await readConfig(stateDir)).keyRotatedMs, due);
    assert.is(await keepKeyCurrent(state, due + DAY_MS), undefined);

    // A version that began in the future (the clock was far ahead then) is not kept for years.
    await writeConfig(stateDir, { ...(await readConfig(stateDir)), keyRotatedMs: due + 5 * 365 * DAY_MS });
    assert.equal(await keepKeyCurrent(state, due + 2 * DAY_MS), { from: 3, to: 4, atMs: due + 2 * DAY_MS });
    assert.is(await keepKeyCurrent(state, due + 3 * DAY_MS), undefined);

    // agent.json edited into something invalid while a daemon runs: no rotation, no overwrite of the edit.
    writeFileSync(join(stateDir, 'agent.json'), '{"format": 1');
    assert.is(await keepKeyCurrent(state, due + 1000 * DAY_MS), undefined);
    assert.is(state.config.keyVersion, 4);
  } finally {
    dir.cleanup();
  }
});

/** The key version in the seal of chunk `id` (data shard 0 starts with the chunk header, then the version). */
async function sealVersionOf(state: AgentState, id: string): Promise<number> {
  const repo = await openRepo(state);
  try {
    const reader = new ChunkReader(repo.store, repo.catalog, repo.ring);
    const { shards } = await reader.fetchShards(await reader.record(id));
    return Buffer.from(shards[0]!).readUInt32BE(2);
  } finally {
    await repo.close();
  }
}

test('across a scheduled rotation: new chunks sealed with the new version, old ones kept and deduped, grown logs not re-read, every snapshot restores', async () => {
  const dir = tempDir();
  try {
    const src = join(dir.path, 'src');
    mkdirSync(src);
    const log = join(src, 'line1.csv');
    writeFileSync(log, sensorLines(60_000));
    writeFileSync(join(src, 'same.txt'), 'unchanged\n'.repeat(5000));
    const past = new Date('2026-01-01T00:00:00Z');
    for (const p of [log, join(src, 'same.txt')]) utimesSync(p, past, past);
    const state = await freshState(dir.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.is(first.keyRotation, undefined);
    const before = snapshotTree(src);

    // 91 days later (the clock is the config's: the rotation is dated back instead).
    await writeConfig(state.paths.root, { ...state.config, keyRotatedMs: Date.now() - 91 * DAY_MS });
    appendFileSync(log, sensorLines(2_000, 60_000));
    writeFileSync(join(src, 'new.txt'), 'written after the rotation\n'.repeat(3000));
    // The same content as an old file: deduped against the chunk sealed with version 1.
    writeFileSync(join(src, 'copy.txt'), 'unchanged\n'.repeat(5000));
    const later = new Date('2026-01-02T00:00:00Z');
    for (const p of [log, join(src, 'new.txt'), join(src, 'copy.txt')]) utimesSync(p, later, later);
    const second = await runBackup(state, { type: 'snapshot' });
    assert.is(second.keyRotation?.from, 1);
    assert.is(second.keyRotation?.to, 2);
    assert.is(state.config.keyVersion, 2);
    assert.is(second.counters.filesAppended, 1, 'the grown log is checked against its old chunk ids and read from its end');
    assert.ok(second.counters.bytesRead < 200_000, `read ${second.counters.bytesRead} bytes`);

    const repo = await openRepo(state);
    const rows = await repo.catalog.getFiles([join(src, 'new.txt'), join(src, 'copy.txt'), join(src, 'same.txt'), log]);
    await repo.close();
    assert.is(await sealVersionOf(state, rows.get(join(src, 'new.txt'))!.chunks[0]!.id), 2);
    assert.is(rows.get(join(src, 'copy.txt'))!.chunks[0]!.id, rows.get(join(src, 'same.txt'))!.chunks[0]!.id);
    assert.is(await sealVersionOf(state, rows.get(join(src, 'same.txt'))!.chunks[0]!.id), 1);
    assert.is(await sealVersionOf(state, rows.get(log)!.chunks[0]!.id), 1);
    assert.is(await sealVersionOf(state, rows.get(log)!.chunks.at(-1)!.id), 2);

    // Both snapshots restore byte-identical, and compare finds the live tree the same as the latest.
    await runRestore(state, first.snapshot.id, { target: join(dir.path, 'r1') });
    assertSameTree(snapshotTree(join(dir.path, 'r1', src)), before);
    await runRestore(state, 'latest', { target: join(dir.path, 'r2') });
    assertSameTree(snapshotTree(join(dir.path, 'r2', src)), snapshotTree(src));
    const repo2 = await openRepo(state);
    try {
      const reader = new ChunkReader(repo2.store, repo2.catalog, repo2.ring);
      const snapshot = await repo2.catalog.findSnapshot('latest');
      const manifest = await openManifest(reader, snapshot.rootChunks);
      const result = await compareTree(manifest.entries, repo2.ring, reader, { root: '/' });
      assert.is(result.differences.length, 0, JSON.stringify(result.differences.slice(0, 3)));
    } finally {
      await repo2.close();
    }

    // An older copy of agent.json (version 1, as kept for a replacement machine) still restores what
    // version 2 sealed: the root key derives it, here and in the opener threads' stead.
    await writeConfig(state.paths.root, { ...state.config, keyVersion: 1 });
    await runRestore(await loadState(state.paths.root), 'latest', { target: join(dir.path, 'r3') });
    assertSameTree(snapshotTree(join(dir.path, 'r3', src)), snapshotTree(src));
  } finally {
    dir.cleanup();
  }
});

test.run();
