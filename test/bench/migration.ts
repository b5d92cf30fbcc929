/**
 * Migration into the aggregator cluster and restore from it, on loopback (issue: ≥ 100 MB/s each).
 *
 * A 4-node cluster (PBFT over TLS with fsync, the cluster store over the API's internal routes, 2+2
 * over two racks) runs twice: in this process, and as four `2baksa aggregator run` processes as in
 * production (on a 2-core machine they share its cores with the agent either way). Two gateway agents
 * (`2baksa` processes, x86-edge profile; `gateways` below), one after the other, each back up the same
 * `gen-sensor-logs.py`-like data (cli/demo-data.ts) under their own account, then:
 *   - `migrate`: offer/need, sealed chunks uploaded several to a request, recorded in batches with the
 *     snapshot record; MB/s of the agent's input;
 *   - `restore latest --from cloud`: chunks read several to a request from any k shards through another node;
 * Baselines in the same run: the local restore from the gateway's own shards, and the same bytes sent
 * as one object through POST /backups (one stream, one record).
 *
 * Each measurement meets warm nodes (`warmUp`) and deletes its files when it is done: kept, they filled
 * the page cache, and on the bench machine every later step ran slower for it (a restore as four
 * processes measured last made 91-105 MB/s, and 143 with nothing measured before it).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { issueCertificate, loadTlsMaterial } from '../../shared/crypto/pki.ts';
import { silentLogger } from '../../shared/log.ts';
import { SERVER_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../../shared/heap-growth.ts';
import { ApiClient } from '../../shared/http/api-client.ts';
import { initCluster } from '../../aggregator/node/init.ts';
import { loadNodeConfig } from '../../aggregator/node/config.ts';
import { AggregatorNode } from '../../aggregator/node/node.ts';
import { freeBasePort, generateGatewayData } from '../../cli/demo-data.ts';
import { edgeProfile } from '../../agent/backup/run.ts';
import { loadProfile } from '../../agent/profile/index.ts';
import { cli, runCli } from '../helpers/cli.ts';
import { until } from '../helpers/wait.ts';
import type { BenchResult } from './_tools.ts';

/**
 * 256 MiB as the edge bench's gateways: at 64 MiB a third of the migrate time was the command's fixed
 * cost (process start, TLS to the nodes, offer/need), which the "nothing left to send" line measures.
 */
const MB = Number(process.env.BAKSA_BENCH_MIGRATION_MB ?? 256);

/**
 * Runs a command that must succeed; returns its wall time in seconds (the launcher included). Dirty
 * pages are flushed first (`sync`, untimed), as the backup bench does: the writeback of what earlier
 * steps wrote (the data, the other clusters, the backup) must not land on the command timed.
 */
async function must(args: string[]): Promise<number> {
  execFileSync('sync');
  const started = performance.now();
  const r = await cli(args);
  if (r.code !== 0) throw new Error(`2baksa ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return (performance.now() - started) / 1000;
}

async function* files(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

type ClusterMode = 'one process' | 'processes';

/** The 4 nodes of `init`: in this process, or each in its own `2baksa aggregator run` process, as in production. */
async function startNodes(init: Awaited<ReturnType<typeof initCluster>>, mode: ClusterMode): Promise<() => Promise<void>> {
  if (mode === 'one process') {
    const nodes: AggregatorNode[] = [];
    // This process hosts the nodes, as `npm start` does: the servers' heap growth while they run.
    setHeapGrowingPercent(SERVER_HEAP_GROWING_PERCENT);
    const stop = async () => {
      for (const n of nodes) await n.stop().catch(() => undefined);
      setHeapGrowingPercent(0);
    };
    try {
      for (const n of init.nodes) nodes.push(await AggregatorNode.start(await loadNodeConfig(n.config), { logger: silentLogger }));
    } catch (error) {
      await stop();
      throw error;
    }
    return stop;
  }
  const running = init.nodes.map((n) => runCli(['aggregator', 'run', '--config', n.config, '--json'], { BAKSA_LOG_LEVEL: 'warn' }));
  const stop = async () => {
    for (const p of running) p.child.kill('SIGTERM');
    await Promise.all(running.map((p) => p.exited));
  };
  try {
    for (const [i, p] of running.entries()) {
      await until(`aggregator node ${i + 1} ready`, () => p.out().includes('"event":"ready"') || p.child.exitCode !== null, 60_000);
      if (!p.out().includes('"event":"ready"')) throw new Error(`aggregator node ${i + 1} did not start:\n${p.err().slice(-2000)}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}

interface GatewayTimes {
  migrate: number;
  /** The same command again with nothing left to send: its fixed cost (start, TLS, offer/need). */
  migrateAgain: number;
  fromCloud: number;
  local: number;
}

interface Measured extends GatewayTimes {
  objectUp: number;
  objectDown: number;
}

/**
 * The gateways measured, each into a fresh cluster (the nodes' processes start cold for each: a
 * second migration into warm nodes ran faster than the first, whatever its chunks): a lone x86-edge
 * gateway (its own 2 MiB average chunks), and one cutting its chunks as a member of a 3-gateway site
 * does (agent/backup/run.ts edgeProfile: 256 KiB / 1 MiB / 2 MiB), the chunks such a site migrates.
 */
const gateways = [
  { account: 'gw1.bench.example', label: 'a lone x86-edge gateway (2 MiB chunks)', siteChunks: false },
  { account: 'gw3.bench.example', label: "a 3-gateway site's chunks (1 MiB)", siteChunks: true },
] as const;

/** x86-edge with the chunk sizes its members use in a 3-gateway site, as a profile file in `dir`. */
function siteChunksProfile(dir: string): string {
  const x86 = loadProfile('x86-edge');
  const path = join(dir, 'x86-edge-site-chunks.json');
  writeFileSync(path, JSON.stringify({ ...x86, name: 'x86-edge-site-chunks', chunking: edgeProfile(x86, 3).chunking }));
  return path;
}

/**
 * Aggregator nodes are long-running servers, so the measured gateway meets warm ones: another
 * account's small gateway first migrates to and restores from the fresh cluster, through the same
 * nodes the measured commands use, so its nodes' hot code is compiled when the timing starts. Without
 * it a measured command also timed V8 compiling the nodes' code (the nodes were started for it).
 */
const WARMUP_ACCOUNT = 'warmup.bench.example';
const WARMUP_MB = 32;

async function warmUp(dir: string, data: string, profile: string, cloud: (node: number) => string[]): Promise<void> {
  const state = join(dir, WARMUP_ACCOUNT);
  await must(['agent', 'init', '--state', state, '--name', WARMUP_ACCOUNT, '--profile', profile, '--source', data]);
  await must(['backup', '--state', state]);
  await must(['migrate', '--state', state, ...cloud(1), '--bandwidth', '0', '--ignore-window', '--json']);
  await must(['restore', 'latest', '--state', state, '--target', join(dir, 'r-warmup'), '--from', 'cloud', ...cloud(3)]);
  rmSync(join(dir, 'r-warmup'), { recursive: true, force: true });
}

async function measure(dir: string, data: string, warmupData: string, bytes: number, mode: ClusterMode, g: (typeof gateways)[number]): Promise<Measured> {
  const init = await initCluster({ dir: join(dir, 'cluster'), nodes: 4, basePort: await freeBasePort() });
  const stop = await startNodes(init, mode);
  try {
    const admin = new ApiClient(init.nodes[0]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.admin));
    for (const name of [g.account, 'gw2.bench.example', WARMUP_ACCOUNT]) {
      await admin.request('POST', '/v1/accounts', { name });
      await issueCertificate(init.pkiDir, { name, role: 'agent' });
    }
    admin.close();

    const cloud = (account: string, node: number) => ['--server', init.nodes[node]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', account];
    const profile = g.siteChunks ? siteChunksProfile(dir) : 'x86-edge';
    await warmUp(dir, warmupData, profile, (node) => cloud(WARMUP_ACCOUNT, node));

    const state = join(dir, g.account);
    await must(['agent', 'init', '--state', state, '--name', g.account, '--profile', profile, '--source', data]);
    await must(['backup', '--state', state]);
    const migrateCommand = ['migrate', '--state', state, ...cloud(g.account, 1), '--bandwidth', '0', '--ignore-window', '--json'];
    const migrate = await must(migrateCommand);
    const migrateAgain = await must(migrateCommand); // nothing left to send: the fixed cost
    const fromCloud = await must(['restore', 'latest', '--state', state, '--target', join(dir, 'r-cloud'), '--from', 'cloud', ...cloud(g.account, 3)]);
    const local = await must(['restore', 'latest', '--state', state, '--target', join(dir, 'r-local')]);

    // Baseline: the same bytes as one object stream through POST /backups (no chunking, one record).
    const parts: Buffer[] = [];
    for await (const p of files(data)) parts.push(await readFile(p));
    const blob = Buffer.concat(parts);
    const op = new ApiClient(init.nodes[1]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw2.bench.example'), { responseBytesMax: 2 * bytes });
    let t = performance.now();
    const stored = await op.request<{ objectId: string }>('POST', '/v1/accounts/gw2.bench.example/backups', blob);
    const objectUp = (performance.now() - t) / 1000;
    t = performance.now();
    await op.request('GET', `/v1/accounts/gw2.bench.example/backups/${stored.body.objectId}`, undefined, { responseBytes: true });
    const objectDown = (performance.now() - t) / 1000;
    op.close();
    return { migrate, migrateAgain, fromCloud, local, objectUp, objectDown };
  } finally {
    await stop();
  }
}

export async function run(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-bench-migration-'));
  try {
    const data = join(dir, 'logs');
    const bytes = MB * 1024 * 1024;
    await generateGatewayData(data, bytes);
    const warmupData = join(dir, 'warmup-logs');
    await generateGatewayData(warmupData, WARMUP_MB * 1024 * 1024, 2);
    const mb = bytes / 1e6;
    const rate = (s: number) => mb / s;
    const results: BenchResult[] = [];
    for (const mode of ['one process', 'processes'] as const) {
      const where = mode === 'one process' ? '4 nodes in this process' : '4 node processes';
      let m: Measured | undefined;
      for (const g of gateways) {
        const at = join(dir, `${mode.replace(' ', '-')}-${g.account}`);
        const t = await measure(at, data, warmupData, bytes, mode, g).finally(() => rmSync(at, { recursive: true, force: true }));
        m ??= t;
        results.push(
          { name: `migrate ${MB} MiB, ${where}, ${g.label} (launcher included)`, value: rate(t.migrate), unit: 'MB/s', note: `${t.migrate.toFixed(1)} s; target ≥ 100; ${(rate(t.migrate) / rate(t.objectUp)).toFixed(2)}× the one-object upload in its cluster` },
          { name: `baseline: migrate with nothing left to send, ${where}, ${g.label}`, value: t.migrateAgain, unit: 's', note: 'the fixed cost inside the migrate time (start, TLS, offer/need)' },
          { name: `restore --from cloud, ${where}, ${g.label}`, value: rate(t.fromCloud), unit: 'MB/s', note: `${t.fromCloud.toFixed(1)} s; target ≥ 100; ${(rate(t.fromCloud) / rate(t.local)).toFixed(2)}× the local restore` },
          { name: `baseline: restore from the gateway's own shards (${mode}), ${g.label}`, value: rate(t.local), unit: 'MB/s' },
        );
      }
      if (m === undefined) throw new Error('invariant violated: no gateway measured');
      results.push(
        { name: `baseline: one object upload, ${where}`, value: rate(m.objectUp), unit: 'MB/s' },
        { name: `baseline: one object download, ${where}`, value: rate(m.objectDown), unit: 'MB/s' },
      );
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
