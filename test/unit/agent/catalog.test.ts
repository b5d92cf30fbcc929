// The catalog's snapshot rows across schema versions: a catalog written before snapshots kept their
// profile opens, its old rows read with no profile (migration takes them as `normal`), and new rows keep
// the profile they were taken with. File states a backup stages join the files table with its snapshot.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Database, migrate } from '../../../shared/db/index.ts';
import { Catalog, catalogMigrations, type SnapshotRecord } from '../../../agent/catalog/index.ts';
import { tempDir } from './_helpers.ts';

function record(id: string, timeMs: number, profile?: string): SnapshotRecord {
  return {
    id,
    timeMs,
    type: 'snapshot',
    host: 'gw1.test.example',
    paths: ['/data'],
    rootChunks: ['ab'.repeat(32)],
    fileCount: 1,
    bytes: 10,
    bytesNew: 10,
    storedNew: 10,
    durationMs: 5,
    skipped: 0,
    ...(profile !== undefined ? { profile } : {}),
  };
}

test('a catalog from before snapshots kept their profile: old rows read without one, new rows keep theirs', async () => {
  const t = tempDir('baksa-catalog-');
  try {
    const path = join(t.path, 'catalog.db');
    // The schema as the previous release left it (version 2), with one snapshot.
    const old = await Database.open(path, { durable: false });
    assert.equal(await migrate(old, catalogMigrations.slice(0, 2)), { from: 0, to: 2 });
    await old.run(
      `INSERT INTO snapshots (id, time_ms, type, host, paths, root_chunks, file_count, bytes, bytes_new, stored_new, duration_ms, skipped)
       VALUES ('aa11', 1000, 'snapshot', 'gw1.test.example', '["/data"]', '[]', 1, 10, 10, 10, 5, 0)`,
    );
    await old.close();

    const catalog = await Catalog.open(path, { durable: false });
    try {
      assert.is((await catalog.db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version, catalogMigrations.length);
      const [before] = await catalog.listSnapshots();
      assert.is(before!.id, 'aa11');
      assert.is(before!.profile, undefined);
      assert.not.ok('profile' in before!, 'no profile key at all for an old row');

      await catalog.commitSnapshot(record('bb22', 2000, '/etc/2baksa/alarms.json'), [], []);
      await catalog.commitSnapshot(record('cc33', 3000), [], []);
      const list = await catalog.listSnapshots();
      assert.equal(list.map((s) => [s.id, s.profile]), [['aa11', undefined], ['bb22', '/etc/2baksa/alarms.json'], ['cc33', undefined]]);
      assert.equal(await catalog.findSnapshot('bb'), record('bb22', 2000, '/etc/2baksa/alarms.json'));
    } finally {
      await catalog.close();
    }
  } finally {
    t.cleanup();
  }
});

test('staged file states join the files table with the snapshot that commits them, and a run that never commits leaves none', async () => {
  const t = tempDir('baksa-catalog-');
  try {
    const catalog = await Catalog.open(join(t.path, 'catalog.db'), { durable: false });
    try {
      const small = (path: string, text: string) => ({ path, size: text.length, mtimeNs: '1', inode: '1:2', chunks: [], inline: Buffer.from(text) });
      const chunked = { path: '/data/log', size: 9, mtimeNs: '2', inode: '1:3', chunks: [{ id: 'cd'.repeat(32), length: 9 }], head: 'h', tail: 't' };
      // A run that stages and then stops: nothing of it is in files, and the next run clears it.
      await catalog.stageFiles([small('/data/lost', 'never committed')]);
      assert.equal(await catalog.filePaths(), []);
      await catalog.clearStagedFiles();
      await catalog.stageFiles([small('/data/a', 'alpha'), chunked]);
      assert.equal(await catalog.filePaths(), [], 'staged states are no snapshot’s until one commits');
      await catalog.commitSnapshot(record('dd44', 4000), [small('/data/b', 'beta')], []);
      assert.equal((await catalog.filePaths()).sort(), ['/data/a', '/data/b', '/data/log']);
      const a = await catalog.getFile('/data/a');
      assert.is(Buffer.from(a!.inline!).toString(), 'alpha');
      assert.equal(a!.chunks, []);
      assert.equal(await catalog.getFile('/data/log'), chunked);
      assert.is((await catalog.db.get<{ n: number }>('SELECT count(*) AS n FROM files_staged'))?.n, 0);
    } finally {
      await catalog.close();
    }
  } finally {
    t.cleanup();
  }
});

test.run();
