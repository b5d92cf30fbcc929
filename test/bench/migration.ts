/**
 * Migration into the aggregator cluster and restore from it, on loopback (issue: ≥ 100 MB/s each).
 *
 * A 4-node cluster (PBFT over TLS with fsync, the cluster store over the API's internal routes, 2+2
 * over two racks) runs twice: in this process, and as four `2baksa aggregator run` processes as in
 * production (on a 2-core machine they share its cores with the agent either way). A gateway agent (`2baksa` processes, x86-edge profile) backs
 * up `gen-sensor-logs.py`-like data (cli/demo-data.ts), then:
 *   - `migrate`: offer/need, sealed chunks uploaded several to a request, recorded in batches with the
 *     snapshot record; MB/s of the agent's input;
 *   - `restore latest --from cloud`: chunks read several to a request from any k shards through another node;
 * Baselines in the same run: the local restore from the gateway's own shards, and the same bytes sent
 * as one object through POST /backups (one stream, one record).
 */
import { mkdtempSync, rmSync } from 'node:fs';
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
import { cli, runCli } from '../helpers/cli.ts';
import { until } from '../helpers/wait.ts';
import type { BenchResult } from './_tools.ts';

/**
 * 256 MiB as the edge bench's gateways: at 64 MiB a third of the migrate time was the command's fixed
 * cost (process start, TLS to the nodes, offer/need), which the "nothing left to send" line measures.
 */
const MB = Number(process.env.BAKSA_BENCH_MIGRATION_MB ?? 256);

/** Runs a command that must succeed; returns its wall time in seconds (the launcher included). */
async function must(args: string[]): Promise<number> {
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

interface Measured {
  migrate: number;
  /** The same command again with nothing left to send: its fixed cost (start, TLS, offer/need). */
  migrateAgain: number;
  fromCloud: number;
  local: number;
  objectUp: number;
  objectDown: number;
}

async function measure(dir: string, data: string, bytes: number, mode: ClusterMode): Promise<Measured> {
  const init = await initCluster({ dir: join(dir, 'cluster'), nodes: 4, basePort: await freeBasePort() });
  const stop = await startNodes(init, mode);
  try {
    const admin = new ApiClient(init.nodes[0]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.admin));
    await admin.request('POST', '/v1/accounts', { name: 'gw1.bench.example' });
    await admin.request('POST', '/v1/accounts', { name: 'gw2.bench.example' });
    admin.close();
    await issueCertificate(init.pkiDir, { name: 'gw1.bench.example', role: 'agent' });
    await issueCertificate(init.pkiDir, { name: 'gw2.bench.example', role: 'agent' });

    const state = join(dir, 'gw1');
    await must(['agent', 'init', '--state', state, '--name', 'gw1.bench.example', '--profile', 'x86-edge', '--source', data]);
    await must(['backup', '--state', state]);
    const cloud = (node: number, who = 'gw1.bench.example') => ['--server', init.nodes[node]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', who];

    const migrateCommand = ['migrate', '--state', state, ...cloud(1), '--bandwidth', '0', '--ignore-window', '--json'];
    const migrate = await must(migrateCommand);
    const migrateAgain = await must(migrateCommand); // nothing left to send: the fixed cost
    const fromCloud = await must(['restore', 'latest', '--state', state, '--target', join(dir, 'r-cloud'), '--from', 'cloud', ...cloud(3)]);
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
    const mb = bytes / 1e6;
    const rate = (s: number) => mb / s;
    const results: BenchResult[] = [];
    for (const mode of ['one process', 'processes'] as const) {
      const m = await measure(join(dir, mode.replace(' ', '-')), data, bytes, mode);
      const where = mode === 'one process' ? '4 nodes in this process' : '4 node processes';
      results.push(
        { name: `migrate ${MB} MiB, ${where} (launcher included)`, value: rate(m.migrate), unit: 'MB/s', note: `${m.migrate.toFixed(1)} s; target ≥ 100; ${(rate(m.migrate) / rate(m.objectUp)).toFixed(2)}× the one-object upload` },
        { name: `baseline: migrate with nothing left to send, ${where}`, value: m.migrateAgain, unit: 's', note: 'the fixed cost inside the migrate time (start, TLS, offer/need)' },
        { name: `restore --from cloud, ${where}`, value: rate(m.fromCloud), unit: 'MB/s', note: `${m.fromCloud.toFixed(1)} s; target ≥ 100; ${(rate(m.fromCloud) / rate(m.local)).toFixed(2)}× the local restore` },
        { name: `baseline: restore from the gateway's own shards (${mode})`, value: rate(m.local), unit: 'MB/s' },
        { name: `baseline: one object upload, ${where}`, value: rate(m.objectUp), unit: 'MB/s' },
        { name: `baseline: one object download, ${where}`, value: rate(m.objectDown), unit: 'MB/s' },
      );
    }
    return results;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
