/**
 * A gateway joins a running three-member edge cluster as a storage member (shared/ledger/members.ts),
 * in one process over a real aedes broker: it waits until a validator admits its key, then receives
 * shards of new transactions, answers reads, commits its own transactions through the validators, and
 * keeps its membership across a restart. Bad admissions are refused with their reason.
 */
import { test as uvuTest } from 'uvu';
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

/** uvu prints nothing for a failure whose error carries `details` (as BaksaError does): say what it was. */
const test = Object.assign(
  (name: string, fn: () => Promise<void>) =>
    uvuTest(name, () =>
      fn().catch((e: Error & { code?: string }) => {
        throw new Error(`${e.code ?? ''} ${e.message}\n${e.stack ?? ''}`);
      }),
    ),
  { before: uvuTest.before, after: uvuTest.after, run: uvuTest.run },
);

const VALIDATORS = ['gw-a', 'gw-b', 'gw-c'];
const JOINER = 'gw-d';
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let root: string;
let broker: TestBroker;
const members: Member[] = [];
let joiner: Member;

async function startMember(m: Member, joining = false): Promise<EdgeNode> {
  m.store = await FsShardStore.open({ volumes: [join(m.dir, 'shards')], volumeReserveBytes: 0 });
  m.node = await EdgeNode.start({
    self: m.name,
    site: 'plant',
    members: VALIDATORS,
    ...(joining ? { join: true } : {}),
    broker: broker.url,
    signer: m.key,
    dir: join(m.dir, 'edge'),
    store: m.store,
    peerReadTimeoutMs: 1500,
    quorumWaitMs: 1000,
  });
  return m.node;
}


const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof BaksaError ? e.code : String(e)),
  );

test.before(async () => {
  root = await mkdtemp(join(tmpdir(), '2baksa-join-'));
  broker = await startAedes();
  for (const name of VALIDATORS) members.push({ name, key: generateSigningKey(), dir: join(root, name), store: undefined as never });
  joiner = { name: JOINER, key: generateSigningKey(), dir: join(root, JOINER), store: undefined as never };
  await Promise.all(members.map((m) => startMember(m)));
});

test.after(async () => {
  for (const m of [...members, joiner]) {
    await m.node?.close().catch(() => undefined);
    await m.store?.close().catch(() => undefined);
  }
  await broker.stop();
  await rm(root, { recursive: true, force: true });
});

test('a joining gateway waits for its admission, then every member counts it', async () => {
  const a = members[0]!.node!;
  await until('validators online', () => a.liveMembers().length === 3, 10_000);
  // Some history before the join: the joiner syncs it from genesis.
  await a.commit({ account: 'gw-a', snapshotId: 'before', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, shards: chunkShards(1, 3) });
  let started = false;
  const starting = startMember(joiner, true).then((n) => {
    started = true;
    return n;
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.not.ok(started, 'not serving before it is admitted');
  const { height } = await a.admit(JOINER, joiner.key.publicKey);
  const d = await starting;
  assert.ok(d.isStorageMember);
  assert.equal(d.members, [...VALIDATORS, JOINER]);
  assert.ok(d.blocks() > height, 'the joiner synced the chain through its admission');
  for (const m of members) await until(`${m.name} counts ${JOINER}`, () => m.node!.members.includes(JOINER), 10_000);
  assert.is(hex(members[1]!.node!.memberKey(JOINER)!), hex(joiner.key.publicKey));
  assert.is(a.quorum(), 2, 'quorums count validators only');
  const status = await members[2]!.node!.clusterStatus();
  const row = status.find((s) => s.id === JOINER)!;
  assert.is(row.role, 'storage');
  assert.is(row.admittedAt, height);
  assert.is(status.find((s) => s.id === 'gw-a')!.role, 'validator');
});

test('new transactions place shards on the storage member, which commits them and answers reads', async () => {
  const b = members[1]!.node!;
  await until('b sees four members online', () => b.liveMembers().length === 4, 10_000);
  const committed = await b.commit({ account: 'gw-b', snapshotId: 'after', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 2, shards: chunkShards(2, 4) });
  const onJoiner = committed.record.shards.filter((s) => s.node === JOINER);
  assert.is(onJoiner.length, 1, 'one shard of the 2+2 chunk on each of the four members');
  assert.ok(committed.record.signatures.some((s) => s.signer === JOINER), 'the storage member signed as a placement target');
  const id = hex(onJoiner[0]!.hash);
  await until('the joiner committed its shard', () => joiner.store.has(id), 10_000);
  assert.equal(sha(await b.readShard(JOINER, id)), onJoiner[0]!.hash);
});

test('the storage member commits its own transactions through the validators', async () => {
  const d = joiner.node!;
  await until('d sees four members online', () => d.liveMembers().length === 4, 10_000);
  const committed = await d.commit({ account: JOINER, snapshotId: 'own', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 2, shards: chunkShards(3, 4) });
  assert.equal(new Set(committed.record.shards.map((s) => s.node)), new Set([...VALIDATORS, JOINER]));
  for (const m of members) await until(`${m.name} holds the block`, () => m.node!.blocks() > committed.height, 10_000);
  const id = hex(committed.record.shards.find((s) => s.node === 'gw-c')!.hash);
  assert.equal(sha(await d.readShard('gw-c', id)), committed.record.shards.find((s) => s.node === 'gw-c')!.hash);
});

test('bad admissions are refused with their reason', async () => {
  const a = members[0]!.node!;
  const admittedAt = (await a.clusterStatus()).find((s) => s.id === JOINER)!.admittedAt!;
  const blocks = a.blocks();
  assert.equal(await a.admit(JOINER, joiner.key.publicKey), { height: admittedAt }, 'admitting again with the same key changes nothing');
  assert.is(a.blocks(), blocks);
  assert.is(await codeOf(a.admit(JOINER, generateSigningKey().publicKey)), 'EDGE_MEMBER_EXISTS');
  assert.is(await codeOf(a.admit('gw-b', generateSigningKey().publicKey)), 'EDGE_MEMBER_EXISTS');
  assert.is(await codeOf(a.admit('gw-e', joiner.key.publicKey)), 'EDGE_ADMIT_REFUSED', "another member's key");
  assert.is(await codeOf(joiner.node!.admit('gw-e', generateSigningKey().publicKey)), 'EDGE_NOT_VALIDATOR');
});

test('a restarted storage member is still one, without a new admission', async () => {
  const height = joiner.node!.blocks();
  await joiner.node!.close({ orderly: true });
  await joiner.store.close();
  const d = await startMember(joiner, true);
  assert.ok(d.blocks() >= height);
  assert.ok(d.members.includes(JOINER));
  await until('d sees four members online', () => d.liveMembers().length === 4, 10_000);
  const committed = await d.commit({ account: JOINER, snapshotId: 'again', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 2, shards: chunkShards(4, 4) });
  assert.ok(committed.height > height - 1);
});

test.run();
