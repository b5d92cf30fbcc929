/**
 * `2baksa demo` (`npm start`): the embedded default on loopback, in one process, driven through the
 * real commands, so what it shows is what an operator gets.
 *
 * Gateway side: three gateways form an edge cluster (gateway 1 embeds the site broker; PBFT over MQTT
 * orders the site ledger) and back up generated sensor logs at the same time, each chunk's shards on
 * distinct gateways; an incremental backup; one of gateway 1's shards corrupted on gateway 2, found by
 * `check --read-data` and healed; gateway 3 goes down, gateway 2 still backs up and gateway 1's data
 * restores byte-identical from the two left; the site ledger verified.
 * Data-center side: a 4-node aggregator cluster (`aggregator init`, four nodes in this process, PBFT
 * over loopback TLS), an account created through one node, the site's ledger keys registered, gateway 1's
 * snapshots migrated through another (offer/need, only missing chunks travel, each proven by the quorum
 * certificate of the site block that committed it, erasure-coded over the nodes, receipts), a second
 * migration that sends nothing, one node stopped, the latest snapshot restored from the cluster
 * through a survivor and compared byte for byte, and the account databases compared by digest.
 * Gateway 3, down since the edge part, is migrated by its leader among the two left (its snapshots'
 * chunks rebuilt from their shards, proven by the site ledger) and restored from the cluster with its own keys.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { BaksaError } from '../shared/errors.ts';
import { formatBytes, printRecord } from '../shared/output.ts';
import type { AggregatorNode as AggregatorNodeT } from '../aggregator/node/node.ts';
import type { RunningDaemon as RunningDaemonT } from '../agent/daemon/index.ts';

export interface DemoOptions {
  mb: string;
  keep?: boolean;
}

type Run = (argv: string[]) => Promise<number>;

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

/** One digest over every file's relative path and bytes: equal trees, equal digests. */
async function treeDigest(root: string): Promise<{ digest: string; files: number; bytes: number }> {
  const paths: string[] = [];
  for await (const p of files(root)) paths.push(p);
  paths.sort();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const p of paths) {
    const data = await readFile(p);
    bytes += data.length;
    hash.update(relative(root, p)).update('\0').update(data);
  }
  return { digest: hash.digest('hex'), files: paths.length, bytes };
}

async function dirBytes(root: string): Promise<number> {
  let total = 0;
  for await (const p of files(root)) total += (await stat(p)).size;
  return total;
}

export async function runDemo(options: DemoOptions, run: Run): Promise<void> {
  const mb = Number(options.mb);
  if (!Number.isFinite(mb) || mb <= 0 || mb > 4096) throw new BaksaError('DEMO_BAD_SIZE', `--mb ${options.mb} is not a size from 1 to 4096`, { hint: 'pass --mb 32, say' });
  // This process hosts the aggregator nodes and the gateway daemons: the servers' heap growth.
  const { SERVER_HEAP_GROWING_PERCENT, setHeapGrowingPercent } = await import('../shared/heap-growth.ts');
  setHeapGrowingPercent(SERVER_HEAP_GROWING_PERCENT);
  const root = await mkdtemp(join(tmpdir(), '2baksa-demo-'));
  const report: Record<string, unknown> = {};
  const started = performance.now();

  const step = async (title: string, argv: string[] | (() => Promise<void>), expectExit = 0): Promise<number> => {
    process.stdout.write(`\n▶ ${title}${Array.isArray(argv) ? `\n  $ 2baksa ${argv.join(' ')}` : ''}\n`);
    const t0 = performance.now();
    const code = Array.isArray(argv) ? await run(argv) : (await argv(), 0);
    if (code !== expectExit) {
      throw new BaksaError('DEMO_STEP_FAILED', `demo step "${title}" exited ${code}, expected ${expectExit}`, { hint: `the files are kept in ${root}` });
    }
    return (performance.now() - t0) / 1000;
  };

  const daemons: Array<RunningDaemonT | undefined> = [];
  try {
    const gateways = await edgeDemo(root, mb, run, step, report, daemons);
    await aggregatorDemo(root, gateways, step, report);
    report.total = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    process.stdout.write('\n== demo report\n');
    printRecord(report, 'table');
  } finally {
    for (const d of daemons) await d?.stop().catch(() => undefined);
    if (options.keep) process.stdout.write(`\nfiles kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
}

interface DemoGateway {
  name: string;
  state: string;
  data: string;
}

/**
 * The gateway side: three gateways of one site form an edge cluster in this process, gateway 1
 * embedding the site broker. They back up at once (each chunk's 2+1 shards on the three gateways,
 * committed by a quorum-signed ledger block); a shard corrupted on gateway 2 is found and healed from
 * gateway 1; gateway 3 goes down and gateway 1's data still restores byte-identical from the other two.
 */
async function edgeDemo(root: string, mb: number, run: Run, step: Step, report: Record<string, unknown>, daemons: Array<RunningDaemonT | undefined>): Promise<DemoGateway[]> {
  const { startDaemon } = await import('../agent/daemon/index.ts');
  const { createLogger } = await import('../shared/log.ts');
  const { appendLogs, freePort, generateGatewayData } = await import('./demo-data.ts');
  const { Catalog } = await import('../agent/catalog/index.ts');
  const names = ['gw-1.demo.local', 'gw-2.demo.local', 'gw-3.demo.local'];
  const gateways: DemoGateway[] = names.map((name, i) => ({ name, state: join(root, `gw-${i + 1}`), data: join(root, `gw-${i + 1}-logs`) }));
  const perGateway = Math.max(1, Math.round((mb * 1024 * 1024) / 3));
  const port = await freePort();
  const logger = createLogger('agent', process.env.BAKSA_LOG_LEVEL ?? 'error');

  await step(`generate ${formatBytes(perGateway)} of sensor logs on each of 3 gateways`, async () => {
    for (const [i, g] of gateways.entries()) await generateGatewayData(g.data, perGateway, i + 1);
  });
  for (const g of gateways) {
    await step(`set up ${g.name} as a member of the site's edge cluster`, [
      'agent', 'init', '--state', g.state, '--name', g.name, '--site', 'demo', '--members', names.join(','),
      '--broker', `mqtt://127.0.0.1:${port}`, '--profile', 'x86-edge', '--source', g.data,
    ]);
  }
  await step('start the 3 agents (gateway 1 embeds the site broker): births, PBFT over MQTT, the site ledger', async () => {
    for (const [i, g] of gateways.entries()) {
      daemons.push(await startDaemon(g.state, logger.child({ gateway: g.name }), i === 0 ? { brokerListen: { port, host: '127.0.0.1' } } : {}));
    }
    // Each daemon joins once it has every member's birth; until then a backup would only wait for it.
    const { loadState } = await import('../agent/config/index.ts');
    const { clusterStatusThroughDaemon } = await import('../agent/edge/cli.ts');
    const states = await Promise.all(gateways.map((g) => loadState(g.state)));
    for (const deadline = Date.now() + 60_000; ;) {
      const replies = await Promise.all(states.map((st) => clusterStatusThroughDaemon(st).catch(() => undefined)));
      if (replies.every((r) => r?.joined && r.members.every((m) => m.status === 'online'))) break;
      if (Date.now() > deadline) throw new BaksaError('DEMO_STEP_FAILED', 'the 3 gateways did not all join their cluster within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  await step('every member is online', ['cluster', 'status', '--state', gateways[0]!.state]);
  const firstSeconds = await step('the 3 gateways back up at the same time (2+1 shards on distinct gateways, quorum-signed blocks)', async () => {
    const codes = await Promise.all(gateways.map((g) => run(['backup', '--state', g.state])));
    if (codes.some((c) => c !== 0)) throw new BaksaError('DEMO_STEP_FAILED', `a backup failed (exit codes ${codes.join(', ')})`);
  });
  report.edgeBackup = `${((3 * perGateway) / 1e6 / firstSeconds).toFixed(1)} MB/s for 3 gateways at once (${firstSeconds.toFixed(2)} s)`;
  const g1 = gateways[0]!;
  await step('the logs of gateway 1 grow by 5 %', () => appendLogs(g1.data, perGateway, 0.05));
  const incremental = await step('incremental backup on gateway 1 (reads only the new tails)', ['backup', '--state', g1.state]);
  report.incrementalBackup = `${incremental.toFixed(2)} s`;

  let victim = '';
  await step("corrupt one of gateway 1's shards held by gateway 2", async () => {
    const catalog = await Catalog.open(join(g1.state, 'catalog.db'));
    const held = (await catalog.chunkPage('', 100)).flatMap((c) => c.shards).find((s) => s.location === names[1]);
    await catalog.close();
    for await (const p of files(join(gateways[1]!.state, 'shards'))) if (held && p.endsWith(held.shardId)) victim = p;
    if (!victim) throw new BaksaError('DEMO_NO_SHARD', 'no shard of gateway 1 found on gateway 2');
    const bytes = await readFile(victim);
    for (let i = 0; i < Math.min(64, bytes.length); i++) bytes[i] = bytes[i]! ^ 0xff;
    await writeFile(victim, bytes);
    process.stdout.write(`  flipped 64 bytes of ${relative(root, victim)}\n`);
  });
  await step('check --read-data on gateway 1 finds it', ['check', '--state', g1.state, '--read-data'], 1);
  await step('repair rebuilds it from the other shards', ['check', '--state', g1.state, '--read-data', '--repair']);
  await step('check --read-data is clean again', ['check', '--state', g1.state, '--read-data']);

  await step('gateway 3 goes down', async () => {
    await daemons[2]!.stop();
    daemons[2] = undefined;
  });
  await step('gateway 2 backs up with gateway 3 down (1+1 on the two that are up)', ['backup', '--state', gateways[1]!.state]);
  const target = join(root, 'restored');
  const restore = await step("restore gateway 1's latest snapshot from the two gateways left, and compare", ['restore', 'latest', '--state', g1.state, '--target', target, '--verify']);
  report.restore = `${((perGateway * 1.05) / 1e6 / restore).toFixed(1)} MB/s (${restore.toFixed(2)} s) with gateway 3 down`;
  const source = await treeDigest(g1.data);
  const restored = await treeDigest(join(target, g1.data));
  if (source.digest !== restored.digest) throw new BaksaError('DEMO_RESTORE_DIFFERS', 'the restored tree differs from the source');
  report.restoredIdentical = `${restored.files} files, ${formatBytes(restored.bytes)}, sha256 ${restored.digest.slice(0, 16)}…`;
  await step("verify gateway 1's copy of the site ledger (every hash and quorum signature)", ['ledger', 'verify', join(g1.state, 'edge', 'ledger')]);
  report.edgeLedger = daemons.slice(0, 2).map((d, i) => `${names[i]}: ${d?.edge?.node()?.blocks() ?? '?'} blocks`).join(', ') + ', quorum-signed (2 of 3)';
  report.storedWithParity = formatBytes((await Promise.all(gateways.map((g) => dirBytes(join(g.state, 'shards'))))).reduce((a, b) => a + b, 0));
  return gateways;
}

type Step = (title: string, argv: string[] | (() => Promise<void>), expectExit?: number) => Promise<number>;

/** The data-center side of the demo: a 4-node aggregator cluster in this process. */
async function aggregatorDemo(root: string, gateways: DemoGateway[], step: Step, report: Record<string, unknown>): Promise<void> {
  const { state, data, name } = gateways[0]!;
  const dead = gateways[2]!;
  const { freeBasePort } = await import('./demo-data.ts');
  const { loadNodeConfig } = await import('../aggregator/node/config.ts');
  const { AggregatorNode } = await import('../aggregator/node/node.ts');
  const { createLogger } = await import('../shared/log.ts');
  const clusterDir = join(root, 'cluster');
  const basePort = await freeBasePort();
  await step('write a 4-node aggregator cluster (CA, keys, configs)', ['aggregator', 'init', '--dir', clusterDir, '--nodes', '4', '--base-port', String(basePort), '--json']);
  const init = JSON.parse(await readFile(join(clusterDir, 'cluster.json'), 'utf8')) as {
    nodes: Array<{ name: string; config: string; apiUrl: string }>;
    pkiDir: string;
    certificates: { admin: string; operator: string };
  };
  const nodes: Array<AggregatorNodeT | undefined> = [];
  const logger = createLogger('aggregator', process.env.BAKSA_LOG_LEVEL ?? 'error');
  let fatal: Error | undefined;
  try {
    await step('start the 4 aggregator nodes (PBFT over TLS, account database, monitor, REST API, storage)', async () => {
      for (const n of init.nodes) {
        nodes.push(await AggregatorNode.start(await loadNodeConfig(n.config), { logger: logger.child({ node: n.name }), onFatal: (e) => (fatal = e) }));
      }
    });
    const admin = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', init.certificates.admin];
    await step("create gateway 1's account through node 1", ['accounts', 'create', '--name', name, '--soft', '900M', '--hard', '1G', ...admin(0)]);
    await step("create gateway 3's account (gateway 3 is down: its peers will migrate its snapshots)", ['accounts', 'create', '--name', dead.name, ...admin(0)]);
    await step("register the site's ledger keys: every chunk its gateways migrate must come with a block a quorum of them certified", [
      'sites', 'register', 'demo', '--validators', join(state, 'edge', 'ledger', 'validators.json'), ...admin(0),
    ]);

    await step('issue gateway 1 its certificate from the cluster CA', ['pki', 'issue', '--dir', init.pkiDir, '--name', name, '--role', 'agent']);
    const cloud = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', name];
    const migrateSeconds = await step("migrate gateway 1's snapshots to the cluster through node 2 (only missing chunks travel; shards read from the edge)", ['migrate', '--state', state, ...cloud(1)]);
    const source = await treeDigest(data);
    report.migration = `${formatBytes(source.bytes)} of input, ${(source.bytes / 1e6 / migrateSeconds).toFixed(1)} MB/s`;
    await step('migrate again: nothing is sent twice', ['migrate', '--state', state, ...cloud(1)]);

    // Gateway 3 is down for good: the first live gateway in the rendezvous order of its name migrates its snapshots.
    const { coordinatorOrder } = await import('../shared/placement/index.ts');
    const leaderName = coordinatorOrder(dead.name, gateways.slice(0, 2).map((g) => ({ id: g.name })))[0]!;
    const leader = gateways.find((g) => g.name === leaderName)!;
    if (leader !== gateways[0]) await step(`issue ${leader.name} its certificate`, ['pki', 'issue', '--dir', init.pkiDir, '--name', leader.name, '--role', 'agent']);
    const goneSeconds = await step(`${leader.name} (the leader for gateway 3) migrates gateway 3's snapshots, rebuilt from the shards on the two gateways left and proven by the site ledger`, [
      'migrate', '--gone', dead.name, '--state', leader.state, '--server', init.nodes[1]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', leader.name,
    ]);
    await step("issue gateway 3's certificate (its owner restores with its own keys)", ['pki', 'issue', '--dir', init.pkiDir, '--name', dead.name, '--role', 'agent']);
    const deadTarget = join(root, 'restored-gateway-3');
    await step("restore gateway 3's latest snapshot from the cluster and compare", [
      'restore', 'latest', '--state', dead.state, '--target', deadTarget, '--from', 'cloud', '--server', init.nodes[0]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', dead.name, '--verify',
    ]);
    const deadSource = await treeDigest(dead.data);
    const deadBack = await treeDigest(join(deadTarget, dead.data));
    if (deadBack.digest !== deadSource.digest) throw new BaksaError('DEMO_RESTORE_DIFFERS', "gateway 3's tree restored from the cluster differs from its source");
    report.deadGateway = `${dead.name}: migrated by ${leader.name} in ${goneSeconds.toFixed(2)} s, ${deadBack.files} files restored byte-identical from the cloud`;

    await step('stop aggregator node 3', async () => {
      await nodes[2]!.stop();
      nodes[2] = undefined;
    });
    const cloudTarget = join(root, 'restored-from-cloud');
    const readBack = await step('restore the latest snapshot from the cluster through node 4, with node 3 gone', ['restore', 'latest', '--state', state, '--target', cloudTarget, '--from', 'cloud', ...cloud(3), '--verify']);
    const back = await treeDigest(join(cloudTarget, data));
    if (back.digest !== source.digest) throw new BaksaError('DEMO_RESTORE_DIFFERS', 'the tree restored from the cluster differs from the source');
    process.stdout.write(`  ${back.files} files byte-identical (sha256 ${back.digest.slice(0, 16)}…)\n`);
    report.clusterRestore = `${(source.bytes / 1e6 / readBack).toFixed(1)} MB/s with one node down, ${back.files} files byte-identical`;
    await step('space by account, from node 1', ['report', 'space', '--by', 'account', ...admin(0)]);
    const live = nodes.filter((n): n is AggregatorNodeT => n !== undefined);
    const statuses = await Promise.all(live.map((n) => n.status()));
    if (new Set(statuses.map((s) => s.accountsDigest)).size !== 1) throw new BaksaError('DEMO_DIGESTS_DIFFER', 'the live nodes\' account databases differ');
    report.clusterConsensus = `view ${statuses[0]!.view}, ${statuses[0]!.accountCommandsApplied} account commands applied on ${live.length} live nodes, one digest ${statuses[0]!.accountsDigest.slice(0, 16)}…`;
    if (fatal) throw fatal;
  } finally {
    await Promise.all(nodes.map((n) => n?.stop().catch(() => undefined)));
  }
}

export function registerDemo(program: Command, run: Run): void {
  program
    .command('demo')
    .description('run the embedded demo on loopback: back up generated gateway logs, break a shard, heal it, restore byte-identical; then migrate them to a 4-node aggregator cluster and restore from it with a node down')
    .option('--mb <n>', 'megabytes of generated gateway logs', '32')
    .option('--keep', 'keep the demo directory')
    .action((opts: DemoOptions) => runDemo(opts, run));
}
