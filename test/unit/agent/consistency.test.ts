// Files that change while they are read are never stored torn (Box Backup's known bug), unreadable
// entries are skipped with a read-error event and the backup completes. Small files too, whose stat
// before the read is the scan's.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { openSync, writeSync, closeSync, readFileSync, writeFileSync, mkdirSync, utimesSync, lstatSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../../agent/backup/run.ts';
import type { BackupEvent } from '../../../agent/backup/events.ts';
import { runRestore } from '../../../agent/restore/index.ts';
import { freshState, sensorLines, tempDir } from './_helpers.ts';

function old(path: string): void {
  const t = new Date('2026-01-01T00:00:00Z');
  utimesSync(path, t, t);
}

test('a file that changes once while read is read again and stored consistent', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const log = join(src, 'live.csv');
    writeFileSync(log, sensorLines(20_000));
    old(log);
    const state = await freshState(t.path, [src]);
    const s = await runBackup(state, { type: 'snapshot', faults: { mutate: { match: /live\.csv$/, times: 1 } } });
    assert.is(s.counters.filesRead, 1);
    assert.is(s.counters.filesSkipped, 0);
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    // The stored version is the file as it was after the concurrent write (in place, at its start), in full.
    assert.equal(readFileSync(join(t.path, 'r', log)), readFileSync(log));
    assert.ok(readFileSync(log).toString().startsWith('concurrent write\n'));
  } finally {
    t.cleanup();
  }
});

test('a log that grows during every read is stored as it was when the read began; the next backup reads on from there', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const log = join(src, 'live.csv');
    const small = join(src, 'live-small.csv');
    writeFileSync(log, sensorLines(20_000)); // chunked
    writeFileSync(small, sensorLines(20)); // kept in the manifest
    const before = readFileSync(log);
    const smallBefore = readFileSync(small);
    const state = await freshState(t.path, [src]);
    const grows = { match: /live(-small)?\.csv$/, times: 99, append: true };
    const s = await runBackup(state, { type: 'snapshot', faults: { mutate: grows } });
    assert.equal(s.problems, [], 'a growing log is not a file that keeps changing');
    assert.is(s.counters.filesRead, 2);
    await runRestore(state, 'latest', { target: join(t.path, 'r1') });
    assert.equal(readFileSync(join(t.path, 'r1', log)), before, 'the bytes it had when the read began');
    assert.equal(readFileSync(join(t.path, 'r1', small)), smallBefore);
    assert.ok(readFileSync(log).length > before.length, 'it did grow meanwhile');
    const next = await runBackup(state, { type: 'snapshot' });
    assert.is(next.counters.filesAppended, 1, 'the next run takes it as a grown log');
    await runRestore(state, 'latest', { target: join(t.path, 'r2') });
    assert.equal(readFileSync(join(t.path, 'r2', log)), readFileSync(log));
    assert.equal(readFileSync(join(t.path, 'r2', small)), readFileSync(small));
  } finally {
    t.cleanup();
  }
});

test('a real logger appending every few milliseconds: every backup keeps the log, as a whole-line prefix of it', async () => {
  const t = tempDir();
  let writing = true;
  let logger: Promise<void> = Promise.resolve();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const log = join(src, 'sensor.log');
    writeFileSync(log, sensorLines(40_000));
    const state = await freshState(t.path, [src]);
    let n = 0;
    logger = (async () => {
      while (writing) {
        appendFileSync(log, `2026-11-24T19:00:00.000Z,sensor001,${n++},21.5,ok\n`);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    for (let run = 0; run < 3; run++) {
      const s = await runBackup(state, { type: 'snapshot' });
      assert.equal(s.problems, [], `run ${run}`);
      const target = join(t.path, `r${run}`);
      await runRestore(state, 'latest', { target });
      const kept = readFileSync(join(target, log));
      const live = readFileSync(log);
      assert.ok(kept.length > 0 && live.subarray(0, kept.length).equals(kept), 'a prefix of the live log');
      assert.is(kept[kept.length - 1], 0x0a, 'ending with a whole line');
    }
  } finally {
    writing = false;
    await logger;
    t.cleanup();
  }
});

test('a file that keeps changing is skipped (FILE_CHANGING) and its previous version kept', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const log = join(src, 'busy.csv');
    writeFileSync(log, sensorLines(5000));
    old(log);
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    const v1 = readFileSync(log);
    writeFileSync(log, sensorLines(6000));
    old(log);
    const events: BackupEvent[] = [];
    const s = await runBackup(state, { type: 'snapshot', listener: (e) => events.push(e), faults: { mutate: { match: /busy\.csv$/, times: 99 } } });
    assert.is(s.counters.filesSkipped, 1);
    assert.equal(s.problems.map((p) => p.code), ['FILE_CHANGING']);
    assert.ok(events.some((e) => e.type === 'read-error' && e.code === 'FILE_CHANGING'));
    assert.ok(events.some((e) => e.type === 'backup-ok'));
    // Not stored torn: the latest snapshot has no half-read version; the earlier one restores v1.
    await runRestore(state, 'latest', { target: join(t.path, 'r') }).catch(() => undefined);
    let restored: Buffer | undefined;
    try {
      restored = readFileSync(join(t.path, 'r', log));
    } catch {
      restored = undefined;
    }
    assert.is(restored, undefined, 'the skipped file is not in the snapshot');
    const first = (await import('../../../agent/catalog/index.ts')).Catalog;
    const cat = await first.open(state.paths.catalog);
    const snaps = await cat.listSnapshots();
    await cat.close();
    await runRestore(state, snaps[0]!.id, { target: join(t.path, 'r0') });
    assert.equal(readFileSync(join(t.path, 'r0', log)), v1);
  } finally {
    t.cleanup();
  }
});

test('a real concurrent in-place writer never yields a torn file', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const file = join(src, 'rewritten.bin');
    const size = 3 * 1024 * 1024;
    writeFileSync(file, Buffer.alloc(size, 0x41));
    const state = await freshState(t.path, [src]);
    let letter = 0x41;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        letter = letter === 0x5a ? 0x41 : letter + 1;
        const fd = openSync(file, 'r+');
        // Rewrite in place in pieces, so a reader can catch it half-way.
        for (let at = 0; at < size; at += 256 * 1024) writeSync(fd, Buffer.alloc(256 * 1024, letter), 0, 256 * 1024, at);
        closeSync(fd);
        await new Promise((r) => setImmediate(r));
      }
    })();
    const s = await runBackup(state, { type: 'snapshot' });
    writing = false;
    await writer;
    if (s.counters.filesSkipped === 0) {
      await runRestore(state, 'latest', { target: join(t.path, 'r') });
      const back = readFileSync(join(t.path, 'r', file));
      assert.is(back.length, size);
      assert.ok(back.every((b) => b === back[0]), 'the stored file is one version, not a mix');
    } else {
      assert.equal(s.problems.map((p) => p.code), ['FILE_CHANGING']);
    }
  } finally {
    t.cleanup();
  }
});

test('small files (kept in the manifest, their scan stat taken as the one before the read): a change is read again, a rewrite never stored torn', async () => {
  const t = tempDir();
  let writing = false;
  let writer: Promise<void> = Promise.resolve();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const once = join(src, 'once.json');
    writeFileSync(once, '{"t":1}\n');
    old(once);
    const file = join(src, 'rewritten.json');
    const size = 4000;
    writeFileSync(file, Buffer.alloc(size, 0x41));
    const state = await freshState(t.path, [src]);
    let letter = 0x41;
    writing = true;
    writer = (async () => {
      while (writing) {
        letter = letter === 0x5a ? 0x41 : letter + 1;
        const fd = openSync(file, 'r+');
        writeSync(fd, Buffer.alloc(size / 2, letter), 0, size / 2, 0);
        writeSync(fd, Buffer.alloc(size / 2, letter), 0, size / 2, size / 2);
        closeSync(fd);
        await new Promise((r) => setImmediate(r));
      }
    })();
    let runs = 0;
    for (; runs < 5; runs++) {
      const s = await runBackup(state, { type: 'snapshot', force: true, faults: { mutate: { match: /once\.json$/, times: 1 } } });
      assert.ok(s.counters.filesSkipped <= 1);
      const target = join(t.path, `r${runs}`);
      await runRestore(state, 'latest', { target });
      // Changed after its read once: read again, and stored as the write left it.
      assert.equal(readFileSync(join(target, once)), readFileSync(once));
      if (s.counters.filesSkipped === 1) {
        assert.equal(s.problems.map((p) => p.code), ['FILE_CHANGING']);
        continue;
      }
      const back = readFileSync(join(target, file));
      assert.is(back.length, size);
      assert.ok(back.every((b) => b === back[0]), 'the stored file is one version, not a mix');
    }
  } finally {
    writing = false;
    await writer;
    t.cleanup();
  }
});

test('files that fail to read are skipped with a read-error, a FIFO beside them kept; the backup completes', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    execFileSync('mkfifo', [join(src, 'pipe')]);
    writeFileSync(join(src, 'bad.csv'), sensorLines(100));
    writeFileSync(join(src, 'good.csv'), sensorLines(100, 500));
    const state = await freshState(t.path, [src]);
    const events: BackupEvent[] = [];
    writeFileSync(join(src, 'worse.csv'), sensorLines(50));
    const s = await runBackup(state, { type: 'snapshot', listener: (e) => events.push(e), faults: { readError: /(bad|worse)\.csv$/ } });
    const errors = events.filter((e) => e.type === 'read-error').map((e) => (e as { path: string }).path.slice(src.length));
    assert.equal(errors.sort(), ['/bad.csv', '/worse.csv']);
    assert.is(s.snapshot.fileCount, 1);
    assert.is(events.at(-1)!.type, 'backup-ok');
    await runRestore(state, 'latest', { target: join(t.path, 'r') });
    assert.equal(readFileSync(join(t.path, 'r', src, 'good.csv')), readFileSync(join(src, 'good.csv')));
    assert.ok(lstatSync(join(t.path, 'r', src, 'pipe')).isFIFO());
  } finally {
    t.cleanup();
  }
});

test.run();
