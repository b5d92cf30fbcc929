// The edge cluster and the data-center cluster together, every part a real process: three gateways on
// Debian's mosquitto (harness.ts) and four `2baksa aggregator run` nodes.
// - The site is registered with its ledger keys; gateway 1 migrates with every chunk proven by the block
//   that committed it, while one aggregator node is killed -9 mid-migration: the migration completes,
//   restores byte-identical from the cloud, and the node, brought back, catches up to the same digest;
//   scrub reads the migrated chunks and copies the shards written two to a node while it was down.
// - Gateway 3 dies: only its leader (rendezvous order of its name among the live gateways) may migrate it;
//   the leader rebuilds its chunks from the two gateways left, and gateway 3's snapshot restores from the
//   cloud with gateway 3's own keys. Its quorum-signed receipt goes into the site ledger, so a second run
//   offers nothing.
// - Bytes flipped in shards of migrated chunks on one node: the restore is byte-identical, scrub heals them.
// - Retention on gateway 1 forgets its migrated snapshot: the shards of the chunks only it held are freed on
//   every member through the site ledger (gateway 3, down, when it is back); a snapshot that has not
//   migrated stays.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { freeBasePort } from '../../../cli/demo-data.ts';
import { loadTlsMaterial } from '../../../shared/crypto/pki.ts';
import { ApiClient } from '../../../shared/http/api-client.ts';
import { coordinatorOrder } from '../../../shared/placement/index.ts';
import { assertSameTree, snapshotTree } from '../../unit/agent/_helpers.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { cli, jsonLines, runCli, type RunningCli } from '../../helpers/cli.ts';
import { until } from '../../helpers/wait.ts';
import { NAMES, backup, ok, restoresIdentical, setUp, shardFiles, snapshotOf, startDaemon, tearDown, waitJoined, type Ctx, type Gateway } from './harness.ts';

interface CloudCtx extends Ctx {
  init: { nodes: Array<{ config: string; apiUrl: string }>; pkiDir: string; certificates: { admin: string; auditor: string } };
  nodes: Array<RunningCli | undefined>;
  snapshots: string[];
}

interface Status {
  accountCommandsApplied: number;
  accountsDigest: string;
}

const last = (out: string): Record<string, unknown> => (jsonLines(out).at(-1) ?? {}) as Record<string, unknown>;

const it = suite<CloudCtx>('edge cluster migrating into the aggregator cluster');

const startNode = async (ctx: CloudCtx, i: number): Promise<void> => {
  const p = runCli(['aggregator', 'run', '--config', ctx.init.nodes[i]!.config, '--json']);
  ctx.nodes[i] = p;
  await until(`aggregator node ${i + 1} ready`, () => p.out().includes('"event":"ready"') || p.child.exitCode !== null, 60_000);
  assert.ok(p.out().includes('"event":"ready"'), `aggregator node ${i + 1} did not start:\n${p.err().slice(-3000)}`);
};
const admin = (ctx: CloudCtx, i = 0) => ['--server', ctx.init.nodes[i]!.apiUrl, '--tls-dir', ctx.init.pkiDir, '--cert-name', ctx.init.certificates.admin];
const as = (ctx: CloudCtx, name: string, i: number) => ['--server', ctx.init.nodes[i]!.apiUrl, '--tls-dir', ctx.init.pkiDir, '--cert-name', name];
const status = async (ctx: CloudCtx, i: number): Promise<Status> => {
  const r = ok(await cli(['aggregator', 'status', '--server', ctx.init.nodes[i]!.apiUrl, '--tls-dir', ctx.init.pkiDir, '--cert-name', ctx.init.certificates.auditor, '--json']), `status of node ${i + 1}`);
  return JSON.parse(r.stdout) as Status;
};

/**
 * Ten scrub runs on every node (each reads a tenth of the objects it owns), summed. `aggregator scrub` is
 * this call; the API directly spares forty launches.
 */
async function scrubAll(ctx: CloudCtx): Promise<{ objects: number; shardsHealed: number; shardsRespread: number; failed: number }> {
  const tls = loadTlsMaterial(ctx.init.pkiDir, ctx.init.certificates.admin);
  const apis = ctx.init.nodes.map((n) => new ApiClient(n.apiUrl, tls));
  const sum = { objects: 0, shardsHealed: 0, shardsRespread: 0, failed: 0 };
  try {
    for (let round = 0; round < 10; round++) {
      for (const api of apis) {
        const r = (await api.request<{ objects: number; shardsHealed: number; shardsRespread: number; failed: unknown[] }>('POST', '/v1/node/scrub')).body;
        sum.objects += r.objects;
        sum.shardsHealed += r.shardsHealed;
        sum.shardsRespread += r.shardsRespread;
        sum.failed += r.failed.length;
      }
    }
  } finally {
    for (const api of apis) api.close();
  }
  return sum;
}

it.before(async (ctx) => {
  Object.assign(ctx, await setUp(true, { dataBytes: 2 * 1024 * 1024 }), { nodes: [], snapshots: [] });
  const basePort = await freeBasePort();
  const r = ok(await cli(['aggregator', 'init', '--dir', join(ctx.root, 'cluster'), '--nodes', '4', '--base-port', String(basePort), '--json']), 'aggregator init');
  ctx.init = last(r.stdout) as unknown as CloudCtx['init'];
  await Promise.all([0, 1, 2, 3].map((i) => startNode(ctx, i)));
  for (const name of NAMES) {
    ok(await cli(['accounts', 'create', '--name', name, ...admin(ctx), '--json']), `account ${name}`);
    ok(await cli(['pki', 'issue', '--dir', ctx.init.pkiDir, '--name', name, '--role', 'agent', '--json']), `certificate of ${name}`);
  }
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const runs = await Promise.all(ctx.gateways.map(backup));
  ctx.snapshots = runs.map((run, i) => snapshotOf(ok(run, `backup on ${NAMES[i]}`)));
  // The administrator registers the site's ledger keys (any gateway's validators.json): the three accounts are bound to it.
  const site = ok(await cli(['sites', 'register', 'plant', '--validators', join(ctx.gateways[0]!.state, 'edge', 'ledger', 'validators.json'), ...admin(ctx, 1), '--json']), 'sites register');
  assert.equal((JSON.parse(site.stdout) as { accounts: string[] }).accounts, [...NAMES].sort());
});
it.after(async (ctx) => {
  for (const n of ctx.nodes) if (n && n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  await Promise.all(ctx.nodes.map((n) => n?.exited));
  await tearDown(ctx);
});

it('ledger-verified migration survives kill -9 of an aggregator node mid-way; the node catches up', async (ctx) => {
  const g1 = ctx.gateways[0]!;
  // Paced, so the kill falls inside the run.
  const migrating = runCli(['migrate', '--state', g1.state, ...as(ctx, g1.name, 0), '--bandwidth', '768K', '--ignore-window', '--json']);
  const sent = () => jsonLines(migrating.out()).some((l) => l.message_type === 'status' && (l.chunks_sent as number) > 0);
  await until('the migration sent its first chunks', () => sent() || migrating.child.exitCode !== null, 60_000);
  const midway = migrating.child.exitCode === null && !jsonLines(migrating.out()).some((l) => l.message_type === 'summary');
  ctx.nodes[2]!.child.kill('SIGKILL');
  await ctx.nodes[2]!.exited;
  const { code } = await migrating.exited;
  assert.is(code, 0, `migrate failed:\n${migrating.output().slice(-3000)}`);
  assert.ok(midway, 'node 3 was killed while the migration ran');
  const summary = last(migrating.out());
  assert.is(summary.snapshots_migrated, 1);
  assert.is(summary.site, 'plant');
  assert.ok((summary.chunks_sent as number) > 0);
  assert.is(summary.chunks_proven, summary.chunks_sent, 'every chunk sent was proven by a block of the site');

  const target = join(ctx.root, 'cloud-gw-1');
  ok(await cli(['restore', ctx.snapshots[0]!, '--from', 'cloud', '--state', g1.state, ...as(ctx, g1.name, 3), '--target', target, '--verify']), 'restore of gateway 1 from the cloud');
  assertSameTree(snapshotTree(join(target, g1.source)), snapshotTree(g1.source));

  await startNode(ctx, 2);
  let all: Status[] = [];
  await until('aggregator node 3 caught up', async () => {
    all = await Promise.all([0, 1, 2, 3].map((i) => status(ctx, i)));
    return new Set(all.map((s) => s.accountCommandsApplied)).size === 1 && new Set(all.map((s) => s.accountsDigest)).size === 1;
  }, 60_000, () => JSON.stringify(all));

  // Chunks written while node 3 was down hold two shards on one node (2+2 on 4 nodes): scrub (a tenth of
  // each node's objects a run, so ten runs) reads the migrated chunks too and copies those shards to node 3.
  const first = await scrubAll(ctx);
  assert.ok(first.objects >= (summary.chunks_sent as number), `the scrubs read the migrated chunks: ${JSON.stringify(first)}`);
  assert.ok(first.shardsRespread > 0, `stripes written with node 3 down are spread again: ${JSON.stringify(first)}`);
  assert.is(first.failed, 0);
  const second = await scrubAll(ctx);
  assert.is(second.shardsRespread, 0, 'spread once');
});

it("a dead gateway's snapshots are migrated by its leader from the shards the others hold", async (ctx) => {
  const g3 = ctx.gateways[2]!;
  g3.daemon!.child.kill('SIGKILL');
  await g3.daemon!.exited;
  for (const g of ctx.gateways.slice(0, 2)) await waitJoined(g, 2, ctx.gateways.slice(0, 2));
  const leaderName = coordinatorOrder(g3.name, NAMES.slice(0, 2).map((id) => ({ id })))[0]!;
  const leader = ctx.gateways.find((g) => g.name === leaderName)!;
  const other = ctx.gateways.find((g) => g !== leader && g !== g3)!;

  const refused = await cli(['migrate', '--gone', g3.name, '--state', other.state, ...as(ctx, other.name, 1)]);
  assert.is(refused.code, 2);
  assert.match(refused.stderr, new RegExp(`${leaderName.replace(/\./g, '\\.')} is the leader`));

  const r = ok(await cli(['migrate', '--gone', g3.name, '--state', leader.state, ...as(ctx, leader.name, 1), '--json']), 'migrate --gone');
  const summary = last(r.stdout);
  assert.is(summary.leader, leader.name);
  assert.is(summary.snapshots_migrated, 1);
  assert.equal(summary.snapshots_incomplete, []);
  assert.ok((summary.chunks_sent as number) > 0);
  assert.is(summary.chunks_proven, summary.chunks_sent);
  assert.equal((summary.snapshots as Array<{ snapshot_id: string }>).map((s) => s.snapshot_id), [ctx.snapshots[2]]);

  // Its owner's keys restore it (the leader never had them).
  const target = join(ctx.root, 'cloud-gw-3');
  ok(await cli(['restore', 'latest', '--from', 'cloud', '--state', g3.state, ...as(ctx, g3.name, 0), '--target', target, '--verify']), 'restore of gateway 3 from the cloud');
  assertSameTree(snapshotTree(join(target, g3.source)), snapshotTree(g3.source));

  // Its receipt is in the site ledger now: a second run (on the leader, from any node) offers nothing.
  const again = last(ok(await cli(['migrate', '--gone', g3.name, '--state', leader.state, ...as(ctx, leader.name, 3), '--json']), 'migrate --gone again').stdout);
  assert.equal([again.snapshots_migrated, again.snapshots_skipped, again.chunks_offered, again.chunks_sent], [0, 1, 0, 0]);
});

it('flipped bytes in shards of migrated chunks: the restore from the cloud is byte-identical, and scrub heals them in place', async (ctx) => {
  const g1 = ctx.gateways[0]!;
  const volume = join(dirname(ctx.init.nodes[1]!.config), 'data', 'volume1', 'committed');
  const files = readdirSync(volume, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
  assert.ok(files.length >= 3, `node 2 holds shards (${files.length})`);
  const victims = files.slice(0, 3);
  for (const v of victims) {
    const bytes = readFileSync(v);
    bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
    writeFileSync(v, bytes);
  }
  const target = join(ctx.root, 'cloud-gw-1-again');
  ok(await cli(['restore', ctx.snapshots[0]!, '--from', 'cloud', '--state', g1.state, ...as(ctx, g1.name, 1), '--target', target, '--verify']), 'restore with flipped shards');
  assertSameTree(snapshotTree(join(target, g1.source)), snapshotTree(g1.source));
  const scrubbed = await scrubAll(ctx);
  assert.is(scrubbed.failed, 0);
  const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
  for (const v of victims) assert.is(sha(v), basename(v), `${basename(v).slice(0, 12)} is healed in place`);
});

/** Every shard of gateway `g`'s chunks, by the catalog: shard id → the member holding it. */
async function shardsOf(g: Gateway): Promise<Map<string, string>> {
  const catalog = await Catalog.open(join(g.state, 'catalog.db'));
  try {
    const out = new Map<string, string>();
    for (let page = await catalog.chunkPage('', 1000); page.length > 0; page = await catalog.chunkPage(page.at(-1)!.id, 1000)) {
      for (const c of page) for (const shard of c.shards) out.set(shard.shardId, shard.location);
    }
    return out;
  } finally {
    await catalog.close();
  }
}

function filesOf(g: Gateway): Set<string> {
  return new Set(shardFiles(join(g.state, 'shards')).map((f) => basename(f)));
}

it("retention frees a migrated snapshot's shards on every member through the site ledger; an unmigrated one stays", async (ctx) => {
  const [g1, g2, g3] = ctx.gateways as [Gateway, Gateway, Gateway];
  // A file leaves gateway 1's logs, so its chunks are referenced by the migrated snapshot only.
  const gone = readdirSync(g1.source, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort()[0]!;
  rmSync(gone);
  const second = snapshotOf(ok(await backup(g1), 'second backup on gateway 1'));
  const before = await shardsOf(g1);

  const r = ok(await cli(['forget', '--state', g1.state, '--keep-last', '1', '--json']), 'forget on gateway 1');
  const forgot = JSON.parse(r.stdout) as { remove: Array<{ id: string }>; released?: { snapshots: number; chunks: number; notices: number } };
  assert.equal(forgot.remove.map((x) => x.id), [ctx.snapshots[0]], 'the migrated snapshot goes');
  assert.ok(forgot.released && forgot.released.chunks > 0 && forgot.released.notices === 1, `released: ${r.stdout}`);

  const after = await shardsOf(g1);
  const freed = [...before].filter(([id]) => !after.has(id));
  assert.ok(freed.length > 0, 'chunks of the deleted file are freed');
  const holders = new Map(ctx.gateways.map((g) => [g.name, g]));
  const stillThere = (g: Gateway, ids: string[]) => {
    const files = filesOf(g);
    return ids.filter((id) => files.has(id));
  };
  const freedOn = (g: Gateway) => freed.filter(([, at]) => at === g.name).map(([id]) => id);
  for (const g of [g1, g2]) {
    assert.ok(freedOn(g).length > 0, `${g.name} held shards of the freed chunks`);
    await until(`${g.name} frees its shards of the forgotten snapshot`, () => stillThere(g, freedOn(g)).length === 0, 120_000, () => `${stillThere(g, freedOn(g)).join(', ')} left\n${g.daemon!.output().slice(-4000)}`);
  }
  for (const [id, at] of after) assert.ok(at === g3.name || filesOf(holders.get(at)!).has(id), `kept shard ${id.slice(0, 12)} is still on ${at}`);
  assert.ok(stillThere(g3, freedOn(g3)).length > 0, 'gateway 3 is down: its shards wait for it');
  await restoresIdentical(g1, second, join(ctx.root, 'after-release'));

  // A snapshot that has not migrated stays, whatever the rules say.
  writeFileSync(join(g1.source, 'late.log'), 'one more line\n');
  ok(await backup(g1), 'third backup on gateway 1');
  const held = JSON.parse(ok(await cli(['forget', '--state', g1.state, '--keep-last', '1', '--json']), 'forget again').stdout) as { keep: Array<{ id: string; reasons: string[] }>; remove: unknown[] };
  assert.equal(held.remove, []);
  assert.equal(held.keep.find((k) => k.id === second)?.reasons, ['not migrated yet']);

  // Gateway 3 comes back: it catches up the ledger and applies the release.
  startDaemon(ctx, g3);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  await until('gateway 3 frees its shards of the forgotten snapshot once back', () => stillThere(g3, freedOn(g3)).length === 0, 90_000, () => `${stillThere(g3, freedOn(g3)).length} left`);
  for (const [id, at] of after) if (at === g3.name) assert.ok(filesOf(g3).has(id), `kept shard ${id.slice(0, 12)} is still on gateway 3`);
});

it.run();
