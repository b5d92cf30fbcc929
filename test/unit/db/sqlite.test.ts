import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database, migrate } from '../../../shared/db/index.ts';
import { STATEMENTS_KEPT } from '../../../shared/db/sqlite.ts';
import { BaksaError } from '../../../shared/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'baksa-db-'));
let n = 0;
const fresh = () => join(dir, `t${++n}.db`);

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('durable open sets WAL and synchronous=FULL', async () => {
  const db = await Database.open(fresh());
  const jm = await db.get<{ journal_mode: string }>('PRAGMA journal_mode');
  const sync = await db.get<{ synchronous: number }>('PRAGMA synchronous');
  const fk = await db.get<{ foreign_keys: number }>('PRAGMA foreign_keys');
  assert.is(jm?.journal_mode, 'wal');
  assert.is(sync?.synchronous, 2); // 2 = FULL
  assert.is(fk?.foreign_keys, 1);
  await db.close();
});

test('durable=false keeps WAL with synchronous=NORMAL', async () => {
  const db = await Database.open(fresh(), { durable: false });
  assert.is((await db.get<{ journal_mode: string }>('PRAGMA journal_mode'))?.journal_mode, 'wal');
  assert.is((await db.get<{ synchronous: number }>('PRAGMA synchronous'))?.synchronous, 1);
  await db.close();
});

test('run/get/all with positional and named params', async () => {
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)');
  const r1 = await db.run('INSERT INTO t (name, data) VALUES (?, ?)', ['a', Buffer.from([1, 2])]);
  const r2 = await db.run('INSERT INTO t (name) VALUES ($name)', { $name: 'b' });
  assert.is(r1.lastID, 1);
  assert.is(r2.lastID, 2);
  assert.is(r2.changes, 1);
  const row = await db.get<{ name: string; data: Buffer }>('SELECT * FROM t WHERE id = ?', [1]);
  assert.is(row?.name, 'a');
  assert.equal([...row!.data], [1, 2]);
  assert.is(await db.get('SELECT * FROM t WHERE id = 99'), undefined);
  const rows = await db.all<{ name: string }>('SELECT name FROM t ORDER BY id');
  assert.equal(rows.map((r) => r.name), ['a', 'b']);
  const upd = await db.run('UPDATE t SET name = ?', ['z']);
  assert.is(upd.changes, 2);
  await db.close();
});

test('transaction commits, and rolls back when fn throws', async () => {
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE t (v INTEGER)');
  const out = await db.transaction(async (tx) => {
    await tx.run('INSERT INTO t VALUES (1)');
    return 'ok';
  });
  assert.is(out, 'ok');
  try {
    await db.transaction(async (tx) => {
      await tx.run('INSERT INTO t VALUES (2)');
      assert.ok(db.inTransaction);
      throw new Error('boom');
    });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.is((err as Error).message, 'boom');
  }
  assert.not.ok(db.inTransaction);
  const rows = await db.all<{ v: number }>('SELECT v FROM t');
  assert.equal(rows.map((r) => r.v), [1]);
  await db.close();
});

test('nested transaction is a savepoint: inner rollback keeps outer work', async () => {
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE t (v INTEGER)');
  await db.transaction(async (tx) => {
    await tx.run('INSERT INTO t VALUES (1)');
    await tx.transaction(async (inner) => {
      await inner.run('INSERT INTO t VALUES (2)');
      throw new Error('inner');
    }).catch(() => undefined);
    await tx.transaction(async (inner) => inner.run('INSERT INTO t VALUES (3)'));
  });
  const rows = await db.all<{ v: number }>('SELECT v FROM t ORDER BY v');
  assert.equal(rows.map((r) => r.v), [1, 3]);
  await db.close();
});

test('concurrent transactions serialize and never interleave', async () => {
  const db = await Database.open(fresh(), { durable: false });
  await db.exec('CREATE TABLE log (tx INTEGER, step INTEGER)');
  await db.exec('CREATE TABLE counter (v INTEGER)');
  await db.run('INSERT INTO counter VALUES (0)');
  const tasks = Array.from({ length: 8 }, (_, i) =>
    db.transaction(async (tx) => {
      // read-modify-write with awaits in between: lost updates if transactions interleaved
      const cur = (await tx.get<{ v: number }>('SELECT v FROM counter'))!.v;
      for (let s = 0; s < 3; s++) {
        await tx.run('INSERT INTO log VALUES (?, ?)', [i, s]);
        await new Promise((r) => setImmediate(r));
      }
      await tx.run('UPDATE counter SET v = ?', [cur + 1]);
      if (i === 3) throw new Error('rollback this one');
    }),
  );
  const results = await Promise.allSettled(tasks);
  assert.is(results.filter((r) => r.status === 'rejected').length, 1);
  assert.is((await db.get<{ v: number }>('SELECT v FROM counter'))!.v, 7);
  const log = await db.all<{ tx: number; step: number }>('SELECT tx, step FROM log ORDER BY rowid');
  assert.is(log.length, 21);
  // each transaction's steps are contiguous
  for (let k = 0; k < log.length; k += 3) {
    assert.equal(log.slice(k, k + 3).map((r) => r.step), [0, 1, 2]);
    assert.ok(log[k]!.tx === log[k + 2]!.tx);
  }
  assert.not.ok(log.some((r) => r.tx === 3));
  await db.close();
});

test('a plain statement issued during a transaction waits and survives its rollback', async () => {
  const db = await Database.open(fresh(), { durable: false });
  await db.exec('CREATE TABLE t (v INTEGER)');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const tx = db.transaction(async (t) => {
    await t.run('INSERT INTO t VALUES (1)');
    await gate;
    throw new Error('rollback');
  });
  await new Promise((r) => setImmediate(r));
  const outside = db.run('INSERT INTO t VALUES (2)'); // from outside the transaction's async context
  release();
  await tx.catch(() => undefined);
  await outside;
  const rows = await db.all<{ v: number }>('SELECT v FROM t');
  assert.equal(rows.map((r) => r.v), [2]);
  await db.close();
});

test('migrate applies in order, records user_version and is idempotent', async () => {
  const path = fresh();
  const migrations = ['CREATE TABLE a (x INTEGER)', 'ALTER TABLE a ADD COLUMN y TEXT; CREATE TABLE b (z INTEGER)'];
  const db = await Database.open(path);
  assert.equal(await migrate(db, migrations.slice(0, 1)), { from: 0, to: 1 });
  assert.equal(await migrate(db, migrations), { from: 1, to: 2 });
  assert.equal(await migrate(db, migrations), { from: 2, to: 2 });
  assert.is((await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version, 2);
  await db.run('INSERT INTO a (x, y) VALUES (1, ?)', ['q']);
  await db.run('INSERT INTO b VALUES (1)');
  await db.close();
  const again = await Database.open(path);
  assert.equal(await migrate(again, migrations), { from: 2, to: 2 });
  try {
    await migrate(again, migrations.slice(0, 1));
    assert.unreachable('should refuse an older program');
  } catch (err) {
    assert.instance(err, BaksaError);
    assert.is((err as BaksaError).code, 'DB_TOO_NEW');
  }
  await again.close();
});

test('a failing migration rolls back and leaves the version where it was', async () => {
  const db = await Database.open(fresh());
  try {
    await migrate(db, ['CREATE TABLE a (x INTEGER)', 'CREATE TABLE c (x INTEGER); INSERT INTO nope VALUES (1)']);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.match((err as Error).message, /nope/);
  }
  assert.is((await db.get<{ user_version: number }>('PRAGMA user_version'))?.user_version, 1);
  assert.is(await db.get("SELECT name FROM sqlite_master WHERE name = 'c'"), undefined);
  await db.close();
});

test('sqlite errors become BaksaErrors with stable codes', async () => {
  try {
    await Database.open(join(dir, 'no-such-dir', 'x.db'));
    assert.unreachable('should not open');
  } catch (err) {
    assert.instance(err, BaksaError);
    assert.is((err as BaksaError).code, 'DB_CANTOPEN');
    assert.ok((err as BaksaError).hint);
  }
  const garbage = fresh();
  writeFileSync(garbage, Buffer.alloc(4096, 0x41));
  try {
    const db = await Database.open(garbage);
    await db.get('SELECT * FROM sqlite_master');
    assert.unreachable('should not read garbage');
  } catch (err) {
    assert.instance(err, BaksaError);
    assert.is((err as BaksaError).code, 'DB_CORRUPT');
  }
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE u (k TEXT PRIMARY KEY)');
  await db.run('INSERT INTO u VALUES (?)', ['a']);
  try {
    await db.run('INSERT INTO u VALUES (?)', ['a']);
    assert.unreachable('should violate');
  } catch (err) {
    assert.is((err as BaksaError).code, 'DB_CONSTRAINT');
  }
  try {
    await db.get('SELEKT 1');
    assert.unreachable('syntax error');
  } catch (err) {
    assert.not.instance(err, BaksaError); // a bug in our SQL stays a plain Error
    assert.match((err as Error).message, /SELEKT/);
  }
  await db.close();
});

test('SQLITE_BUSY from another connection maps to DB_BUSY', async () => {
  const path = fresh();
  const a = await Database.open(path, { busyTimeoutMs: 50 });
  const b = await Database.open(path, { busyTimeoutMs: 50 });
  await a.exec('CREATE TABLE t (v INTEGER)');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const holding = a.transaction(async (tx) => {
    await tx.run('INSERT INTO t VALUES (1)');
    await gate;
  });
  await new Promise((r) => setTimeout(r, 20));
  try {
    await b.transaction(async (tx) => tx.run('INSERT INTO t VALUES (2)'));
    assert.unreachable('should be busy');
  } catch (err) {
    assert.is((err as BaksaError).code, 'DB_BUSY');
  }
  release();
  await holding;
  await a.close();
  await b.close();
});

test('readonly open refuses writes with DB_READONLY', async () => {
  const path = fresh();
  const w = await Database.open(path);
  await w.exec('CREATE TABLE t (v INTEGER)');
  await w.close();
  const r = await Database.open(path, { readonly: true });
  assert.equal(await r.all('SELECT * FROM t'), []);
  try {
    await r.run('INSERT INTO t VALUES (1)');
    assert.unreachable('readonly');
  } catch (err) {
    assert.is((err as BaksaError).code, 'DB_READONLY');
  }
  await r.close();
});

test('close waits for a running transaction and later use fails', async () => {
  const db = await Database.open(fresh(), { durable: false });
  await db.exec('CREATE TABLE t (v INTEGER)');
  const tx = db.transaction(async (t) => {
    await new Promise((r) => setTimeout(r, 10));
    await t.run('INSERT INTO t VALUES (1)');
  });
  await db.close();
  await tx;
  try {
    await db.get('SELECT 1');
    assert.unreachable('closed');
  } catch (err) {
    assert.match((err as Error).message, /after close/);
  }
});

test('a kept statement answers every call afresh: no parameters, the first of many rows, after a write', async () => {
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE r (k INTEGER PRIMARY KEY, v TEXT)');
  for (let i = 1; i <= 3; i++) await db.run('INSERT INTO r (v) VALUES (?)', [`v${i}`]);
  // sqlite3's statement would step on to the second row (then past the end) if it were not reset.
  for (let i = 0; i < 4; i++) assert.equal(await db.get('SELECT k, v FROM r ORDER BY k'), { k: 1, v: 'v1' });
  assert.equal(await db.get('SELECT count(*) AS n FROM r'), { n: 3 });
  await db.run('DELETE FROM r WHERE k = ?', [1]);
  assert.equal(await db.get('SELECT count(*) AS n FROM r'), { n: 2 });
  assert.equal(await db.get('SELECT k, v FROM r ORDER BY k'), { k: 2, v: 'v2' });
  // A get left at its first row does not keep a transaction from committing.
  await db.transaction(async (tx) => {
    assert.equal(await tx.get('SELECT k FROM r ORDER BY k'), { k: 2 });
    await tx.run('INSERT INTO r (v) VALUES (?)', ['v4']);
  });
  assert.equal(await db.all('SELECT v FROM r ORDER BY k'), [{ v: 'v2' }, { v: 'v3' }, { v: 'v4' }]);
  // Named parameters, and the same statement with other values at once.
  const runs = await Promise.all([10, 11, 12].map((k) => db.run('INSERT INTO r (k, v) VALUES ($k, $v)', { $k: k, $v: `n${k}` })));
  assert.equal(runs.map((r) => [r.changes, r.lastID]).sort(), [[1, 10], [1, 11], [1, 12]]);
  assert.equal(await Promise.all([10, 11, 12].map((k) => db.get('SELECT v FROM r WHERE k = ?', [k]))), [{ v: 'n10' }, { v: 'n11' }, { v: 'n12' }]);
  await db.close();
});

test('a run of a statement that returns rows has ended it when it answers: its write is committed', async () => {
  const path = fresh();
  const db = await Database.open(path);
  await db.exec('CREATE TABLE q (k INTEGER PRIMARY KEY, v TEXT)');
  const other = await Database.open(path, { readonly: true });
  for (const v of ['a', 'b', 'c']) {
    await db.run('INSERT INTO q (v) VALUES (?) RETURNING k', [v]);
    // Another connection sees it at once: the statement is not left open at its first row.
    assert.equal(await other.get('SELECT v FROM q ORDER BY k DESC'), { v });
  }
  await db.transaction(async (tx) => {
    await tx.run('INSERT INTO q (v) VALUES (?) RETURNING k', ['d']);
  });
  assert.equal(await other.all('SELECT v FROM q ORDER BY k'), [{ v: 'a' }, { v: 'b' }, { v: 'c' }, { v: 'd' }]);
  await other.close();
  await db.close();
});

test('a statement that could not be prepared is not kept; a kept one follows the schema', async () => {
  const db = await Database.open(fresh());
  try {
    await db.get('SELECT * FROM later');
    assert.unreachable('no such table yet');
  } catch (err) {
    assert.match((err as Error).message, /no such table: later/);
  }
  await db.exec('CREATE TABLE later (a INTEGER)');
  await db.run('INSERT INTO later (a) VALUES (?)', [1]);
  assert.equal(await db.get('SELECT * FROM later'), { a: 1 });
  await db.exec('ALTER TABLE later ADD COLUMN b TEXT DEFAULT \'x\'');
  assert.equal(await db.get('SELECT * FROM later'), { a: 1, b: 'x' });
  await db.close();
});

test('more distinct statements than are kept, at once: every call answers, and the database closes', async () => {
  const db = await Database.open(fresh());
  await db.exec('CREATE TABLE m (k INTEGER PRIMARY KEY)');
  await db.run('INSERT INTO m (k) VALUES (1), (2), (3)');
  const texts = Array.from({ length: 3 * STATEMENTS_KEPT }, (_, i) => `SELECT ${i} AS i, count(*) AS n FROM m`);
  const rows = await Promise.all(texts.flatMap((sql) => [db.get<{ i: number; n: number }>(sql), db.all<{ i: number; n: number }>(sql)]));
  assert.equal(rows.map((r) => (Array.isArray(r) ? r[0] : r)), texts.flatMap((_, i) => [{ i, n: 3 }, { i, n: 3 }]));
  // Pushed-out statements were finalized: an unfinalized one would make close fail with SQLITE_BUSY.
  await db.close();
});

test.run();
