// Three gateways form an edge cluster with real processes (DESIGN §4, §5), on the site broker gateway 1
// embeds (`agent run --broker-listen`; mosquitto.test.ts runs on Debian's mosquitto). They back up at
// the same time through their daemons, and every acknowledged backup restores byte-identical; kill -9 of
// one gateway mid-backup leaves the others committing and restoring without it, and it rejoins and
// catches up; a gateway cut off from the broker refuses to commit while the majority goes on, catches up
// when the link is back, and `rebalance` spreads what was written meanwhile over all three; a corrupted
// peer shard is found and healed; the killed gateway's open staging is rolled back; `cluster repair`
// rebuilds around a gone gateway; with two gateways stopped the last one refuses to commit (no quorum).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { appendLogs } from '../../../cli/demo-data.ts';
import { cli, jsonLines } from '../../helpers/cli.ts';
import { until, sleep } from '../../helpers/wait.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import {
  NAMES, backup, clusterStatus, ok, restoresIdentical, setUp, shardFiles, snapshotIds, snapshotOf, startDaemon, tearDown, waitJoined,
  type Ctx, type Gateway,
} from './harness.ts';
import { readFileSync, writeFileSync } from 'node:fs';

// ---- embedded broker: the whole story ----------------------------------------------------------------

const embeddedSuite = suite<Ctx>('edge cluster on the embedded site broker');
/** uvu prints nothing useful for some failures: say the message and the stack. */
const loud = <C>(t: ReturnType<typeof suite<C>>) =>
  Object.assign((name: string, fn: (ctx: C) => Promise<void>) => t(name, (ctx) => fn(ctx).catch((e: Error) => {
    process.stderr.write(`\n${name}: ${e.stack ?? e.message}\n`);
    throw e;
  })), { before: t.before, after: t.after, run: t.run });
const embedded = loud(embeddedSuite);
embedded.before(async (ctx) => {
  Object.assign(ctx, await setUp(false));
});
embedded.after(async (ctx) => tearDown(ctx));

embedded('three gateways join, back up at the same time, and each backup restores byte-identical', async (ctx) => {
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const runs = await Promise.all(ctx.gateways.map(backup));
  runs.forEach((r, i) => ok(r, `backup on ${NAMES[i]}`));
  for (const [i, g] of ctx.gateways.entries()) await restoresIdentical(g, snapshotOf(runs[i]!), join(ctx.root, `r-${i}`));
  const status = (await clusterStatus(ctx.gateways[1]!))!;
  const heights = status.members.map((m) => m.blocks);
  assert.ok(heights.every((h) => h !== undefined && h >= 3), `every member holds the blocks: ${JSON.stringify(status)}`);
});

embedded('kill -9 of a gateway mid-backup: the others commit and restore without it; it rejoins and catches up', async (ctx) => {
  const [g1, g2, g3] = ctx.gateways as [Gateway, Gateway, Gateway];
  const acked = new Map<Gateway, string>();
  for (const g of ctx.gateways) await appendLogs(g.source, 2 * 1024 * 1024, 7);
  const before = snapshotIds(await cli(['snapshots', '--state', g3.state, '--json'])).length;
  const running = ctx.gateways.map((g) => backup(g));
  await sleep(400);
  g3.daemon!.child.kill('SIGKILL');
  await g3.daemon!.exited;
  const [r1, r2, r3] = await Promise.all(running);
  ok(r1!, 'backup on gw-1 while gw-3 died');
  ok(r2!, 'backup on gw-2 while gw-3 died');
  acked.set(g1, snapshotOf(r1!));
  acked.set(g2, snapshotOf(r2!));
  if (r3!.code === 0) acked.set(g3, snapshotOf(r3!));
  else {
    const after = snapshotIds(await cli(['snapshots', '--state', g3.state, '--json'])).length;
    assert.is(after, before, 'the interrupted backup left no snapshot');
  }
  // gw-3 is down: the acknowledged backups of gw-1 and gw-2 restore from the two that are left.
  for (const g of [g1, g2]) await restoresIdentical(g, acked.get(g)!, join(ctx.root, `k-${g.name}`));
  // And a new backup commits with two of three.
  await appendLogs(g1.source, 512 * 1024, 8);
  const more = ok(await backup(g1), 'backup with gw-3 down');
  await restoresIdentical(g1, snapshotOf(more), join(ctx.root, 'k-more'));
  // gw-3 comes back: it rejoins, catches up the ledger, and its earlier backups restore.
  startDaemon(ctx, g3);
  await waitJoined(g3, 3, ctx.gateways);
  await until(
    'gw-3 catches up the ledger',
    async () => {
      const s = await clusterStatus(g3);
      const mine = s?.members.find((m) => m.id === g3.name)?.blocks;
      const top = Math.max(...(s?.members.map((m) => m.blocks ?? 0) ?? [0]));
      return mine !== undefined && mine === top;
    },
    60_000,
    () => g3.daemon!.output().slice(-4000),
  );
  const first = snapshotIds(await cli(['snapshots', '--state', g3.state, '--json']))[0]!;
  await restoresIdentical(g3, first, join(ctx.root, 'k-g3'));
  if (acked.has(g3)) await restoresIdentical(g3, acked.get(g3)!, join(ctx.root, 'k-g3-last'));
});

embedded('a gateway cut off from the broker refuses to commit, the majority goes on, and it catches up when the link is back', async (ctx) => {
  const [g1, g2, g3] = ctx.gateways as [Gateway, Gateway, Gateway];
  ctx.link.cut();
  await until('gw-1 sees gw-3 gone', async () => (await clusterStatus(g1))?.members.find((m) => m.id === g3.name)?.status !== 'online', 20_000);
  await appendLogs(g1.source, 256 * 1024, 10);
  await appendLogs(g3.source, 256 * 1024, 10);
  const majority = ok(await backup(g1), 'backup on the majority side');
  const minority = await backup(g3);
  assert.is.not(minority.code, 0, 'the cut-off gateway commits nothing');
  assert.match(minority.stderr, /cut off from the site broker/);
  ctx.link.heal();
  await waitJoined(g3, 3, ctx.gateways);
  await until(
    'gw-3 catches up the ledger after the cut',
    async () => {
      const s = await clusterStatus(g3);
      const heights = s?.members.map((m) => m.blocks) ?? [];
      return heights.length === 3 && heights.every((h) => h !== undefined && h === heights[0]);
    },
    60_000,
    () => g3.daemon!.output().slice(-3000),
  );
  await restoresIdentical(g1, snapshotOf(majority), join(ctx.root, 'p-g1'));
  ok(await backup(g3), 'backup on gw-3 once the link is back');
  // gw-1 wrote 1+1 while gw-3 was cut off: rebalance spreads those chunks over all three again.
  await waitJoined(g1, 3, ctx.gateways);
  const layoutOf = async () => {
    const c = await Catalog.open(join(g1.state, 'catalog.db'));
    try {
      return new Map((await c.chunkPage('', 10_000)).flatMap((chunk) => chunk.shards.map((s) => [s.shardId, s.location] as const)));
    } finally {
      await c.close();
    }
  };
  const before = await layoutOf();
  const r = ok(await cli(['rebalance', '--state', g1.state, '--json']), 'rebalance');
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary') as { chunks_relaid: number; geometry: string };
  assert.ok(summary.chunks_relaid > 0, 'chunks written during the cut are relaid out');
  assert.is(summary.geometry, '2+1');
  const catalog = await Catalog.open(join(g1.state, 'catalog.db'));
  const chunks = await catalog.chunkPage('', 10_000);
  await catalog.close();
  for (const c of chunks) {
    assert.is(`${c.k}+${c.m}`, '2+1');
    assert.is(new Set(c.shards.map((s) => s.location)).size, 3, `chunk ${c.id.slice(0, 8)} has one shard per gateway`);
  }
  await restoresIdentical(g1, snapshotOf(majority), join(ctx.root, 'p-g1-rebalanced'));
  // The 1+1 layouts the rebalance replaced are freed on the gateways that held them (a relayout notice).
  const after = await layoutOf();
  const old = [...before].filter(([id]) => !after.has(id));
  assert.ok(old.length > 0, 'the rebalance replaced layouts');
  const holder = (name: string) => ctx.gateways.find((g) => g.name === name)!;
  const left = () => old.filter(([id, at]) => shardFiles(join(holder(at).state, 'shards')).some((f) => f.endsWith(id)));
  await until('the replaced layouts are freed', () => left().length === 0, 60_000, () =>
    `${left().length} of ${old.length} left, on ${[...new Set(left().map(([, at]) => at))].join(', ')}\n${ctx.gateways.map((g) => `${g.name}: ${g.daemon!.output().slice(-1500)}`).join('\n')}`);
  for (const [id, at] of after) assert.ok(shardFiles(join(holder(at).state, 'shards')).some((f) => f.endsWith(id)), `shard ${id.slice(0, 12)} of the new layout is on ${at}`);
  void g2;
});

embedded('a corrupted shard on a peer is found by check --read-data and healed by --repair', async (ctx) => {
  const [g1, g2] = ctx.gateways as [Gateway, Gateway];
  // Flip bytes in two of gw-1's shards that gw-2 holds.
  const catalog = await Catalog.open(join(g1.state, 'catalog.db'));
  const onG2 = (await catalog.chunkPage('', 1000)).flatMap((c) => c.shards).filter((s) => s.location === g2.name).slice(0, 2);
  await catalog.close();
  assert.is(onG2.length, 2, 'gw-2 holds shards of gw-1');
  const files = shardFiles(join(g2.state, 'shards'));
  for (const shard of onG2) {
    const file = files.find((f) => f.endsWith(shard.shardId))!;
    const bytes = readFileSync(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    writeFileSync(file, bytes);
  }
  const found = await cli(['check', '--state', g1.state, '--read-data', '--json']);
  assert.is(found.code, 1, `check finds repairable damage:\n${found.stdout.slice(0, 2000)}\n${found.stderr}`);
  const report = jsonLines(found.stdout)[0] as { issues: Array<{ code: string; shardId?: string }> };
  assert.equal(report.issues.filter((i) => i.code === 'SHARD_CORRUPT').map((i) => i.shardId).sort(), onG2.map((s) => s.shardId).sort());
  const repaired = ok(await cli(['check', '--state', g1.state, '--read-data', '--repair', '--json']), 'check --repair');
  assert.is((jsonLines(repaired.stdout)[0] as { repaired: number }).repaired, 2);
  ok(await cli(['check', '--state', g1.state, '--read-data', '--json']), 'check after repair');
});

embedded('the staging of the transaction the killed gateway left open is rolled back everywhere', async (ctx) => {
  // Its deadline is a minute (EDGE_COMMIT_OPTIONS); the participants then see a block past it without the
  // transaction and drop what they staged. Nothing else is open by now.
  await until(
    'no member holds staged shards',
    async () => {
      const s = await clusterStatus(ctx.gateways[0]!);
      return s !== undefined && s.members.every((m) => (m as { stagedTxs?: number }).stagedTxs === 0);
    },
    120_000,
    () => JSON.stringify(ctx.gateways.map((g) => g.name)),
    1000,
  );
});

embedded("with gateway 3 gone, cluster repair rebuilds gateway 1's shards it held onto the two left", async (ctx) => {
  const [g1, , g3] = ctx.gateways as [Gateway, Gateway, Gateway];
  g3.daemon!.child.kill('SIGTERM');
  await g3.daemon!.exited;
  await until('gw-1 sees gw-3 gone', async () => (await clusterStatus(g1))?.members.find((m) => m.id === g3.name)?.status !== 'online', 20_000);
  const onG3 = async () => {
    const catalog = await Catalog.open(join(g1.state, 'catalog.db'));
    const held = (await catalog.chunkPage('', 10_000)).flatMap((c) => c.shards).filter((s) => s.location === g3.name).length;
    await catalog.close();
    return held;
  };
  assert.ok((await onG3()) > 0, 'gw-3 held shards of gw-1');
  // Before the repair, a check names the member that does not answer instead of calling its shards
  // damaged, and says that nothing is: exit 1 (WARNING), every unreachable shard on gw-3, none lost.
  const checked = await cli(['check', '--state', g1.state, '--read-data', '--json']);
  assert.is(checked.code, 1, checked.stdout + checked.stderr);
  const report = jsonLines(checked.stdout)[0] as { unrecoverable: number; issues: { code: string; node?: string }[] };
  assert.is(report.unrecoverable, 0);
  assert.ok(report.issues.length > 0 && report.issues.every((i) => i.code === 'SHARD_UNREACHABLE' && i.node === g3.name), JSON.stringify(report.issues.slice(0, 3)));
  const text = await cli(['check', '--state', g1.state, '--read-data']);
  assert.match(text.stdout, new RegExp(`^error: ${report.issues.length} shards are on ${g3.name.replace(/\./g, '\\.')}, which does not answer`, 'm'));
  assert.match(text.stdout, /nothing damaged was found, and every chunk can be read from the members that answer/);
  assert.not.match(text.stdout, /damaged shards were found/);
  const r = ok(await cli(['cluster', 'repair', '--state', g1.state, '--json']), 'cluster repair');
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary') as { gone: string[]; chunks_repaired: number; unrecoverable: string[]; geometry: string };
  assert.equal(summary.gone, [g3.name]);
  assert.ok(summary.chunks_repaired > 0);
  assert.equal(summary.unrecoverable, []);
  assert.is(summary.geometry, '1+1');
  assert.is(await onG3(), 0, 'no shard of gw-1 is left on gw-3');
  const latest = snapshotIds(await cli(['snapshots', '--state', g1.state, '--json'])).at(-1)!;
  await restoresIdentical(g1, latest, join(ctx.root, 'repaired'));
  ok(await cli(['check', '--state', g1.state, '--read-data', '--json']), 'check after the repair');
});

embedded('with two gateways stopped, the last one refuses to commit and says why', async (ctx) => {
  const [g1, g2, g3] = ctx.gateways as [Gateway, Gateway, Gateway];
  for (const g of [g2, g3]) {
    if (g.daemon!.child.exitCode !== null || g.daemon!.child.signalCode !== null) continue;
    g.daemon!.child.kill('SIGTERM');
    const exit = await g.daemon!.exited;
    assert.is(exit.code, 0, `${g.name} stops cleanly:\n${g.daemon!.output().slice(-2000)}`);
  }
  await appendLogs(g1.source, 256 * 1024, 9);
  const r = await backup(g1);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /EDGE_NO_QUORUM|only 1 of 3 gateways/);
  const status = (await clusterStatus(g1))!;
  assert.equal(status.members.filter((m) => m.status === 'online').map((m) => m.id), [g1.name]);
});

embedded.run();
