import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync, copyFileSync, linkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import { FsShardStore, shardIdOf, type FsShardStoreOptions } from '../../../shared/storage/index.ts';
import { runShardStoreContract } from './contract.ts';

const root = mkdtempSync(join(tmpdir(), 'baksa-store-'));
let n = 0;
const freshDir = () => join(root, `s${++n}`);
const open = (volumes: string[], extra: Partial<FsShardStoreOptions> = {}) =>
  FsShardStore.open({ volumes, volumeReserveBytes: 0, ...extra });

runShardStoreContract('FsShardStore, one volume', async () => {
  const dir = freshDir();
  return { store: await open([dir]), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

runShardStoreContract('FsShardStore, three volumes', async () => {
  const dir = freshDir();
  const store = await open([join(dir, 'a'), join(dir, 'b'), join(dir, 'c')]);
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

const bytes = (k: number) => new Uint8Array(randomBytes(k));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, BaksaError);
    return (err as BaksaError).code;
  }
  return 'no error';
}

test('layout: committed/ab/<id> holds exactly the bytes; volume.json names the volume', async () => {
  const dir = freshDir();
  const store = await open([dir]);
  const data = bytes(1234);
  const id = await store.put(data);
  const file = join(dir, 'committed', id.slice(0, 2), id);
  assert.equal(readFileSync(file), Buffer.from(data));
  const meta = JSON.parse(readFileSync(join(dir, 'volume.json'), 'utf8')) as { format: number; id: string };
  assert.is(meta.format, 1);
  assert.is((await store.space())[0]!.id, meta.id);
  await store.close();
  const again = await open([dir]);
  assert.is((await again.space())[0]!.id, meta.id);
  assert.equal(Buffer.from(await again.get(id)), Buffer.from(data));
  await again.close();
});

test('a rotted file on disk is reported SHARD_CORRUPT with id and volume; re-storing heals it', async () => {
  const dir = freshDir();
  const store = await open([dir]);
  const data = bytes(4096);
  const id = await store.put(data);
  const file = join(dir, 'committed', id.slice(0, 2), id);
  const bad = Buffer.from(data);
  bad[100] = bad[100]! ^ 0x10;
  writeFileSync(file, bad);
  try {
    await store.get(id);
    assert.unreachable('corrupt');
  } catch (err) {
    assert.is((err as BaksaError).code, 'SHARD_CORRUPT');
    assert.is((err as BaksaError).details?.id, id);
    assert.is((err as BaksaError).details?.volume, dir);
  }
  writeFileSync(file, bad.subarray(0, 10)); // torn
  assert.is(await code(store.get(id)), 'SHARD_CORRUPT');
  await store.putStaged('heal', data);
  await store.commit('heal');
  assert.equal(Buffer.from(await store.get(id)), Buffer.from(data));
  await store.close();
});

test('recovery on open: torn temp files and empty staging removed, unmarked tx stays staged', async () => {
  const dir = freshDir();
  let store = await open([dir]);
  const keep = bytes(700);
  const keepId = await store.putStaged('tx-keep', keep);
  await store.close();
  // A crash in the middle of writes: a short temp file in a tx dir, one in tmp/, an empty tx dir.
  writeFileSync(join(dir, 'staging', 'tx-keep', `${shardIdOf(bytes(9))}.abcdef012345.tmp`), Buffer.from('torn'));
  writeFileSync(join(dir, 'tmp', `${'e'.repeat(64)}.000000000000.tmp`), Buffer.from('torn'));
  mkdirSync(join(dir, 'staging', 'tx-empty'));
  writeFileSync(join(dir, 'staging', 'tx-empty', `${'f'.repeat(64)}.111111111111.tmp`), Buffer.from('x'));
  store = await open([dir]);
  assert.is(store.recovery.tempFilesRemoved, 3);
  assert.is(store.recovery.emptyStagingRemoved, 1);
  assert.equal(store.recovery.commitsFinished, []);
  assert.equal(readdirSync(join(dir, 'tmp')), []);
  assert.equal(readdirSync(join(dir, 'staging')), ['tx-keep']);
  assert.equal(readdirSync(join(dir, 'staging', 'tx-keep')), [keepId]);
  const staged = await store.stagedTransactions();
  assert.equal(staged.map((t) => [t.txId, t.shardIds]), [['tx-keep', [keepId]]]);
  await store.commit('tx-keep');
  assert.equal(Buffer.from(await store.get(keepId)), Buffer.from(keep));
  await store.close();
});

test('recovery on open: a commit interrupted midway is finished on every volume', async () => {
  const dir = freshDir();
  const vols = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')];
  let store = await open(vols);
  const datas = Array.from({ length: 12 }, (_, i) => bytes(100 + i));
  const ids = [];
  for (const d of datas) ids.push(await store.putStaged('tx-half', d));
  await store.close();
  // Simulate a crash during commit: the marker reached one volume, and one shard there was moved.
  const withTx = vols.filter((v) => existsSync(join(v, 'staging', 'tx-half')));
  assert.ok(withTx.length >= 2, 'shards spread over volumes');
  const first = withTx[0]!;
  writeFileSync(join(first, 'staging', 'tx-half', 'COMMITTING'), '');
  const moved = readdirSync(join(first, 'staging', 'tx-half')).find((f) => f !== 'COMMITTING')!;
  mkdirSync(join(first, 'committed', moved.slice(0, 2)), { recursive: true });
  renameSync(join(first, 'staging', 'tx-half', moved), join(first, 'committed', moved.slice(0, 2), moved));
  store = await open(vols);
  assert.equal(store.recovery.commitsFinished, ['tx-half']);
  for (let i = 0; i < datas.length; i++) assert.equal(Buffer.from(await store.get(ids[i]!)), Buffer.from(datas[i]!));
  assert.equal(await store.stagedTransactions(), []);
  for (const v of vols) assert.equal(readdirSync(join(v, 'staging')), []);
  await store.close();
});

test('recovery on open: a crash between link and unlink (shard in staging and committed) is finished', async () => {
  const dir = freshDir();
  let store = await open([dir]);
  const a = bytes(300);
  const b = bytes(400);
  const ida = await store.putStaged('tx-link', a);
  const idb = await store.putStaged('tx-link', b);
  await store.close();
  writeFileSync(join(dir, 'staging', 'tx-link', 'COMMITTING'), '');
  linkSync(join(dir, 'staging', 'tx-link', ida), join(dir, 'committed', ida.slice(0, 2), ida));
  store = await open([dir]);
  assert.equal(store.recovery.commitsFinished, ['tx-link']);
  assert.equal(Buffer.from(await store.get(ida)), Buffer.from(a));
  assert.equal(Buffer.from(await store.get(idb)), Buffer.from(b));
  assert.equal(readdirSync(join(dir, 'staging')), []);
  const [v] = await store.space();
  assert.is(v!.shards, 2);
  await store.close();
});

test('abort refuses a transaction whose commit has started', async () => {
  const dir = freshDir();
  const store = await open([dir]);
  await store.putStaged('tx-m', bytes(10));
  writeFileSync(join(dir, 'staging', 'tx-m', 'COMMITTING'), ''); // as if a commit failed midway (e.g. EIO)
  assert.is(await code(store.abort('tx-m')), 'TX_COMMITTING');
  assert.is(await code(store.putStaged('tx-m', bytes(10))), 'TX_COMMITTING');
  assert.equal(await store.stagedTransactions(), []); // not offered for rollback
  await store.commit('tx-m');
  assert.is((await store.space())[0]!.shards, 1);
  await store.close();
});

test('placement spreads shards over volumes; get finds a shard on any volume; list shows it once', async () => {
  const dir = freshDir();
  const vols = [join(dir, 'a'), join(dir, 'b'), join(dir, 'c')];
  const store = await open(vols);
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) ids.push(await store.put(bytes(64)));
  const perVolume = (await store.space()).map((v) => v.shards);
  assert.is(perVolume.reduce((a, b) => a + b, 0), 60);
  for (const count of perVolume) assert.ok(count > 5, `every volume gets shards: ${perVolume.join(',')}`);
  // Move one shard by hand to another volume (as an operator rebalancing would), and copy another.
  const id = ids[0]!;
  const rel = join('committed', id.slice(0, 2), id);
  const home = vols.find((v) => existsSync(join(v, rel)))!;
  const other = vols.find((v) => v !== home)!;
  mkdirSync(join(other, 'committed', id.slice(0, 2)), { recursive: true });
  renameSync(join(home, rel), join(other, rel));
  assert.ok(await store.has(id));
  assert.is(shardIdOf(await store.get(id)), id);
  const id2 = ids[1]!;
  const rel2 = join('committed', id2.slice(0, 2), id2);
  const home2 = vols.find((v) => existsSync(join(v, rel2)))!;
  const other2 = vols.find((v) => v !== home2)!;
  mkdirSync(join(other2, 'committed', id2.slice(0, 2)), { recursive: true });
  copyFileSync(join(home2, rel2), join(other2, rel2));
  const listed: string[] = [];
  for await (const x of store.list()) listed.push(x);
  assert.is(listed.length, 60);
  assert.equal(listed.sort(), [...ids].sort());
  assert.ok(await store.delete(id2));
  assert.not.ok(existsSync(join(home2, rel2)) || existsSync(join(other2, rel2)));
  await store.close();
});

test('the same shard id always prefers the same volume', async () => {
  const dir = freshDir();
  const vols = [join(dir, 'a'), join(dir, 'b')];
  const data = bytes(32);
  const s1 = await open(vols);
  const id = await s1.put(data);
  const home = vols.find((v) => existsSync(join(v, 'committed', id.slice(0, 2), id)));
  await s1.delete(id);
  await s1.putStaged('again', data);
  await s1.commit('again');
  assert.ok(existsSync(join(home!, 'committed', id.slice(0, 2), id)));
  await s1.close();
});

test('no room above the reserve on any volume is DISK_FULL', async () => {
  const dir = freshDir();
  const store = await open([dir], { volumeReserveBytes: Number.MAX_SAFE_INTEGER });
  assert.is(await code(store.put(bytes(10))), 'DISK_FULL');
  assert.is(await code(store.putStaged('t', bytes(10))), 'DISK_FULL');
  await store.close();
});

test('bad volume configuration is refused with a clear code', async () => {
  const dir = freshDir();
  const s = await open([dir]);
  await s.close();
  assert.is(await code(open([dir, join(dir, '.')])), 'CONFIG_INVALID'); // the same volume twice
  assert.is(await code(open([])), 'CONFIG_INVALID');
  assert.is(await code(open([join(freshDir(), 'missing')], { create: false })), 'VOLUME_FORMAT');
  writeFileSync(join(dir, 'volume.json'), '{"format":99,"id":"vol-0000000000000000"}');
  assert.is(await code(open([dir])), 'VOLUME_FORMAT');
  writeFileSync(join(dir, 'volume.json'), 'garbage');
  assert.is(await code(open([dir])), 'VOLUME_FORMAT');
});

test('space() is counted once by a walk, then kept up to date across reopen', async () => {
  const dir = freshDir();
  let store = await open([dir]);
  for (let i = 0; i < 5; i++) await store.put(bytes(1000));
  await store.close();
  store = await open([dir]);
  let [v] = await store.space();
  assert.is(v!.shards, 5);
  assert.is(v!.usedBytes, 5000);
  await store.put(bytes(10));
  [v] = await store.space();
  assert.is(v!.shards, 6);
  assert.is(v!.usedBytes, 5010);
  await store.close();
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test.run();
