// Backup → restore byte-identical (content, modes, mtimes), dedup across files, incremental reads
// (unchanged files not read, grown logs read from their last chunk), small files kept in the manifest,
// subtree restore and compare.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, chmodSync, closeSync, ftruncateSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { edgeProfile, filesInFlightFor, runBackup } from '../../../agent/backup/run.ts';
import { builtinProfileNames, loadProfile } from '../../../agent/profile/index.ts';
import { EDGE_CHUNK_BYTES_PER_SHARD_MAX } from '../../../agent/edge/backend.ts';
import { edgeGeometry } from '../../../shared/placement/index.ts';
import { quorumSize } from '../../../shared/ledger/quorum.ts';
import { HEAD_BYTES, TAIL_BYTES } from '../../../agent/backup/file-reader.ts';
import { runCheck } from '../../../agent/check/index.ts';
import { INLINE_BYTES_MAX } from '../../../agent/manifest/model.ts';
import { runRestore, compareTree, isoNs, tempBeside, utimesTimeOf } from '../../../agent/restore/index.ts';
import { openRepo } from '../../../agent/backup/open.ts';
import { ChunkReader } from '../../../agent/chunks/index.ts';
import { openManifest } from '../../../agent/manifest/index.ts';
import type { AgentState } from '../../../agent/config/index.ts';
import type { BaksaError } from '../../../shared/errors.ts';
import { freshState, pseudoRandom, sensorLines, snapshotTree, tempDir, assertSameTree } from './_helpers.ts';

function buildSource(src: string): void {
  mkdirSync(join(src, 'logs', 'line1'), { recursive: true });
  mkdirSync(join(src, 'blobs'));
  writeFileSync(join(src, 'logs', 'line1', 'sensor-a.csv'), sensorLines(40_000, 0, 'a'));
  writeFileSync(join(src, 'logs', 'line1', 'sensor-b.csv'), sensorLines(25_000, 0, 'b'));
  writeFileSync(join(src, 'blobs', 'image.bin'), pseudoRandom(700_000, 5));
  writeFileSync(join(src, 'blobs', 'image-copy.bin'), pseudoRandom(700_000, 5));
  writeFileSync(join(src, 'empty.txt'), '');
  writeFileSync(join(src, 'secret.key'), 'k');
  chmodSync(join(src, 'secret.key'), 0o600);
  chmodSync(join(src, 'blobs'), 0o750);
  symlinkSync('logs/line1/sensor-a.csv', join(src, 'latest.csv'));
  const t = new Date('2026-01-02T03:04:05.678Z');
  for (const p of ['logs/line1/sensor-a.csv', 'logs/line1/sensor-b.csv', 'blobs/image.bin', 'empty.txt']) utimesSync(join(src, p), t, t);
  utimesSync(join(src, 'logs', 'line1'), t, t);
}

/** Gives a just-written file an mtime in the past, as a log would have by backup time (no racy re-read). */
function settle(path: string, n = 1): void {
  const t = new Date(Date.parse('2026-02-01T00:00:00Z') + n * 1000);
  utimesSync(path, t, t);
}

/** The catalog's row of `path`. */
async function catalogFile(state: AgentState, path: string) {
  const repo = await openRepo(state);
  try {
    return (await repo.catalog.getFile(path))!;
  } finally {
    await repo.close();
  }
}

async function restoredTree(state: AgentState, target: string, src: string, ref = 'latest', path?: string) {
  await runRestore(state, ref, { target, ...(path ? { path } : {}) });
  return snapshotTree(join(target, src));
}

async function compare(state: AgentState, root: string) {
  const repo = await openRepo(state);
  try {
    const snap = await repo.catalog.findSnapshot('latest');
    const reader = new ChunkReader(repo.store, repo.catalog, repo.ring);
    const m = await openManifest(reader, snap.rootChunks);
    return await compareTree(m.entries, repo.ring, reader, { root });
  } finally {
    await repo.close();
  }
}

test('backup then restore gives a byte-identical tree with modes and mtimes; dedup across files', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const state = await freshState(t.path, [src]);
    const s1 = await runBackup(state, { type: 'snapshot' });
    assert.is(s1.snapshot.fileCount, 6);
    assert.is(s1.counters.filesRead, 6);
    // The copy of image.bin added no new chunk bytes.
    const total = 700_000 * 2 + Buffer.byteLength(sensorLines(40_000, 0, 'a')) + Buffer.byteLength(sensorLines(25_000, 0, 'b')) + 1;
    assert.is(s1.snapshot.bytes, total);
    assert.ok(s1.counters.bytesNew <= total - 700_000 + 4096, `dedup: ${s1.counters.bytesNew} new of ${total}`);
    const restored = await restoredTree(state, join(t.path, 'restore'), src);
    assertSameTree(restored, snapshotTree(src));
    assert.is((await compare(state, join(t.path, 'restore'))).differences.length, 0);
    assert.is((await compare(state, '/')).differences.length, 0, 'the live source matches too');
  } finally {
    t.cleanup();
  }
});

test('a profile that reads several files at once keeps scan order, dedup across files and per-file read errors', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'a'), { recursive: true });
    mkdirSync(join(src, 'b'), { recursive: true });
    const shared = pseudoRandom(600_000, 5);
    for (let i = 0; i < 12; i++) {
      const dir = i % 2 === 0 ? 'a' : 'b';
      // Sizes from a few bytes to a few chunks, so files finish out of the order they started in.
      const body = i % 3 === 0 ? shared : Buffer.from(sensorLines(200 + ((i * 7919) % 40) * 500, i * 100_000, `s${i}`));
      writeFileSync(join(src, dir, `f${String(i).padStart(2, '0')}.log`), body);
      settle(join(src, dir, `f${String(i).padStart(2, '0')}.log`), i + 1);
    }
    const state = await freshState(t.path, [src], 'x86-edge');
    assert.is(filesInFlightFor(state.profile) > 1, true, 'x86-edge reads files side by side');
    const unreadable = join(src, 'b', 'f05.log');
    const s1 = await runBackup(state, { type: 'snapshot', faults: { readError: /f05\.log$/ } });
    assert.is(s1.counters.filesRead, 11);
    assert.is(s1.counters.filesSkipped, 1);
    assert.equal(s1.problems.map((p) => p.path), [unreadable]);
    // The four copies of `shared` were read side by side; their chunks were stored once.
    assert.ok(s1.counters.bytesNew < s1.snapshot.bytes - 2 * shared.length, `dedup: ${s1.counters.bytesNew} new of ${s1.snapshot.bytes}`);
    const repo = await openRepo(state);
    try {
      const snap = await repo.catalog.findSnapshot('latest');
      const m = await openManifest(new ChunkReader(repo.store, repo.catalog, repo.ring), snap.rootChunks);
      const paths: string[] = [];
      for await (const e of m.entries) paths.push(e.path);
      const files = paths.filter((p) => p.endsWith('.log'));
      assert.equal(files, [...files].sort(), 'the manifest lists files in scan order');
      assert.not.ok(paths.includes(unreadable));
      assert.is(files.length, 11);
    } finally {
      await repo.close();
    }
    const restored = await restoredTree(state, join(t.path, 'r'), src);
    const expected = snapshotTree(src);
    expected.delete('b/f05.log');
    assertSameTree(restored, expected);
  } finally {
    t.cleanup();
  }
});

test('incremental over more files than one catalog lookup: each file is matched with its own row', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'many'), { recursive: true });
    for (let i = 0; i < 600; i++) writeFileSync(join(src, 'many', `f${String(i).padStart(3, '0')}.log`), `reading ${i}\n`);
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.is(first.counters.filesRead, 600);
    const again = await runBackup(state, { type: 'snapshot' });
    assert.equal([again.counters.filesUnchanged, again.counters.filesRead, again.counters.bytesRead], [600, 0, 0]);
    // One file changed in each lookup batch's range: exactly those are read.
    for (const i of [5, 300, 599]) {
      const path = join(src, 'many', `f${String(i).padStart(3, '0')}.log`);
      writeFileSync(path, `changed ${i}\n`);
      settle(path, 1);
    }
    const third = await runBackup(state, { type: 'snapshot' });
    assert.equal([third.counters.filesUnchanged, third.counters.filesRead], [597, 3]);
    assertSameTree(await restoredTree(state, join(t.path, 'r'), src), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test('incremental: unchanged files are not read, a grown log is read at both ends of its old content and its new bytes only', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const log = join(src, 'logs', 'line1', 'sensor-a.csv');
    writeFileSync(log, sensorLines(150_000, 0, 'a')); // several chunks: a first, middles and a last
    settle(log, 0);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const again = await runBackup(state, { type: 'snapshot' });
    assert.is(again.counters.bytesRead, 0);
    assert.is(again.counters.filesUnchanged, 6);

    const oldSize = readFileSync(log).length;
    const tail = sensorLines(3000, 150_000, 'a');
    appendFileSync(log, tail);
    settle(log);
    const before = await catalogFile(state, log);
    const lastChunk = before.chunks.at(-1)!.length;
    const firstChunk = before.chunks[0]!.length;
    assert.ok(before.chunks.length > 3, 'the fixture has a first, middle and last chunks');
    const inc = await runBackup(state, { type: 'snapshot' });
    assert.is(inc.counters.filesAppended, 1);
    assert.is(inc.counters.filesRead, 1);
    assert.ok(before.head !== undefined && before.tail !== undefined && firstChunk > HEAD_BYTES && lastChunk > TAIL_BYTES, 'the keyed hashes of both ends were recorded');
    assert.is(inc.counters.bytesRead, HEAD_BYTES + TAIL_BYTES + Buffer.byteLength(tail), 'only both ends of the old content and the new bytes are read');
    // The grown file's chunks: every old one is kept (its last is at least the chunker's minimum), and
    // only the new bytes are chunked after them.
    assert.ok(lastChunk >= state.profile.chunking.minBytes, 'the fixture ends in a chunk of at least the minimum');
    const after = await catalogFile(state, log);
    assert.equal(after.chunks.slice(0, before.chunks.length), before.chunks);
    assert.is(after.chunks.slice(before.chunks.length).reduce((a, c) => a + c.length, 0), Buffer.byteLength(tail));
    assert.is.not(after.tail, before.tail, 'the tail moved with the end of the file');
    assertSameTree(await restoredTree(state, join(t.path, 'r2'), src), snapshotTree(src));

    // A change in the middle (same size) re-reads the whole file.
    const bytes = readFileSync(log);
    bytes[100] = bytes[100] === 0x31 ? 0x32 : 0x31;
    writeFileSync(log, bytes);
    settle(log, 2);
    const full = await runBackup(state, { type: 'snapshot' });
    assert.is(full.counters.filesAppended, 0);
    assert.is(full.counters.bytesRead, bytes.length);
    assertSameTree(await restoredTree(state, join(t.path, 'r3'), src), snapshotTree(src));

    // A file rewritten in place as it grew (its header changed, its end did not) is read whole, as
    // SQLite's database file is when it grows: not taken for a grown log.
    const grown = readFileSync(log);
    grown.write('HEADER', 0);
    writeFileSync(log, Buffer.concat([grown, Buffer.from(sensorLines(500, 160_000, 'a'))]));
    settle(log, 4);
    const rewritten = await runBackup(state, { type: 'snapshot' });
    assert.is(rewritten.counters.filesAppended, 0);
    assert.is(rewritten.counters.bytesRead, TAIL_BYTES + HEAD_BYTES + readFileSync(log).length, 'both ends of the old content checked, then all of it read');
    assertSameTree(await restoredTree(state, join(t.path, 'r5'), src), snapshotTree(src));

    // A trailer rewritten as the file grew (its last old bytes changed, as a zip's central directory
    // moves) is read whole too, without reading the start.
    const trailed = readFileSync(log);
    trailed.write('TRAILER', trailed.length - 100);
    writeFileSync(log, Buffer.concat([trailed, Buffer.from(sensorLines(400, 165_000, 'a'))]));
    settle(log, 6);
    const moved = await runBackup(state, { type: 'snapshot' });
    assert.is(moved.counters.filesAppended, 0);
    assert.is(moved.counters.bytesRead, TAIL_BYTES + readFileSync(log).length);
    assertSameTree(await restoredTree(state, join(t.path, 'r7'), src), snapshotTree(src));

    // A row from before tails were kept: the old last chunk is checked by its id instead, and the tail
    // recorded. One from before heads were kept as well: the first chunk is checked too.
    for (const [i, columns] of (['tail', 'head, tail'] as const).entries()) {
      const repo = await openRepo(state);
      await repo.catalog.db.run(`UPDATE files SET ${columns.split(', ').map((c) => `${c} = NULL`).join(', ')} WHERE path = ?`, [log]);
      await repo.close();
      const legacy = await catalogFile(state, log);
      assert.is(legacy.tail, undefined);
      const more = sensorLines(100, 170_000 + i * 1000, 'a');
      appendFileSync(log, more);
      settle(log, 7 + i);
      const upgraded = await runBackup(state, { type: 'snapshot' });
      assert.is(upgraded.counters.filesAppended, 1);
      const start = legacy.head !== undefined ? HEAD_BYTES : legacy.chunks[0]!.length;
      assert.is(upgraded.counters.bytesRead, start + legacy.chunks.at(-1)!.length + Buffer.byteLength(more), columns);
      const recorded = await catalogFile(state, log);
      assert.ok(recorded.head !== undefined && recorded.tail !== undefined, 'both ends are recorded again');
      assertSameTree(await restoredTree(state, join(t.path, `r6-${i}`), src), snapshotTree(src));
    }

    // A grown file whose last chunk is shorter than the minimum is chunked again with its new bytes.
    const short = join(src, 'short.log');
    const shortStart = sensorLines(300, 0, 's');
    writeFileSync(short, shortStart);
    settle(short, 3);
    await runBackup(state, { type: 'snapshot' });
    appendFileSync(short, 'more\n');
    settle(short, 4);
    const small = await runBackup(state, { type: 'snapshot' });
    assert.is(small.counters.filesAppended, 1);
    assert.is(small.counters.bytesRead, shortStart.length + 'more\n'.length, 'the old chunk, read once to check it and chunk it with the new bytes');
    assert.equal((await catalogFile(state, short)).chunks.map((c) => c.length), [shortStart.length + 'more\n'.length]);
    // A small file lives in the manifest: grown, it is read whole again (no chunk to check).
    const key = join(src, 'secret.key');
    appendFileSync(key, 'ey material');
    settle(key, 5);
    const inline = await runBackup(state, { type: 'snapshot' });
    assert.is(inline.counters.filesAppended, 0);
    assert.is(inline.counters.bytesRead, 'key material'.length);
    const keyState = await catalogFile(state, key);
    assert.equal(keyState.chunks, []);
    assert.is(Buffer.from(keyState.inline!).toString(), 'key material');
    assertSameTree(await restoredTree(state, join(t.path, 'r4'), src), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test('force reads every file whole: a change that kept size, mtime and inode is found only so', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const log = join(src, 'logs', 'line1', 'sensor-b.csv');
    const before = statSync(log);
    const bytes = readFileSync(log);
    bytes[5000] = bytes[5000] === 0x30 ? 0x31 : 0x30; // same size
    writeFileSync(log, bytes);
    utimesSync(log, before.atime, before.mtime); // and the old mtime, as a careless tool leaves it
    const quick = await runBackup(state, { type: 'snapshot' });
    assert.is(quick.counters.bytesRead, 0, 'an ordinary run trusts size, mtime and inode');
    const forced = await runBackup(state, { type: 'snapshot', force: true });
    assert.is(forced.counters.filesUnchanged, 0);
    assert.is(forced.counters.filesAppended, 0);
    assert.is(forced.counters.bytesRead, forced.counters.bytesScanned, 'every byte of every file read');
    assert.is(forced.counters.chunksNew > 0, true, 'the changed chunk is stored');
    assertSameTree(await restoredTree(state, join(t.path, 'r'), src), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test('lazy mode: a file changed within the settle time keeps its previous version; an unchanged tree commits nothing', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const stillFile = join(src, 'still.csv');
    const hot = join(src, 'hot.csv');
    // Larger than a small file (manifest/model.ts INLINE_BYTES_MAX), so the grown one is an append.
    writeFileSync(stillFile, sensorLines(400));
    writeFileSync(hot, sensorLines(400, 0, 'h'));
    settle(stillFile);
    settle(hot);
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'lazy', settleS: 60, skipUnchanged: true });
    assert.is(first.snapshot.fileCount, 2);
    const v1 = readFileSync(hot);
    appendFileSync(hot, sensorLines(10, 400, 'h')); // mtime now: not settled
    const second = await runBackup(state, { type: 'lazy', settleS: 60, skipUnchanged: true });
    assert.is(second.counters.filesPending, 1);
    assert.is(second.counters.bytesRead, 0);
    assert.ok(second.unchanged, 'the tree is the same as before: nothing committed');
    assert.is(second.snapshot.id, first.snapshot.id);
    settle(hot, 3); // now it has been still long enough
    const third = await runBackup(state, { type: 'lazy', settleS: 60, skipUnchanged: true });
    assert.not.ok(third.unchanged);
    assert.is(third.counters.filesAppended, 1);
    assert.is(third.snapshot.type, 'lazy');
    await runRestore(state, first.snapshot.id, { target: join(t.path, 'r1') });
    assert.equal(readFileSync(join(t.path, 'r1', hot)), v1);
    await runRestore(state, 'latest', { target: join(t.path, 'r3') });
    assert.equal(readFileSync(join(t.path, 'r3', hot)), readFileSync(hot));
  } finally {
    t.cleanup();
  }
});

test('lazy mode: a file that never settles is taken once it has waited maxWaitS, then waits afresh', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const live = join(src, 'live.csv');
    writeFileSync(live, sensorLines(400));
    const state = await freshState(t.path, [src]);
    const pendingSince = new Map<string, number>();
    const lazy = () => runBackup(state, { type: 'lazy', settleS: 3600, maxWaitS: 0.2, pendingSince, skipUnchanged: true });
    const first = await lazy();
    assert.is(first.counters.filesPending, 1, 'written just now: not settled');
    assert.ok(pendingSince.has(live), 'its wait has begun');
    await new Promise((r) => setTimeout(r, 250));
    appendFileSync(live, sensorLines(5, 400)); // still being written
    const second = await lazy();
    assert.is(second.counters.filesPending, 0);
    assert.is(second.counters.filesRead, 1, 'taken: it waited long enough');
    assert.not.ok(pendingSince.has(live), 'taken: its wait starts again the next time it is found changing');
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    assert.equal(readFileSync(join(t.path, 'r', live)), readFileSync(live));
    appendFileSync(live, sensorLines(5, 405));
    const third = await lazy();
    assert.is(third.counters.filesPending, 1, 'a fresh wait');
    const none = await runBackup(state, { type: 'lazy', settleS: 3600, skipUnchanged: true });
    assert.is(none.counters.filesPending, 1, 'without maxWaitS an unsettled file waits for good');
  } finally {
    t.cleanup();
  }
});

test('restore --path: one file or one subtree; older snapshots stay restorable', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    const firstContent = readFileSync(join(src, 'logs', 'line1', 'sensor-b.csv'));
    appendFileSync(join(src, 'logs', 'line1', 'sensor-b.csv'), sensorLines(10, 99_000, 'b'));
    await runBackup(state, { type: 'snapshot' });
    const one = join(t.path, 'one');
    await runRestore(state, first.snapshot.id.slice(0, 8), { target: one, path: join(src, 'logs', 'line1', 'sensor-b.csv') });
    assert.equal(readFileSync(join(one, src, 'logs', 'line1', 'sensor-b.csv')), firstContent);
    const sub = join(t.path, 'sub');
    const tree = await restoredTree(state, sub, join(src, 'blobs'), 'latest', join(src, 'blobs'));
    assert.equal([...tree.keys()].sort(), ['image-copy.bin', 'image.bin']);
    await runRestore(state, 'latest', { target: sub, path: join(src, 'nope') }).then(
      () => assert.unreachable('restored a path that is not there'),
      (e: { code?: string }) => assert.is(e.code, 'PATH_NOT_IN_SNAPSHOT'),
    );
    // A relative path is taken from the root; one that ends a path of the snapshot is suggested.
    await runRestore(state, 'latest', { target: sub, path: 'line1/sensor-b.csv' }).then(
      () => assert.unreachable('restored a relative path as if it were below a source'),
      (e: { code?: string; hint?: string }) => {
        assert.is(e.code, 'PATH_NOT_IN_SNAPSHOT');
        assert.ok(e.hint?.includes(`--path ${join(src, 'logs', 'line1', 'sensor-b.csv')}`), e.hint);
      },
    );
  } finally {
    t.cleanup();
  }
});

test('restore over a target with something in the way: the rest is restored, then RESTORE_CONFLICT names what was not', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const target = join(t.path, 'target');
    // A directory where a file goes, and a file where a directory goes.
    mkdirSync(join(target, src, 'blobs', 'image.bin'), { recursive: true });
    mkdirSync(join(target, src), { recursive: true });
    writeFileSync(join(target, src, 'logs'), 'not a directory');
    await runRestore(state, 'latest', { target }).then(
      () => assert.unreachable('restored over what was in the way'),
      (e: { code?: string; details?: { count: number; conflicts: Array<{ path: string }> } }) => {
        assert.is(e.code, 'RESTORE_CONFLICT');
        // logs, logs/line1, its two files, and blobs/image.bin.
        assert.is(e.details?.count, 5);
        assert.ok(e.details!.conflicts.some((c) => c.path === join(src, 'blobs', 'image.bin')));
      },
    );
    // Everything else came back byte-identical; what was in the way is untouched.
    assert.equal(readFileSync(join(target, src, 'blobs', 'image-copy.bin')), readFileSync(join(src, 'blobs', 'image-copy.bin')));
    assert.equal(readFileSync(join(target, src, 'secret.key')), readFileSync(join(src, 'secret.key')));
    assert.ok(statSync(join(target, src, 'blobs', 'image.bin')).isDirectory());
    assert.is(readFileSync(join(target, src, 'logs'), 'utf8'), 'not a directory');

    // A symlink where a directory goes is not written through: what is below stays out of its target.
    const outside = join(t.path, 'outside');
    mkdirSync(outside);
    const target2 = join(t.path, 'target2');
    mkdirSync(join(target2, src), { recursive: true });
    symlinkSync(outside, join(target2, src, 'logs'));
    await runRestore(state, 'latest', { target: target2 }).then(
      () => assert.unreachable('restored through a symlink'),
      (e: { code?: string; details?: { count: number } }) => {
        assert.is(e.code, 'RESTORE_CONFLICT');
        assert.is(e.details?.count, 4, 'logs, logs/line1 and its two files');
      },
    );
    assert.equal(readdirSync(outside), [], 'nothing written outside the target');
    assert.equal(readFileSync(join(target2, src, 'blobs', 'image.bin')), readFileSync(join(src, 'blobs', 'image.bin')));
  } finally {
    t.cleanup();
  }
});

test('small files live in the manifest: no chunks, read once, restored (beside each other) and compared byte for byte', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    const stamp = new Date('2026-03-04T05:06:07.891Z');
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 50; f++) {
        const path = join(src, `d${d}`, `r${f}.json`);
        writeFileSync(path, `{"t":${d * 1000 + f},"v":${(f * 0.37).toFixed(2)}}\n`);
        chmodSync(path, f % 2 === 0 ? 0o640 : 0o604);
        utimesSync(path, stamp, stamp);
      }
    }
    // Modes the umask would cut, one without owner write, one with set-id bits: each restored exact.
    for (const [name, mode] of [['open.cfg', 0o666], ['ro.cfg', 0o444], ['suid.sh', 0o4755]] as const) {
      writeFileSync(join(src, 'd0', name), `${name}\n`);
      chmodSync(join(src, 'd0', name), mode);
      utimesSync(join(src, 'd0', name), stamp, stamp);
    }
    const edge = Buffer.from(pseudoRandom(INLINE_BYTES_MAX, 9)); // the largest kept inline
    writeFileSync(join(src, 'edge.bin'), edge);
    writeFileSync(join(src, 'over.bin'), pseudoRandom(INLINE_BYTES_MAX + 1, 9)); // the smallest chunked
    settle(join(src, 'edge.bin'));
    settle(join(src, 'over.bin'));
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.is(first.snapshot.fileCount, 205);
    assert.is(first.counters.filesRead, 205);
    const repo = await openRepo(state);
    try {
      // over.bin's chunk and the manifest's own: none for the 201 small files.
      assert.is((await repo.catalog.chunkStats()).chunks, 1 + first.snapshot.rootChunks.length);
      const m = await openManifest(new ChunkReader(repo.store, repo.catalog, repo.ring), first.snapshot.rootChunks);
      const files = new Map<string, { inline?: Uint8Array; chunks?: unknown[] }>();
      for await (const e of m.entries) if (e.kind === 'file') files.set(e.path.slice(src.length), e);
      assert.equal(Buffer.from(files.get('/edge.bin')!.inline!), edge);
      assert.is(files.get('/edge.bin')!.chunks, undefined);
      assert.is(files.get('/over.bin')!.inline, undefined);
      assert.is(files.get('/over.bin')!.chunks!.length, 1);
      const report = await runCheck(repo.catalog, repo.store, repo.ring, { readData: true, repair: false });
      assert.equal(report.issues, []);
    } finally {
      await repo.close();
    }
    // Unchanged small files are not read again; their bytes come from the catalog.
    const again = await runBackup(state, { type: 'snapshot' });
    assert.is(again.counters.bytesRead, 0);
    assert.is(again.counters.filesUnchanged, 205);
    const changed = join(src, 'd2', 'r7.json');
    writeFileSync(changed, '{"t":2007,"v":9.99}\n');
    settle(changed, 2);
    const third = await runBackup(state, { type: 'snapshot' });
    assert.is(third.counters.filesRead, 1);
    assert.is(third.counters.bytesRead, statSync(changed).size);

    // Restored byte-identical with modes and mtimes, the first snapshot's version too; a directory in
    // the way of one file is a conflict, and the rest is restored.
    assertSameTree(await restoredTree(state, join(t.path, 'r1'), src), snapshotTree(src));
    // Their bytes count against the restore's memory budget: one smaller than a file still gets through.
    const tight = join(t.path, 'tight');
    await runRestore(state, 'latest', { target: tight, memoryBudgetBytes: 1024 });
    assertSameTree(snapshotTree(join(tight, src)), snapshotTree(src));
    const old = join(t.path, 'r0');
    await runRestore(state, first.snapshot.id, { target: old });
    assert.is(readFileSync(join(old, changed), 'utf8'), '{"t":2007,"v":2.59}\n');
    const target = join(t.path, 'r2');
    mkdirSync(join(target, src, 'd1', 'r3.json'), { recursive: true });
    await runRestore(state, 'latest', { target }).then(
      () => assert.unreachable('restored over a directory'),
      (e: { code?: string; details?: { count: number; files: number } }) => {
        assert.is(e.code, 'RESTORE_CONFLICT');
        assert.is(e.details?.count, 1);
        assert.is(e.details?.files, 204);
      },
    );
    assert.equal(readFileSync(join(target, src, 'd3', 'r49.json')), readFileSync(join(src, 'd3', 'r49.json')));

    // compare checks a small file's bytes against the manifest's: a change of the same size and mtime is found.
    const r1 = join(t.path, 'r1');
    assert.equal((await compare(state, r1)).differences, []);
    const restored = join(r1, src, 'd0', 'r1.json');
    const before = statSync(restored);
    writeFileSync(restored, readFileSync(restored, 'utf8').replace('"t":1', '"t":9'));
    utimesSync(restored, before.atime, before.mtime);
    assert.equal((await compare(state, r1)).differences.map((d) => `${d.what}:${d.path.slice(src.length)}`), ['content:/d0/r1.json']);
  } finally {
    t.cleanup();
  }
});

test('a run over thousands of changed small files sets their states aside in the catalog; a stopped run leaves none of them', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const count = 1_200; // 4.8 MB of small files' bytes: past what a run holds before it stages them
    for (let i = 0; i < count; i++) {
      const path = join(src, `f${i}.bin`);
      writeFileSync(path, pseudoRandom(INLINE_BYTES_MAX - 96, 1000 + i));
      settle(path);
    }
    const state = await freshState(t.path, [src]);
    const stop = new AbortController();
    await runBackup(state, {
      type: 'snapshot',
      signal: stop.signal,
      progressIntervalMs: 0,
      listener: (e) => {
        if (e.type === 'progress' && e.counters.filesRead >= count - 50) stop.abort();
      },
    }).then(
      () => assert.unreachable('the run was stopped'),
      (e: { code?: string }) => assert.is(e.code, 'BACKUP_CANCELLED'),
    );
    const staged = async () => {
      const repo = await openRepo(state);
      try {
        return { staged: (await repo.catalog.db.get<{ n: number }>('SELECT count(*) AS n FROM files_staged'))!.n, files: (await repo.catalog.filePaths()).length };
      } finally {
        await repo.close();
      }
    };
    const stopped = await staged();
    assert.ok(stopped.staged > 0, 'states were set aside before the run stopped');
    assert.is(stopped.files, 0, 'and none of them is any snapshot’s');
    // A file set aside by the stopped run, deleted since: the next run does not take its state.
    const gone = join(src, 'f0.bin');
    const repo = await openRepo(state);
    assert.is((await repo.catalog.db.get<{ n: number }>('SELECT count(*) AS n FROM files_staged WHERE path = ?', [gone]))!.n, 1);
    await repo.close();
    rmSync(gone);
    const full = await runBackup(state, { type: 'snapshot' });
    assert.is(full.counters.filesRead, count - 1);
    assert.equal(await staged(), { staged: 0, files: count - 1 });
    const again = await runBackup(state, { type: 'snapshot' });
    assert.is(again.counters.bytesRead, 0, 'every state, staged or not, was committed');
    assertSameTree(await restoredTree(state, join(t.path, 'r'), src), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

/** Every entry below `dir` by its name's bytes (hex path), with its kind, mode and content or target. */
function bytesTree(dir: Buffer, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const p = Buffer.concat([dir, Buffer.from('/'), name]);
    const key = `${prefix}/${name.toString('hex')}`;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.set(key, `link ${readlinkSync(p, { encoding: 'buffer' }).toString('hex')}`);
    else if (st.isDirectory()) {
      out.set(key, `dir ${(st.mode & 0o7777).toString(8)}`);
      for (const [k, v] of bytesTree(p, key)) out.set(k, v);
    } else out.set(key, `file ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${readFileSync(p).toString('hex')}`);
  }
  return out;
}

test('names that are not UTF-8 are backed up, restored and compared by their bytes', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const at = (...parts: string[]) => Buffer.concat([Buffer.from(src), ...parts.map((p) => Buffer.from(`/${p}`, 'latin1'))]);
    mkdirSync(at('Z\xe4hler'));
    writeFileSync(at('Z\xe4hler', 'caf\xe9.csv'), sensorLines(2000)); // chunked
    writeFileSync(at('Z\xe4hler', 'r\xfcck.json'), '{"small":true}\n'); // kept in the manifest
    writeFileSync(at('junk\xff\xfe'), 'bytes that start no UTF-8 sequence');
    writeFileSync(Buffer.from(`${src}/a\uF780b`, 'utf8'), 'a name holding the escape range itself');
    symlinkSync(at('Z\xe4hler', 'caf\xe9.csv'), at('l\xe9nk'));
    for (const p of [at('Z\xe4hler', 'caf\xe9.csv'), at('Z\xe4hler', 'r\xfcck.json'), at('junk\xff\xfe'), Buffer.from(`${src}/a\uF780b`, 'utf8')]) {
      utimesSync(p, new Date('2026-02-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'));
    }
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.equal(first.problems, []);
    assert.is(first.snapshot.fileCount, 4);
    const again = await runBackup(state, { type: 'snapshot' });
    assert.is(again.counters.bytesRead, 0, 'the catalog knows them by their kept names');
    const target = join(t.path, 'r');
    await runRestore(state, 'latest', { target });
    assert.equal(bytesTree(Buffer.concat([Buffer.from(target), Buffer.from(src)])), bytesTree(Buffer.from(src)));
    assert.equal((await compare(state, target)).differences, []);
    writeFileSync(Buffer.concat([Buffer.from(target), at('junk\xff\xfe')]), 'changed, same length of bytes!!!!!');
    const diff = (await compare(state, target)).differences.map((d) => d.what);
    assert.ok(diff.includes('content') || diff.includes('size'), diff.join());
  } finally {
    t.cleanup();
  }
});

test('a FIFO is kept and made again with its mode and time; a socket is passed over; a 250-byte name restores', async () => {
  const t = tempDir();
  const server = createServer();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'run'), { recursive: true });
    execFileSync('mkfifo', ['-m', '640', join(src, 'run', 'sensor.pipe')]);
    utimesSync(join(src, 'run', 'sensor.pipe'), new Date('2026-03-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'));
    const long = 'n'.repeat(250); // NAME_MAX is 255: the restore's temp name may not be this name and more
    writeFileSync(join(src, long), 'long name\n');
    writeFileSync(join(src, `${long.slice(0, 200)}.csv`), sensorLines(3000)); // chunked, written through a temp too
    await new Promise<void>((resolve) => server.listen(join(src, 'run', 'ctl.sock'), resolve));
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.equal(first.problems, [], 'neither the FIFO nor the socket is a read error');
    const target = join(t.path, 'r');
    const restored = await runRestore(state, 'latest', { target });
    assert.is(restored.fifos, 1);
    const expected = snapshotTree(src);
    expected.delete('run/ctl.sock');
    assert.is(expected.get('run/sensor.pipe')?.kind, 'fifo');
    assertSameTree(snapshotTree(join(target, src)), expected);
    assert.equal((await compare(state, target)).differences, []);
    assert.equal(readdirSync(join(target, src)).filter((n) => n.includes('2baksa')), [], 'no temp left behind');
  } finally {
    server.close();
    t.cleanup();
  }
});

test('device nodes are kept with their numbers and made again as root; without mknod the rest restores and exit is 6', async () => {
  if (process.getuid?.() !== 0) return; // making a device node takes root (CI runs as root)
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'layer', 'etc'), { recursive: true });
    // An overlayfs whiteout (a deleted file in a container layer) is a 0:0 character device.
    execFileSync('mknod', ['-m', '000', join(src, 'layer', 'etc', 'motd'), 'c', '0', '0']);
    execFileSync('mknod', ['-m', '666', join(src, 'layer', 'null'), 'c', '1', '3']);
    execFileSync('mknod', ['-m', '660', join(src, 'layer', 'disk'), 'b', '259', '300000']); // a minor past 8 bits
    writeFileSync(join(src, 'layer', 'etc', 'hosts'), '127.0.0.1 localhost\n');
    utimesSync(join(src, 'layer', 'null'), new Date('2026-03-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'));
    const state = await freshState(t.path, [src]);
    const first = await runBackup(state, { type: 'snapshot' });
    assert.equal(first.problems, [], 'a device is no read error');
    const target = join(t.path, 'r');
    const restored = await runRestore(state, 'latest', { target });
    assert.is(restored.devices, 3);
    assert.is(lstatSync(join(target, src, 'layer', 'disk')).rdev, lstatSync(join(src, 'layer', 'disk')).rdev);
    assertSameTree(snapshotTree(join(target, src)), snapshotTree(src));
    assert.equal((await compare(state, target)).differences, []);
    rmSync(join(target, src, 'layer', 'null'));
    execFileSync('mknod', [join(target, src, 'layer', 'null'), 'c', '1', '5']);
    chmodSync(join(target, src, 'layer', 'null'), 0o666);
    assert.equal((await compare(state, target)).differences.map((d) => [d.path, d.what]), [[`${src}/layer/null`, 'device']]);
    // Where mknod cannot run (not root, or not installed), everything else restores and the restore says which were not made.
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await runRestore(state, 'latest', { target: join(t.path, 'r2') });
      assert.unreachable('devices not made go unsaid');
    } catch (error) {
      const e = error as BaksaError;
      assert.is(e.code, 'RESTORE_INCOMPLETE', e.message);
      assert.is(e.exitCode, 6);
      assert.match(e.message, /3 device nodes were not made: .*the mknod command is not installed/);
    } finally {
      process.env.PATH = path;
    }
    assert.is(readFileSync(join(t.path, 'r2', src, 'layer', 'etc', 'hosts'), 'utf8'), '127.0.0.1 localhost\n');
  } finally {
    t.cleanup();
  }
});

test('runs of zeros restore as holes (the same bytes, far less disk); --no-sparse writes them', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const path = join(src, 'lastlog');
    const size = 48 << 20;
    const fd = openSync(path, 'w');
    writeSync(fd, pseudoRandom(100_000, 7), 0, 100_000, 0);
    writeSync(fd, pseudoRandom(100_000, 8), 0, 100_000, 24 << 20); // zeros on both sides of it
    ftruncateSync(fd, size); // and it ends in a hole
    closeSync(fd);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const sparse = join(t.path, 'sparse');
    await runRestore(state, 'latest', { target: sparse });
    assert.equal(readFileSync(join(sparse, path)), readFileSync(path));
    const got = statSync(join(sparse, path));
    assert.is(got.size, size);
    assert.ok(got.blocks * 512 < size / 4, `${got.blocks * 512} bytes allocated for ${size}`);
    const dense = join(t.path, 'dense');
    await runRestore(state, 'latest', { target: dense, sparse: false });
    assert.equal(readFileSync(join(dense, path)), readFileSync(path));
    assert.ok(statSync(join(dense, path)).blocks * 512 >= size, 'every byte written');
    assert.equal((await compare(state, sparse)).differences, []);
  } finally {
    t.cleanup();
  }
});

test("a source holding the agent's state directory leaves it out, all but the MQTT capture directory", async () => {
  const t = tempDir();
  try {
    writeFileSync(join(t.path, 'readings.csv'), sensorLines(500));
    // The source is the parent of the state directory (as `/var/lib` holds /var/lib/2baksa).
    const state = await freshState(t.path, [t.path], 'small-arm', { broker: 'mqtt://127.0.0.1:1', mqttTopics: ['sensors/#'] });
    const capture = join(state.paths.root, state.config.mqtt!.captureDir);
    mkdirSync(capture, { recursive: true });
    writeFileSync(join(capture, 'sensors-1.log'), 'a captured line\n');
    const paths = async () => {
      const repo = await openRepo(state);
      try {
        const snap = await repo.catalog.findSnapshot('latest');
        const m = await openManifest(new ChunkReader(repo.store, repo.catalog, repo.ring), snap.rootChunks);
        const out: string[] = [];
        for await (const e of m.entries) out.push(e.path);
        return out;
      } finally {
        await repo.close();
      }
    };
    await runBackup(state, { type: 'snapshot' });
    const first = await paths();
    assert.ok(first.includes(join(t.path, 'readings.csv')));
    assert.ok(first.includes(join(capture, 'sensors-1.log')), 'the capture directory is a source of its own');
    const own = first.filter((p) => p.startsWith(`${state.paths.root}/`) && !p.startsWith(capture));
    assert.equal(own, [], 'no catalog, key or shard of the agent in its own backup');
    const again = await runBackup(state, { type: 'snapshot' });
    assert.is(again.counters.bytesRead, 0, 'the shards the first backup wrote are not new files to the second');
    assert.equal(await paths(), first);
  } finally {
    t.cleanup();
  }
});

test('hard links restore as links: one file, several names; a name restored alone is a copy', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'big.csv'), sensorLines(3000)); // chunked
    linkSync(join(src, 'big.csv'), join(src, 'sub', 'big-again.csv'));
    writeFileSync(join(src, 'small.json'), '{"kept":"inline"}\n'); // in the manifest
    linkSync(join(src, 'small.json'), join(src, 'small-2.json'));
    linkSync(join(src, 'small.json'), join(src, 'sub', 'small-3.json'));
    writeFileSync(join(src, 'alone.log'), 'one name\n');
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const target = join(t.path, 'r');
    await runRestore(state, 'latest', { target });
    const at = (p: string) => join(target, src, p);
    assertSameTree(snapshotTree(join(target, src)), snapshotTree(src));
    assert.is(statSync(at('sub/big-again.csv')).ino, statSync(at('big.csv')).ino);
    assert.is(statSync(at('big.csv')).nlink, 2);
    assert.is(statSync(at('small-2.json')).ino, statSync(at('small.json')).ino);
    assert.is(statSync(at('sub/small-3.json')).ino, statSync(at('small.json')).ino);
    assert.is(statSync(at('alone.log')).nlink, 1);
    assert.equal((await compare(state, target)).differences, []);
    // Restored again over itself: the names stay one file and no temp is left (a rename onto another
    // name of the same file does nothing).
    await runRestore(state, 'latest', { target });
    assert.is(statSync(at('sub/small-3.json')).ino, statSync(at('small.json')).ino);
    assert.equal(readdirSync(at('sub')).filter((n) => n.includes('2baksa')), []);
    const one = join(t.path, 'one');
    await runRestore(state, 'latest', { target: one, path: join(src, 'sub') });
    assert.equal(readFileSync(join(one, src, 'sub', 'big-again.csv')), readFileSync(join(src, 'big.csv')), 'its first name not restored: a copy');
    assert.is(statSync(join(one, src, 'sub', 'big-again.csv')).nlink, 1);
  } finally {
    t.cleanup();
  }
});

test('a temp name stays within NAME_MAX however long the name it stands for', () => {
  for (const name of ['a', 'n'.repeat(230), 'n'.repeat(255), '\u00e9'.repeat(127)]) {
    const temp = tempBeside(join('/restore/into', name));
    assert.ok(temp.startsWith('/restore/into/.'), temp);
    assert.ok(Buffer.byteLength(temp.slice('/restore/into/'.length)) <= 255, `${name.length}: ${temp}`);
  }
});

test('restore into a --target that is a file says so', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.log'), 'x\n');
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    writeFileSync(join(t.path, 'file'), 'not a directory');
    const error = await runRestore(state, 'latest', { target: join(t.path, 'file') }).then(() => undefined, (e: unknown) => e);
    assert.is((error as { code?: string })?.code, 'RESTORE_TARGET_NOT_DIR');
  } finally {
    t.cleanup();
  }
});

test('compare lists differences: content, mode, missing and extra files', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    buildSource(src);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const target = join(t.path, 'r');
    await runRestore(state, 'latest', { target });
    const base = join(target, src);
    const b = readFileSync(join(base, 'blobs', 'image.bin'));
    b[1234] = b[1234]! ^ 0xff;
    writeFileSync(join(base, 'blobs', 'image.bin'), b);
    utimesSync(join(base, 'blobs', 'image.bin'), new Date('2026-01-02T03:04:05.678Z'), new Date('2026-01-02T03:04:05.678Z'));
    chmodSync(join(base, 'secret.key'), 0o644);
    writeFileSync(join(base, 'logs', 'new.txt'), 'x');
    rmSync(join(base, 'empty.txt'));
    const diff = (await compare(state, target)).differences.map((d) => `${d.what}:${d.path.slice(src.length)}`).sort();
    assert.equal(diff, ['content:/blobs/image.bin', 'extra:/logs/new.txt', 'missing:/empty.txt', 'mode:/secret.key']);
    // A time alone: shown as times, to the nanosecond.
    utimesSync(join(base, 'secret.key'), new Date('2026-01-02T03:04:05.678Z'), new Date('2026-01-02T03:04:05.678Z'));
    const mtime = (await compare(state, target)).differences.find((d) => d.what === 'mtime');
    assert.match(mtime?.detail ?? '', /^2026-01-02T03:04:05\.67\d{7}Z here, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z in the snapshot$/);
  } finally {
    t.cleanup();
  }
});

test('isoNs: nanoseconds since the epoch as an ISO time with nine digits, before 1970 too', () => {
  assert.is(isoNs('1795513162799974257'), '2026-11-24T09:39:22.799974257Z');
  assert.is(isoNs(0n), '1970-01-01T00:00:00.000000000Z');
  assert.is(isoNs(-1n), '1969-12-31T23:59:59.999999999Z');
});

test('edgeProfile: one shard of the largest chunk fits a message; 3 gateways chunk alike on every profile', () => {
  const MiB = 1024 * 1024;
  for (const name of builtinProfileNames()) {
    const profile = loadProfile(name);
    for (const members of [1, 2, 3, 4, 5, 6]) {
      const { chunking, erasure } = edgeProfile(profile, members);
      assert.ok(chunking.minBytes < chunking.avgBytes && chunking.avgBytes < chunking.maxBytes, `${name} on ${members}: min < avg < max`);
      assert.ok(chunking.maxBytes <= profile.chunking.maxBytes, `${name} on ${members}: never above the profile's chunks`);
      assert.is(erasure.k, edgeGeometry(members).dataShards);
      // Written by a quorum alone (the smallest geometry), one data shard of the largest chunk still fits.
      const smallestK = edgeGeometry(quorumSize(members)).dataShards;
      assert.ok(chunking.maxBytes <= EDGE_CHUNK_BYTES_PER_SHARD_MAX * smallestK, `${name} on ${members}: ${chunking.maxBytes} per ${smallestK} shards`);
    }
  }
  for (const name of ['mid-arm', 'x86-edge']) {
    assert.equal(edgeProfile(loadProfile(name), 3).chunking, { minBytes: MiB / 4, avgBytes: MiB, maxBytes: 2 * MiB }, `${name} on 3 gateways`);
  }
  assert.equal(loadProfile('x86-edge').chunking, { minBytes: MiB / 2, avgBytes: 2 * MiB, maxBytes: 8 * MiB }, 'a lone x86 gateway: 2 MiB on average');
});

test('restored times are exact to the microsecond (to the millisecond before 1970)', () => {
  const t = tempDir();
  try {
    const f = join(t.path, 'f');
    writeFileSync(f, 'x');
    const times = [0n, 999n, 1000n, 1_000_000_000n];
    let x = 7n;
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
      const base = 1_700_000_000_000_000_000n + (x % 200_000_000_000_000_000n);
      times.push(base, base - (base % 1000n), base - (base % 1000n) + 999n);
    }
    for (const ns of times) {
      utimesSync(f, utimesTimeOf(String(ns)), utimesTimeOf(String(ns)));
      const got = statSync(f, { bigint: true }).mtimeNs;
      const floorUs = (v: bigint) => v / 1000n - (v % 1000n < 0n ? 1n : 0n);
      assert.is(floorUs(got), floorUs(ns), `time ${ns} ns came back as ${got} ns`);
    }
    const floorMs = (v: bigint) => v / 1_000_000n - (v % 1_000_000n < 0n ? 1n : 0n);
    for (const ns of [-1n, -1_000_000n, -1_500_000_001n, -86_400_000_000_123n]) {
      utimesSync(f, utimesTimeOf(String(ns)), utimesTimeOf(String(ns)));
      const got = statSync(f, { bigint: true }).mtimeNs;
      assert.is(floorMs(got), floorMs(ns), `time ${ns} ns came back as ${got} ns`);
    }
  } finally {
    t.cleanup();
  }
});

test.run();
