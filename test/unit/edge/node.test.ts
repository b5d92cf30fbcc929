/**
 * Three EdgeNodes in one process over a real aedes broker, each with its own shard store on disk: a
 * transaction's shards land on distinct members, committed there by a quorum-signed block every member
 * holds; peers answer shard reads; a minority refuses to commit; a restarted node keeps its pinned keys
 * and its chain.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeNode } from '../../../agent/edge/node.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { FsShardStore } from '../../../shared/storage/index.ts';
import { BaksaError } from '../../../shared/errors.ts';
import { startAedes, type TestBroker } from '../../helpers/brokers.ts';
import { until } from '../../helpers/wait.ts';
import { chunkShards, sha, type Member } from './_members.ts';

const NAMES = ['gw-a', 'gw-b', 'gw-c'];

let root: string;
let broker: TestBroker;
const members: Member[] = [];

async function startMember(m: Member): Promise<EdgeNode> {
  m.store = await FsShardStore.open({ volumes: [join(m.dir, 'shards')], volumeReserveBytes: 0 });
  m.node = await EdgeNode.start({ self: m.name, site: 'plant', members: NAMES, broker: broker.url, signer: m.key, dir: join(m.dir, 'edge'), store: m.store, peerReadTimeoutMs: 1500, quorumWaitMs: 1000 });
  return m.node;
}


test.before(async () => {
  root = await mkdtemp(join(tmpdir(), '2baksa-edge-'));
  broker = await startAedes();
  for (const name of NAMES) members.push({ name, key: generateSigningKey(), dir: join(root, name), store: undefined as never });
  await Promise.all(members.map(startMember));
});

test.after(async () => {
  for (const m of members) {
    await m.node?.close().catch(() => undefined);
    await m.store?.close().catch(() => undefined);
  }
  await broker.stop();
  await rm(root, { recursive: true, force: true });
});

test('a transaction commits its shards on distinct members, in a block every member holds', async () => {
  const a = members[0]!.node!;
  await until('all members online at a', () => a.liveMembers().length === 3, 10_000);
  const shards = [...chunkShards(1, 3), ...chunkShards(2, 3)];
  const committed = await a.commit({ account: 'acct', snapshotId: 's1', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards });
  assert.is(committed.record.shards.length, 6);
  for (const chunk of [shards[0]!.chunk, shards[3]!.chunk]) {
    const nodes = committed.record.shards.filter((s) => Buffer.compare(s.chunk, chunk) === 0).map((s) => s.node);
    assert.is(new Set(nodes).size, 3, 'one shard of a chunk per gateway');
  }
  assert.ok(committed.record.signatures.length >= 2, 'signed by the placement targets');
  await until('every member has the block', () => members.every((m) => m.node!.blocks() > committed.height), 10_000);
  for (const placed of committed.record.shards) {
    const holder = members.find((m) => m.name === placed.node)!;
    const id = Buffer.from(placed.hash).toString('hex');
    await until(`${placed.node} committed ${id.slice(0, 8)}`, () => holder.store.has(id), 10_000);
    const read = await a.readShard(placed.node, id);
    assert.equal(sha(read), placed.hash);
  }
});

test('cluster status reports every member and its ledger height', async () => {
  const status = await members[1]!.node!.clusterStatus();
  assert.equal(status.map((s) => s.id), NAMES);
  for (const s of status) {
    assert.is(s.status, 'online');
    assert.ok((s.blocks ?? 0) >= 1, `${s.id} has blocks`);
  }
});

test('a gateway set up with another member list counts the members as mismatched and refuses to commit; they go on', async () => {
  const m: Member = { name: 'gw-x', key: generateSigningKey(), dir: join(root, 'gw-x'), store: undefined as never };
  m.store = await FsShardStore.open({ volumes: [join(m.dir, 'shards')], volumeReserveBytes: 0 });
  // gw-a and gw-b list gw-c as their third member; gw-x lists itself instead.
  const x = await EdgeNode.start({ self: 'gw-x', site: 'plant', members: ['gw-a', 'gw-b', 'gw-x'], broker: broker.url, signer: m.key, dir: join(m.dir, 'edge'), store: m.store, quorumWaitMs: 500 });
  try {
    const status = await x.clusterStatus(500);
    assert.equal(status.map((s) => [s.id, s.status]), [['gw-a', 'mismatched'], ['gw-b', 'mismatched'], ['gw-x', 'online']]);
    assert.equal(x.liveMembers(), ['gw-x']);
    assert.equal(x.mismatchedMembers(), ['gw-a', 'gw-b']);
    try {
      await x.commit({ account: 'acct', snapshotId: 'sx', manifestRoot: new Uint8Array(32), dataShards: 1, parityShards: 1, shards: chunkShards(9, 2) });
      assert.unreachable('a gateway whose member list the others do not share must not commit');
    } catch (error) {
      assert.instance(error, BaksaError);
      assert.is((error as BaksaError).code, 'EDGE_NO_QUORUM');
      assert.match((error as BaksaError).message, /gw-a, gw-b were set up with another member list/);
    }
    // The cluster itself is unaffected: its members still see each other and commit.
    const a = members[0]!.node!;
    assert.equal(a.liveMembers(), NAMES);
    assert.equal(a.mismatchedMembers(), []);
    const committed = await a.commit({ account: 'acct', snapshotId: 's-x', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards: chunkShards(10, 3) });
    assert.is(committed.record.shards.length, 3);
  } finally {
    await x.close().catch(() => undefined);
    await m.store.close().catch(() => undefined);
  }
});

test('a read of a shard a member does not hold is refused with the code', async () => {
  const a = members[0]!.node!;
  try {
    await a.readShard('gw-b', 'f'.repeat(64));
    assert.unreachable();
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, 'SHARD_MISSING');
  }
});

test('a member serves a shard it holds staged, before it learns the commit', async () => {
  const [a, b] = members as [Member, Member];
  // As a member holds its new shards between the quorum's decision and the block reaching it.
  const data = chunkShards(7, 1)[0]!.data;
  const id = await b.store.putStaged('ab'.repeat(16), data);
  assert.not.ok(await b.store.has(id), 'not committed on gw-b');
  assert.equal(sha(await a.node!.readShard('gw-b', id)), sha(data));
  assert.equal(sha(await b.node!.readShard('gw-b', id)), sha(data), 'and to itself');
  await b.store.abort('ab'.repeat(16));
  try {
    await a.node!.readShard('gw-b', id);
    assert.unreachable();
  } catch (error) {
    assert.is((error as BaksaError).code, 'SHARD_MISSING');
  }
});

test('with two members gone, the last one refuses to commit (no quorum) and a restarted member rejoins', async () => {
  // uvu prints nothing for a failure that carries `details` (as BaksaError does): say what it was
  await t4().catch((e: Error & { code?: string }) => {
    throw new Error(`${e.code ?? ''} ${e.message}`);
  });
});
async function t4() {
  const [a, b, c] = members as [Member, Member, Member];
  const height = a.node!.blocks();
  await b.node!.close({ orderly: true });
  await c.node!.close({ orderly: true });
  await until('a sees b and c offline', () => a.node!.liveMembers().length === 1, 10_000);
  await until('a counts b and c gone after a moment', () => a.node!.goneMembers(300).length === 2, 10_000);
  assert.equal(a.node!.goneMembers(300), ['gw-b', 'gw-c']);
  assert.equal(a.node!.goneMembers(3_600_000), [], 'not gone for an hour');
  try {
    await a.node!.commit({ account: 'acct', snapshotId: 's2', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards: chunkShards(3, 3) });
    assert.unreachable();
  } catch (error) {
    assert.is((error as BaksaError).code, 'EDGE_NO_QUORUM');
  }
  await b.store.close();
  await c.store.close();
  await startMember(b);
  await startMember(c);
  assert.is(b.node!.blocks(), height, 'the chain survived the restart');
  await until('a sees all online again', () => a.node!.liveMembers().length === 3, 10_000);
  await until('b sees all online', () => b.node!.liveMembers().length === 3, 10_000);
  const committed = await b.node!.commit({ account: 'acct', snapshotId: 's3', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards: chunkShards(4, 3) });
  assert.ok(committed.height >= height);
}

test('cut off from the site broker, a node reports the others as unknown, not as they last were', async () => {
  const own = await startAedes();
  const pair: Member[] = ['gw-p', 'gw-q'].map((name) => ({ name, key: generateSigningKey(), dir: join(root, name), store: undefined as never }));
  const nodes: EdgeNode[] = [];
  try {
    for (const m of pair) m.store = await FsShardStore.open({ volumes: [join(m.dir, 'shards')], volumeReserveBytes: 0 });
    // Together: each waits for the other's birth to pin its key.
    nodes.push(...(await Promise.all(pair.map((m) => EdgeNode.start({
      self: m.name, site: 'pair', members: ['gw-p', 'gw-q'], broker: own.url, signer: m.key, dir: join(m.dir, 'edge'), store: m.store, peerReadTimeoutMs: 500,
    })))));
    const p = nodes[0]!;
    await until('p sees q online', () => p.liveMembers().length === 2, 10_000);
    assert.equal((await p.clusterStatus()).map((s) => s.status), ['online', 'online']);
    await own.stop();
    await until('p notices the broker is gone', () => !p.connected(), 10_000);
    const status = await p.clusterStatus();
    assert.equal(status.map((s) => [s.id, s.status]), [['gw-p', 'online'], ['gw-q', 'unknown']]);
  } finally {
    for (const n of nodes) await n.close({ orderly: false }).catch(() => undefined);
    for (const m of pair) await m.store?.close().catch(() => undefined);
  }
});

test('a node still looking for its site broker stops when told to (EDGE_CLOSED), instead of waiting for it', async () => {
  const key = generateSigningKey();
  const dir = join(root, 'no-broker');
  const store = await FsShardStore.open({ volumes: [join(dir, 'shards')], volumeReserveBytes: 0 });
  const stop = new AbortController();
  try {
    const starting = EdgeNode.start({ self: 'gw-n', site: 'plant', members: ['gw-n', 'gw-o'], broker: 'mqtt://127.0.0.1:1', signer: key, dir: join(dir, 'edge'), store, signal: stop.signal });
    const outcome = starting.then(() => 'started', (e: BaksaError) => e.code);
    setTimeout(() => stop.abort(), 300);
    // Without the stop reaching the connection, the start waits for a broker that never comes.
    const waited = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 20_000))]);
    assert.is(waited, 'EDGE_CLOSED');
  } finally {
    await store.close();
  }
});

test('a lone gateway (a cluster of one) commits on its own', async () => {
  const key = generateSigningKey();
  const dir = join(root, 'lone');
  const store = await FsShardStore.open({ volumes: [join(dir, 'shards')], volumeReserveBytes: 0 });
  const node = await EdgeNode.start({ self: 'gw-lone', site: 'plant', members: ['gw-lone'], broker: broker.url, signer: key, dir: join(dir, 'edge'), store });
  try {
    const committed = await node.commit({ account: 'acct', snapshotId: 'l1', manifestRoot: new Uint8Array(32), dataShards: 1, parityShards: 0, shards: chunkShards(9, 1) });
    assert.equal(committed.record.shards.map((s) => s.node), ['gw-lone']);
    await until('the shard is committed', () => store.has(Buffer.from(committed.record.shards[0]!.hash).toString('hex')), 10_000);
  } finally {
    await node.close();
    await store.close();
  }
});

test.run();
