/**
 * `2baksa demo` (`npm start`): the embedded default on loopback, in one process, driven through the
 * real commands, so what it shows is what an operator gets.
 *
 * Gateway side: PKI, a gateway agent's first and incremental backup of generated sensor logs, a shard
 * corrupted on disk and detected, healed by Reed–Solomon repair, and a byte-identical restore checked
 * by compare.
 * Data-center side: a 4-node aggregator cluster (`aggregator init`, four nodes in this process, PBFT
 * over loopback TLS), an account created through one node, the gateway's snapshots migrated through
 * another (offer/need, only missing chunks travel, erasure-coded over the nodes, receipts), a second
 * migration that sends nothing, one node stopped, the latest snapshot restored from the cluster
 * through a survivor and compared byte for byte, and the account databases compared by digest.
 * The edge cluster (gateways backing up into each other) joins the demo when it lands (README).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { BaksaError } from '../shared/errors.ts';
import { formatBytes, printRecord } from '../shared/output.ts';
import { appendLogs, generateGatewayData } from './demo-data.ts';
import type { AggregatorNode as AggregatorNodeT } from '../aggregator/node/node.ts';

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
  const totalBytes = Math.round(mb * 1024 * 1024);
  const root = await mkdtemp(join(tmpdir(), '2baksa-demo-'));
  const data = join(root, 'gateway-logs');
  const state = join(root, 'gw-1');
  const pki = join(root, 'pki');
  const target = join(root, 'restored');
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

  try {
    await step(`generate ${mb} MB of gateway sensor logs`, () => generateGatewayData(data, totalBytes));
    await step('create the cluster CA', ['pki', 'init', '--dir', pki, '--name', 'demo-cluster']);
    await step('issue the gateway its certificate', ['pki', 'issue', '--dir', pki, '--name', 'gw-1.demo.local', '--role', 'agent']);
    await step('set up the gateway agent', ['agent', 'init', '--state', state, '--name', 'gw-1.demo.local', '--profile', 'x86-edge', '--source', data]);
    const first = await step('first backup', ['backup', '--state', state]);
    report.firstBackup = `${(mb / first).toFixed(1)} MB/s (${first.toFixed(2)} s)`;

    await step('the logs grow by 5 %', () => appendLogs(data, totalBytes, 0.05));
    const incremental = await step('incremental backup (reads only the new tails)', ['backup', '--state', state]);
    report.incrementalBackup = `${incremental.toFixed(2)} s`;
    await step('list snapshots', ['snapshots', '--state', state]);

    let victim = '';
    await step('corrupt one shard on disk', async () => {
      for await (const p of files(join(state, 'shards'))) {
        if (/[0-9a-f]{64}$/.test(p)) {
          victim = p;
          break;
        }
      }
      if (!victim) throw new BaksaError('DEMO_NO_SHARD', 'no shard file found to corrupt');
      const bytes = await readFile(victim);
      for (let i = 0; i < Math.min(64, bytes.length); i++) bytes[i] = bytes[i]! ^ 0xff;
      await writeFile(victim, bytes);
      process.stdout.write(`  flipped 64 bytes of ${relative(root, victim)}\n`);
    });
    await step('check --read-data finds it', ['check', '--state', state, '--read-data'], 1);
    await step('repair rebuilds it from the other shards', ['check', '--state', state, '--read-data', '--repair']);
    await step('check --read-data is clean again', ['check', '--state', state, '--read-data']);

    const restore = await step('restore the latest snapshot and compare', ['restore', 'latest', '--state', state, '--target', target, '--verify']);
    report.restore = `${(mb * 1.05 / restore).toFixed(1)} MB/s (${restore.toFixed(2)} s)`;
    const source = await treeDigest(data);
    const restored = await treeDigest(join(target, data));
    if (source.digest !== restored.digest) throw new BaksaError('DEMO_RESTORE_DIFFERS', 'the restored tree differs from the source');
    report.restoredIdentical = `${restored.files} files, ${formatBytes(restored.bytes)}, sha256 ${restored.digest.slice(0, 16)}…`;
    report.storedWithParity = formatBytes(await dirBytes(join(state, 'shards')));
    await aggregatorDemo(root, data, state, step, report);
    report.total = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    process.stdout.write('\n== demo report\n');
    printRecord(report, 'table');
  } finally {
    if (options.keep) process.stdout.write(`\nfiles kept in ${root}\n`);
    else await rm(root, { recursive: true, force: true });
  }
}

type Step = (title: string, argv: string[] | (() => Promise<void>), expectExit?: number) => Promise<number>;

/** The data-center side of the demo: a 4-node aggregator cluster in this process. */
async function aggregatorDemo(root: string, data: string, state: string, step: Step, report: Record<string, unknown>): Promise<void> {
  const { freeBasePort } = await import('./demo-data.ts');
  const { loadNodeConfig } = await import('../aggregator/node/config.ts');
  const { AggregatorNode } = await import('../aggregator/node/node.ts');
  const { loadTlsMaterial } = await import('../shared/crypto/pki.ts');
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
    await step('create the gateway\'s account through node 1', ['accounts', 'create', '--name', 'gw-1.demo.local', '--soft', '900M', '--hard', '1G', ...admin(0)]);

    await step('issue the gateway its certificate from the cluster CA', ['pki', 'issue', '--dir', init.pkiDir, '--name', 'gw-1.demo.local', '--role', 'agent']);
    const cloud = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', 'gw-1.demo.local'];
    const migrateSeconds = await step('migrate both snapshots to the cluster through node 2 (only missing chunks travel)', ['migrate', '--state', state, ...cloud(1)]);
    const source = await treeDigest(data);
    report.migration = `${formatBytes(source.bytes)} of input, ${(source.bytes / 1e6 / migrateSeconds).toFixed(1)} MB/s`;
    await step('migrate again: nothing is sent twice', ['migrate', '--state', state, ...cloud(1)]);

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
