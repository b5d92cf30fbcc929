// The aggregator node's replicated account database: the ordered command log (AccountsApp), its
// application to sqlite (AccountsMaterializer) across restarts, snapshots and divergence, and the
// node config's field-named errors.
import { test } from 'uvu';
import { encode } from '@msgpack/msgpack';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import { BaksaError } from '../../../shared/errors.ts';
import type { Database } from '../../../shared/db/index.ts';
import { listAccounts, openAccountDb, stateDigest, type AccountCommand } from '../../../aggregator/accounts/index.ts';
import { AccountsApp, decodeAccountsResult, encodeAccountOp } from '../../../aggregator/node/accounts-app.ts';
import { AccountsMaterializer } from '../../../aggregator/node/materializer.ts';
import { parseNodeConfig } from '../../../aggregator/node/config.ts';

const T = 1_700_000_000_000;
const ctx = (seq: number) => ({ seq, client: 'c', requestId: seq, timeMs: T });
const create = (name: string): AccountCommand => ({ type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null });

function materializer(db: Database, app: AccountsApp, fatal: Error[] = []): AccountsMaterializer {
  return new AccountsMaterializer(db, app, { resultsKept: 16, logger: silentLogger, onFatal: (e) => fatal.push(e) });
}

test('execute orders commands; the result carries the position and the chain, identical on two replicas', () => {
  const a = new AccountsApp();
  const b = new AccountsApp();
  const ops = ['gw1.example', 'gw2.example', 'gw1.example'].map((n) => encodeAccountOp(create(n)));
  const ra = ops.map((op, i) => decodeAccountsResult(a.execute(op, ctx(i + 1))));
  const rb = ops.map((op, i) => decodeAccountsResult(b.execute(op, ctx(i + 1))));
  assert.equal(ra.map((r) => r.position), [1, 2, 3]);
  assert.equal(ra, rb);
  assert.not.equal(ra[0]!.chain, ra[1]!.chain);
  // A snapshot restores the same log and chain.
  const c = new AccountsApp();
  c.restore(a.snapshot());
  assert.is(c.position, 3);
  assert.equal(c.chainAt(3), a.chainAt(3));
  assert.equal(c.opAt(2), ops[1]);
});

test('restore refuses bytes that are not an accounts snapshot', () => {
  const app = new AccountsApp();
  assert.throws(() => app.restore(new Uint8Array([1, 2, 3])), /not|MessagePack|truncated/);
  assert.throws(() => app.restore(encode({ v: 2, ops: [] })), /not an accounts snapshot/);
  assert.throws(() => app.restore(encode({ v: 1, ops: ['text'] })), /not an accounts snapshot/);
});

test('the materializer applies in order, answers waiters with the deterministic result, and resumes after a restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-mat-'));
  try {
    const path = join(dir, 'accounts.db');
    const app = new AccountsApp();
    let db = await openAccountDb(path, { durable: false });
    let m = materializer(db, app);
    await m.start();
    const r1 = m.waitFor(1);
    const r2 = m.waitFor(2);
    app.execute(encodeAccountOp(create('gw1.example')), ctx(1));
    app.execute(encodeAccountOp(create('gw1.example')), ctx(2));
    const [first, second] = await Promise.all([r1, r2]);
    assert.ok(first.ok);
    assert.ok(!second.ok && second.error.code === 'ACCOUNT_EXISTS', JSON.stringify(second));
    // Garbage in the log is ordered like anything else and refused the same way everywhere.
    app.execute(new Uint8Array([0xc1]), ctx(3));
    const third = await m.waitFor(3);
    assert.ok(!third.ok && third.error.code === 'INVALID_COMMAND');
    await m.stop();
    await db.close();

    // Restart: the database is at 3; the replica re-learns the log (here: from a snapshot) and goes on.
    db = await openAccountDb(path, { durable: false });
    const again = new AccountsApp();
    m = materializer(db, again);
    await m.start();
    assert.is(m.position, 3);
    again.restore(app.snapshot());
    again.execute(encodeAccountOp(create('gw2.example')), ctx(4));
    const fourth = await m.waitFor(4);
    assert.ok(fourth.ok);
    assert.equal((await listAccounts(db)).map((a) => a.name), ['gw1.example', 'gw2.example']);
    await m.stop();
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lagging database catches up from a snapshot and ends with the same digest as one that applied every command', async () => {
  const ops = ['a.example', 'b.example', 'c.example', 'd.example'].map((n) => encodeAccountOp(create(n)));
  const leader = new AccountsApp();
  const dbA = await openAccountDb(':memory:', { durable: false });
  const mA = materializer(dbA, leader);
  await mA.start();
  ops.forEach((op, i) => leader.execute(op, ctx(i + 1)));
  await mA.waitFor(4);

  const follower = new AccountsApp();
  const dbB = await openAccountDb(':memory:', { durable: false });
  const mB = materializer(dbB, follower);
  await mB.start();
  follower.restore(leader.snapshot());
  await mB.waitFor(4);
  assert.is(await stateDigest(dbB), await stateDigest(dbA));
  await mA.stop();
  await mB.stop();
  await dbA.close();
  await dbB.close();
});

test('a database with a history the cluster does not have stops the node with the reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-mat-'));
  try {
    const path = join(dir, 'accounts.db');
    let db = await openAccountDb(path, { durable: false });
    const mine = new AccountsApp();
    let m = materializer(db, mine);
    await m.start();
    mine.execute(encodeAccountOp(create('mine.example')), ctx(1));
    await m.waitFor(1);
    await m.stop();
    await db.close();

    db = await openAccountDb(path, { durable: false });
    const cluster = new AccountsApp();
    const fatal: Error[] = [];
    m = materializer(db, cluster, fatal);
    await m.start();
    cluster.execute(encodeAccountOp(create('theirs.example')), ctx(1));
    cluster.execute(encodeAccountOp(create('other.example')), ctx(2));
    await new Promise((r) => setTimeout(r, 100));
    assert.is(fatal.length, 1);
    assert.match(fatal[0]!.message, /history the cluster does not have/);
    await m.waitFor(2).then(
      () => assert.unreachable('must not answer'),
      (e: Error) => assert.match(e.message, /history/),
    );
    await m.stop();
    await db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an object record with a layout of several KiB (a snapshot with many root chunks) goes through the log and applies', async () => {
  const app = new AccountsApp();
  const db = await openAccountDb(':memory:', { durable: false });
  const m = materializer(db, app);
  await m.start();
  app.execute(encodeAccountOp(create('gw1.example')), ctx(1));
  const layout = JSON.stringify({ v: 1, kind: 'snapshot', rootChunks: Array.from({ length: 64 }, (_, i) => i.toString(16).padStart(64, '0')) });
  assert.ok(layout.length > 4096);
  app.execute(encodeAccountOp({ type: 'RecordObject', account: 1, objectId: 'snapshot:s1', bytes: 0, atMs: T, layout }), ctx(2));
  const r = await m.waitFor(2);
  assert.ok(r.ok, JSON.stringify(r));
  assert.is((await db.get<{ layout: string }>('SELECT layout FROM objects WHERE object_id = ?', ['snapshot:s1']))?.layout, layout);
  await m.stop();
  await db.close();
});

test('RecordObjects records a batch in one command, skips what is recorded already, and adds up the usage', async () => {
  const app = new AccountsApp();
  const db = await openAccountDb(':memory:', { durable: false });
  const m = materializer(db, app);
  await m.start();
  app.execute(encodeAccountOp(create('gw1.example')), ctx(1));
  const objects = Array.from({ length: 300 }, (_, i) => ({ objectId: `chunk:${i.toString(16).padStart(64, '0')}`, bytes: 1000 + i, layout: JSON.stringify({ v: 1, n: i, pad: 'x'.repeat(300) }) }));
  app.execute(encodeAccountOp({ type: 'RecordObjects', account: 1, atMs: T, objects: objects.slice(0, 200) }), ctx(2));
  app.execute(encodeAccountOp({ type: 'RecordObjects', account: 1, atMs: T, objects: objects.slice(150) }), ctx(3));
  const [first, second] = [await m.waitFor(2), await m.waitFor(3)];
  assert.ok(first.ok && second.ok, JSON.stringify([first, second]).slice(0, 300));
  if (!first.ok || !second.ok) return;
  assert.is((first.value.recorded as string[]).length, 200);
  assert.is((second.value.recorded as string[]).length, 100);
  assert.is((second.value.existed as string[]).length, 50);
  const a = await db.get<{ used_bytes: number; object_count: number }>('SELECT used_bytes, object_count FROM accounts WHERE number = 1');
  assert.equal(a, { used_bytes: objects.reduce((n, o) => n + o.bytes, 0), object_count: 300 });
  await m.stop();
  await db.close();
});

const validConfig = () => ({
  cluster: 'dc1',
  node: 'agg1.dc1.internal',
  rack: 'rack1',
  dataDir: 'data',
  pkiDir: '../pki',
  keys: { replica: 'replica.key', submitter: 'submitter.key', monitor: '../monitor.key' },
  replicas: [{ name: 'agg1.dc1.internal', host: '127.0.0.1', port: 7400, publicKey: 'ab'.repeat(32) }],
  submitters: [{ name: 'agg1-submit.dc1.internal', publicKey: 'cd'.repeat(32) }],
  submitter: 'agg1-submit.dc1.internal',
  mqtt: { url: 'mqtt://127.0.0.1:7600', embedded: null },
  api: { host: '127.0.0.1', port: 7500 },
  monitor: { adminContact: 'root@localhost' },
});

test('the node config: paths resolve against its directory; a bad field is named', () => {
  const c = parseNodeConfig(validConfig(), '/srv/c/agg1/node.json');
  assert.is(c.id, 0);
  assert.is(c.dataDir, '/srv/c/agg1/data');
  assert.is(c.keys.monitor, '/srv/c/monitor.key');
  assert.is(c.monitor.silenceFactor, 2);
  const bad = (mutate: (v: ReturnType<typeof validConfig>) => void, field: string) => {
    const v = validConfig();
    mutate(v);
    try {
      parseNodeConfig(v, '/srv/c/agg1/node.json');
      assert.unreachable(`accepted a bad ${field}`);
    } catch (e) {
      assert.ok(e instanceof BaksaError, String(e));
      assert.is((e as BaksaError).details?.field, field, (e as Error).message);
    }
  };
  bad((v) => (v.replicas[0]!.port = 70000), 'replicas.0.port');
  bad((v) => (v.replicas[0]!.publicKey = 'xyz'), 'replicas.0.publicKey');
  bad((v) => Object.assign(v.replicas[0]!, { agentUrl: 'http://gw-facing.example:7500' }), 'replicas.0.agentUrl');
  bad((v) => (v.node = 'agg9.dc1.internal'), 'node');
  bad((v) => (v.submitter = 'nobody.dc1.internal'), 'submitter');
  bad((v) => (v.mqtt.url = 'http://x'), 'mqtt.url');
  bad((v) => Object.assign(v, { extra: 1 }), '(top level)');
});

test.run();
