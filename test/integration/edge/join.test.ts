// A fourth gateway joins a running three-gateway edge cluster, with real processes on the site broker
// gateway 1 embeds: `agent init --join` prints its key, `cluster admit` on a validator commits its
// admission to the site ledger, and its daemon joins. New backups spread over four gateways (2+2), the
// newcomer's own backups commit and restore, and `rebalance` moves the older 2+1 chunks onto it, proven
// by restoring them with two of the three first gateways killed (only gateway 1 and the newcomer left).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { appendLogs, generateGatewayData } from '../../../cli/demo-data.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { cli, jsonLines } from '../../helpers/cli.ts';
import { until } from '../../helpers/wait.ts';
import { NAMES, backup, clusterStatus, ok, restoresIdentical, setUp, shardFiles, snapshotOf, startDaemon, tearDown, waitJoined, writeProfile, type Ctx, type Gateway } from './harness.ts';

const JOINER = 'gw-4.site';
/** A backup of gw-1 from before the join (2+1 over the first three). */
let earlySnapshot = '';

const joinSuite = suite<Ctx>('a gateway joins a running edge cluster');
joinSuite.before(async (ctx) => {
  Object.assign(ctx, await setUp(false, { dataBytes: 2 * 1024 * 1024 }));
});
joinSuite.after(async (ctx) => tearDown(ctx));

const test = (name: string, fn: (ctx: Ctx) => Promise<void>) =>
  joinSuite(name, (ctx) =>
    fn(ctx).catch((e: Error) => {
      process.stderr.write(`\n${name}: ${e.stack ?? e.message}\n`);
      throw e;
    }),
  );

async function layoutOf(g: Gateway): Promise<Array<{ id: string; geometry: string; locations: string[]; shards: Array<{ shardId: string; location: string }> }>> {
  const c = await Catalog.open(join(g.state, 'catalog.db'));
  try {
    return (await c.chunkPage('', 100_000)).map((chunk) => ({ id: chunk.id, geometry: `${chunk.k}+${chunk.m}`, locations: chunk.shards.map((s) => s.location), shards: chunk.shards }));
  } finally {
    await c.close();
  }
}

test('a gateway admitted by a validator joins, takes shards of new backups, and backs up its own data', async (ctx) => {
  const [g1, g2] = ctx.gateways as [Gateway, Gateway];
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const early = ok(await backup(g1), 'backup on gw-1 before the join');
  earlySnapshot = snapshotOf(early);
  assert.ok((await layoutOf(g1)).every((c) => c.geometry === '2+1'));

  const g4: Gateway = { name: JOINER, state: join(ctx.root, JOINER, 'state'), source: join(ctx.root, JOINER, 'logs') };
  mkdirSync(g4.source, { recursive: true });
  await generateGatewayData(g4.source, 1024 * 1024, 4);
  const init = ok(
    await cli([
      'agent', 'init', '--state', g4.state, '--name', JOINER, '--site', 'plant', '--members', NAMES.join(','), '--join',
      '--broker', ctx.brokerUrl, '--profile', writeProfile(join(ctx.root, 'profile-4.json')), '--source', g4.source, '--json',
    ]),
    'init --join',
  );
  const printed = JSON.parse(init.stdout) as { node_public_key: string; join: string };
  assert.match(printed.join, `cluster admit ${JOINER} --key ${printed.node_public_key}`);
  ctx.gateways.push(g4);

  // A key that is not 64 hex digits is refused before anything is asked.
  const bad = await cli(['cluster', 'admit', JOINER, '--key', 'abc', '--state', g1.state]);
  assert.is(bad.code, 2, bad.stderr);
  const admit = ok(await cli(['cluster', 'admit', JOINER, '--key', printed.node_public_key, '--state', g1.state, '--json']), 'cluster admit');
  const admitted = JSON.parse(admit.stdout) as { admitted: string; block: number };
  assert.is(admitted.admitted, JOINER);

  startDaemon(ctx, g4);
  await waitJoined(g4, 4, ctx.gateways);
  await waitJoined(g2, 4, ctx.gateways);
  const row = (await clusterStatus(g2))!.members.find((m) => m.id === JOINER)!;
  assert.is(row.role, 'storage');
  assert.is(row.admittedAt, admitted.block);

  // A new backup on a validator is laid out 2+2, one shard on each of the four.
  await appendLogs(g2.source, 1024 * 1024, 11);
  const after = ok(await backup(g2), 'backup on gw-2 after the join');
  const layout = await layoutOf(g2);
  const fresh = layout.filter((c) => c.geometry === '2+2');
  assert.ok(fresh.length > 0, 'new chunks take the four-gateway geometry');
  for (const c of fresh) assert.equal(new Set(c.locations), new Set([...NAMES, JOINER]), `chunk ${c.id.slice(0, 8)}: one shard per gateway`);
  await until('the newcomer keeps shards', () => shardFiles(join(g4.state, 'shards')).length > 0, 10_000);
  await restoresIdentical(g2, snapshotOf(after), join(ctx.root, 'r-g2'));

  // The newcomer's own backup commits through the validators and restores.
  const own = ok(await backup(g4), 'backup on the newcomer');
  assert.ok((await layoutOf(g4)).every((c) => c.geometry === '2+2'));
  await restoresIdentical(g4, snapshotOf(own), join(ctx.root, 'r-g4'));
});

test('rebalance moves the older chunks onto the newcomer: they restore with two of the first three gone', async (ctx) => {
  const [g1, g2, g3, g4] = ctx.gateways as [Gateway, Gateway, Gateway, Gateway];
  const r = ok(await cli(['rebalance', '--state', g1.state, '--json']), 'rebalance on gw-1');
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary') as { chunks_relaid: number; geometry: string };
  assert.is(summary.geometry, '2+2');
  assert.ok(summary.chunks_relaid > 0, 'the 2+1 chunks are laid out again');
  for (const c of await layoutOf(g1)) {
    assert.is(c.geometry, '2+2');
    assert.ok(c.locations.includes(JOINER), `chunk ${c.id.slice(0, 8)} has a shard on the newcomer`);
  }
  // No wait for the newcomer to learn the transactions' certified blocks: until it does, it holds its
  // new shards staged and serves them from there.
  // Only gw-1 and the newcomer left: k = 2 shards of every chunk, so the early snapshot still restores.
  for (const g of [g2, g3]) {
    g.daemon!.child.kill('SIGKILL');
    await g.daemon!.exited;
  }
  await until('gw-1 sees two members online', async () => (await clusterStatus(g1))?.members.filter((m) => m.status === 'online').length === 2, 30_000);
  await restoresIdentical(g1, earlySnapshot, join(ctx.root, 'r-early'));
});

joinSuite.run();
