// Three gateways form an edge cluster with real processes and real brokers (DESIGN §4, §5): gateway 1
// embeds the site broker (`agent run --broker-listen`), or all three meet on Debian's mosquitto. They
// back up at the same time through their daemons; every acknowledged backup restores byte-identical;
// kill -9 of one gateway mid-backup leaves the others committing and restoring without it; the killed
// gateway rejoins and catches up its ledger; a corrupted shard on a peer is found and healed by
// `check --read-data --repair`; with two gateways stopped the last one refuses to commit (no quorum).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { generateGatewayData, appendLogs } from '../../../cli/demo-data.ts';
import { freePort, startMosquitto, type TestBroker } from '../../helpers/brokers.ts';
import { cli, jsonLines, repoRoot, runCli, type CliResult, type RunningCli } from '../../helpers/cli.ts';
import { until, sleep } from '../../helpers/wait.ts';
import { Catalog } from '../../../agent/catalog/index.ts';

const NAMES = ['gw-1.site', 'gw-2.site', 'gw-3.site'];

interface Gateway {
  name: string;
  state: string;
  source: string;
  daemon?: RunningCli;
}

interface Ctx {
  root: string;
  gateways: Gateway[];
  broker?: TestBroker;
  brokerUrl: string;
  brokerPort: number;
  /** gw-3 reaches the broker through this proxy, so a test can cut its link. */
  link: Link;
}

/** A TCP relay that can be cut (every connection dropped, new ones refused) and healed. */
interface Link {
  port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

async function startLink(targetPort: number): Promise<Link> {
  let up = true;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      up = false;
      for (const s of sockets) s.destroy();
    },
    heal() {
      up = true;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** x86-edge with backups only on demand (a cron that never fires soon), no store worker, brotli 1. */
function writeProfile(path: string): string {
  const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles/x86-edge.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(profile, { name: 'edge-test', schedule: { mode: 'snapshot', cron: '0 0 1 1 *', settleS: 0, scanIntervalS: 60 }, storeWorker: false, heartbeatIntervalS: 60 });
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

function ok(r: CliResult, what: string): CliResult {
  assert.is(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

function startDaemon(ctx: Ctx, g: Gateway): void {
  const embed = g === ctx.gateways[0] && !ctx.broker ? ['--broker-listen', String(ctx.brokerPort), '--broker-host', '127.0.0.1'] : [];
  g.daemon = runCli(['agent', 'run', '--state', g.state, ...embed], { BAKSA_LOG_LEVEL: 'info' });
}

async function clusterStatus(g: Gateway): Promise<{ joined: boolean; members: Array<{ id: string; status: string; blocks?: number }> } | undefined> {
  const r = await cli(['cluster', 'status', '--state', g.state, '--json']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as never;
}

async function waitJoined(g: Gateway, online: number, daemons: Gateway[]): Promise<void> {
  await until(
    `${g.name} sees ${online} members online`,
    async () => {
      const s = await clusterStatus(g);
      return s?.joined === true && s.members.filter((m) => m.status === 'online').length === online;
    },
    60_000,
    () => daemons.map((d) => `--- ${d.name}:\n${d.daemon?.output().slice(-3000)}`).join('\n'),
  );
}

function snapshotIds(r: CliResult): string[] {
  return (JSON.parse(r.stdout || '[]') as Array<{ id: string }>).map((s) => s.id);
}

async function backup(g: Gateway): Promise<CliResult> {
  return cli(['backup', '--state', g.state, '--json']);
}

function snapshotOf(r: CliResult): string {
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary');
  assert.ok(summary, `no summary in ${r.stdout}`);
  return summary.snapshot_id as string;
}

async function restoresIdentical(g: Gateway, snapshot: string, target: string): Promise<void> {
  rmSync(target, { recursive: true, force: true });
  const r = await cli(['restore', snapshot, '--state', g.state, '--target', target, '--json']);
  ok(r, `restore of ${snapshot.slice(0, 8)} on ${g.name}`);
  const cmp = await cli(['compare', snapshot, '--state', g.state, '--target', target]);
  ok(cmp, `compare of ${snapshot.slice(0, 8)} on ${g.name}`);
}

async function setUp(withMosquitto: boolean): Promise<Ctx> {
  const root = await mkdtemp(join(tmpdir(), '2baksa-edge-cluster-'));
  const profile = writeProfile(join(root, 'profile.json'));
  const broker = withMosquitto ? await startMosquitto() : undefined;
  const brokerPort = broker?.port ?? (await freePort());
  const brokerUrl = broker?.url ?? `mqtt://127.0.0.1:${brokerPort}`;
  const link = await startLink(brokerPort);
  const gateways: Gateway[] = [];
  for (const [i, name] of NAMES.entries()) {
    const g: Gateway = { name, state: join(root, name, 'state'), source: join(root, name, 'logs') };
    mkdirSync(g.source, { recursive: true });
    await generateGatewayData(g.source, 3 * 1024 * 1024, i + 1);
    ok(
      await cli(['agent', 'init', '--state', g.state, '--name', name, '--site', 'plant', '--members', NAMES.join(','), '--broker', i === 2 ? `mqtt://127.0.0.1:${link.port}` : brokerUrl, '--profile', profile, '--source', g.source]),
      `init ${name}`,
    );
    gateways.push(g);
  }
  return { root, gateways, brokerUrl, brokerPort, link, ...(broker ? { broker } : {}) };
}

async function tearDown(ctx: Ctx): Promise<void> {
  for (const g of ctx.gateways) {
    if (g.daemon && g.daemon.child.exitCode === null && g.daemon.child.signalCode === null) {
      g.daemon.child.kill('SIGTERM');
      await g.daemon.exited;
    }
  }
  await ctx.link.close();
  await ctx.broker?.stop();
  rmSync(ctx.root, { recursive: true, force: true });
}

function shardFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/^[0-9a-f]{64}$/.test(name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

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

// ---- mosquitto: the same protocol through an external broker --------------------------------------

const external = suite<Ctx>('edge cluster on mosquitto');
external.before(async (ctx) => {
  Object.assign(ctx, await setUp(true));
});
external.after(async (ctx) => tearDown(ctx));

external('three gateways on mosquitto back up at once and restore byte-identical', async (ctx) => {
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const runs = await Promise.all(ctx.gateways.map(backup));
  runs.forEach((r, i) => ok(r, `backup on ${NAMES[i]}`));
  for (const [i, g] of ctx.gateways.entries()) await restoresIdentical(g, snapshotOf(runs[i]!), join(ctx.root, `m-${i}`));
});

external('garbage and oversized payloads on every topic of the site are dropped without harm', async (ctx) => {
  const intruder = await mqtt.connectAsync(ctx.brokerUrl, { clientId: 'intruder', reconnectPeriod: 0 });
  const topics = ['ledger', ...NAMES.flatMap((n) => [`node/${n}/in`, `node/${n}/state`]), `telemetry/${NAMES[0]}/heartbeat`].map((t) => `2baksa/v1/plant/${t}`);
  const junk = [Buffer.alloc(0), Buffer.from([0xc1]), Buffer.from([0x82, 0xa1, 0x70, 0xc4, 0x01]), randomBytes(64), randomBytes(5 * 1024 * 1024)];
  for (const topic of topics) for (const payload of junk) await intruder.publishAsync(topic, payload, { qos: 1 });
  await intruder.endAsync();
  for (const g of ctx.gateways) assert.is(g.daemon!.child.exitCode, null, `${g.name} is still running`);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  await appendLogs(ctx.gateways[0]!.source, 256 * 1024, 11);
  const r = ok(await backup(ctx.gateways[0]!), 'a backup after the junk');
  await restoresIdentical(ctx.gateways[0]!, snapshotOf(r), join(ctx.root, 'junk'));
});

external.run();
