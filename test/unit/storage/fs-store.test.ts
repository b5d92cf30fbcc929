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

test('recovery on open: a staged shard torn by a power loss (bytes not matching its name) is removed', async () => {
  const dir = freshDir();
  let store = await open([dir]);
  const good = bytes(800);
  const goodId = await store.putStaged('tx-torn', good);
  const lostId = await store.putStaged('tx-torn', bytes(900));
  await store.close();
  // Unsynced staging written just before a power loss: the name made it to disk, the bytes did not.
  writeFileSync(join(dir, 'staging', 'tx-torn', lostId), Buffer.alloc(0));
  store = await open([dir]);
  assert.is(store.recovery.tornStagedRemoved, 1);
  assert.equal((await store.stagedTransactions()).map((t) => t.shardIds), [[goodId]]);
  await store.commit('tx-torn');
  assert.equal(Buffer.from(await store.get(goodId)), Buffer.from(good));
  assert.not.ok(await store.has(lostId));
  await store.close();
});

test('group commit: staging fsyncs nothing; syncStaged fsyncs each file once; commit only what is left', async () => {
  const dir = freshDir();
  const store = await open([dir], { backgroundFsyncMax: 0 });
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => store.putStaged('tx-group', bytes(100 + i))));
  assert.equal(store.stagingSyncCounts, { files: 0, dirs: 0, filesInBackground: 0 });
  await store.syncStaged('tx-group');
  assert.equal(store.stagingSyncCounts, { files: 20, dirs: 2, filesInBackground: 0 }); // the tx dir and staging/, once each
  await store.syncStaged('tx-group');
  assert.equal(store.stagingSyncCounts, { files: 20, dirs: 2, filesInBackground: 0 }); // nothing new: nothing to do
  const late = await store.putStaged('tx-group', bytes(5));
  await store.commit('tx-group');
  assert.equal(store.stagingSyncCounts, { files: 21, dirs: 2, filesInBackground: 0 }); // only the late shard (the marker fsyncs the dir)
  for (const id of [...ids, late]) assert.ok(await store.has(id));
  await store.close();
});

test('write-behind: background fsyncs and the sync together fsync every staged file exactly once', async () => {
  const dir = freshDir();
  const store = await open([dir], { backgroundFsyncMax: 2 });
  const datas = Array.from({ length: 40 }, (_, i) => bytes(2000 + i));
  for (const d of datas.slice(0, 30)) await store.putStaged('tx-wb', d);
  await Promise.all(datas.slice(30).map((d) => store.putStaged('tx-wb', d)));
  await store.putStaged('tx-wb', datas[0]!); // the same bytes again: a new file, fsynced again
  await store.syncStaged('tx-wb');
  const after = store.stagingSyncCounts;
  assert.ok(after.files === 40 || after.files === 41, `each file once (${after.files})`);
  assert.ok(after.filesInBackground <= after.files);
  await store.commit('tx-wb');
  assert.is(store.stagingSyncCounts.files, after.files, 'commit had nothing left to fsync');
  for (const d of datas) assert.equal(Buffer.from(await store.get(shardIdOf(d))), Buffer.from(d));
  // Abort with write-behind still busy: no fsync error escapes, nothing stays staged.
  await Promise.all(datas.map((d) => store.putStaged('tx-wb2', d)));
  await store.abort('tx-wb2');
  assert.equal(await store.stagedTransactions(), []);
  await store.close();
});

test('abort refuses a transaction whose commit has started', async () => {
  const dir = freshDir();
  const store = await open([dir]);
  const data = bytes(10);
  const id = shardIdOf(data);
  await store.putStaged('tx-m', data);
  // A commit that fails midway (as on EIO): the fan-out directory of the shard is not a directory.
  const fanout = join(dir, 'committed', id.slice(0, 2));
  rmSync(fanout, { recursive: true });
  writeFileSync(fanout, 'in the way');
  const failed = await store.commit('tx-m').then(() => false, () => true);
  assert.ok(failed, 'the commit failed midway');
  assert.ok(existsSync(join(dir, 'staging', 'tx-m', 'COMMITTING')), 'the marker was written before the failure');
  assert.is(await code(store.abort('tx-m')), 'TX_COMMITTING');
  assert.is(await code(store.putStaged('tx-m', bytes(10))), 'TX_COMMITTING');
  assert.equal(await store.stagedTransactions(), []); // not offered for rollback
  rmSync(fanout);
  mkdirSync(fanout);
  await store.commit('tx-m'); // only forward
  assert.is((await store.space())[0]!.shards, 1);
  assert.ok(await store.has(id));
  await store.close();
});

test('a marker left by an earlier process makes abort refuse the tx until recovery finishes it', async () => {
  const dir = freshDir();
  let store = await open([dir]);
  const id = await store.putStaged('tx-n', bytes(10));
  writeFileSync(join(dir, 'staging', 'tx-n', 'COMMITTING'), ''); // as a crash mid-commit leaves it
  assert.is(await code(store.abort('tx-n')), 'TX_COMMITTING');
  await store.close();
  store = await open([dir]);
  assert.equal(store.recovery.commitsFinished, ['tx-n']);
  assert.ok(await store.has(id));
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
  const damaged = await open([dir]).then(() => undefined, (e: BaksaError) => e);
  assert.is(damaged?.code, 'VOLUME_FORMAT');
  // The hint's own fix works: the name it suggests opens the volume again.
  const suggested = /echo '(\{[^']+\})'/.exec(damaged?.hint ?? '')?.[1];
  assert.ok(suggested, damaged?.hint);
  writeFileSync(join(dir, 'volume.json'), suggested!);
  await (await open([dir])).close();
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
