// The edge cluster harness for the integration tests: three gateway agents as real processes, on
// the site broker gateway 1 embeds or on Debian's mosquitto, driven through the real commands; gateway 3
// reaches the broker through a TCP relay a test can cut. With `tls` the cluster runs over mqtts with
// certificates from the real `2baksa pki` (tls.test.ts).
import * as assert from 'uvu/assert';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { copyFileSync, readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateGatewayData } from '../../../cli/demo-data.ts';
import { freePort, startMosquitto, type TestBroker } from '../../helpers/brokers.ts';
import { cli, jsonLines, repoRoot, runCli, type CliResult, type RunningCli } from '../../helpers/cli.ts';
import { until } from '../../helpers/wait.ts';

export const NAMES = ['gw-1.site', 'gw-2.site', 'gw-3.site'];

export interface Gateway {
  name: string;
  state: string;
  source: string;
  /** With `tls`: the gateway's PKI directory (ca.crt and its own certificate and key, no CA key). */
  tlsDir?: string;
  daemon?: RunningCli;
}

export interface Ctx {
  root: string;
  gateways: Gateway[];
  broker?: TestBroker;
  brokerUrl: string;
  brokerPort: number;
  /** gw-3 reaches the broker through this proxy, so a test can cut its link. */
  link: Link;
  /** With `tls`: the CA's directory (`2baksa pki init`), holding every certificate issued. */
  pki?: string;
}

export interface SetUpOptions {
  /** A CA and one agent certificate per gateway from the real `2baksa pki`, `agent init --tls-dir`: mqtts. */
  tls?: boolean;
  /** Generated log bytes per gateway (default 3 MiB). */
  dataBytes?: number;
  /** The gateways' heartbeat interval (default 60 s; the profile allows 5 at the least). */
  heartbeatIntervalS?: number;
}

/** A TCP relay that can be cut (every connection dropped, new ones refused) and healed. */
export interface Link {
  port: number;
  cut(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startLink(targetPort: number): Promise<Link> {
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

/** x86-edge with backups only on demand (a cron that never fires soon), no worker threads, its zstd 1. */
export function writeProfile(path: string, heartbeatIntervalS = 60): string {
  const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles/x86-edge.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(profile, { name: 'edge-test', schedule: { mode: 'snapshot', cron: '0 0 1 1 *', settleS: 0, scanIntervalS: 60 }, storeWorker: false, heartbeatIntervalS });
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

export function ok(r: CliResult, what: string): CliResult {
  assert.is(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r;
}

export function startDaemon(ctx: Ctx, g: Gateway): void {
  const embed = g === ctx.gateways[0] && !ctx.broker ? ['--broker-listen', String(ctx.brokerPort), '--broker-host', '127.0.0.1'] : [];
  g.daemon = runCli(['agent', 'run', '--state', g.state, ...embed], { BAKSA_LOG_LEVEL: 'info' });
}

export async function clusterStatus(
  g: Gateway,
): Promise<{ joined: boolean; members: Array<{ id: string; status: string; blocks?: number; role?: string; admittedAt?: number }> } | undefined> {
  const r = await cli(['cluster', 'status', '--state', g.state, '--json']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as never;
}

export async function waitJoined(g: Gateway, online: number, daemons: Gateway[]): Promise<void> {
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

export function snapshotIds(r: CliResult): string[] {
  return (JSON.parse(r.stdout || '[]') as Array<{ id: string }>).map((s) => s.id);
}

export async function backup(g: Gateway): Promise<CliResult> {
  return cli(['backup', '--state', g.state, '--json']);
}

export function snapshotOf(r: CliResult): string {
  const summary = jsonLines(r.stdout).find((l) => l.message_type === 'summary');
  assert.ok(summary, `no summary in ${r.stdout}`);
  return summary.snapshot_id as string;
}

export async function restoresIdentical(g: Gateway, snapshot: string, target: string): Promise<void> {
  rmSync(target, { recursive: true, force: true });
  const r = await cli(['restore', snapshot, '--state', g.state, '--target', target, '--json']);
  ok(r, `restore of ${snapshot.slice(0, 8)} on ${g.name}`);
  const cmp = await cli(['compare', snapshot, '--state', g.state, '--target', target]);
  ok(cmp, `compare of ${snapshot.slice(0, 8)} on ${g.name}`);
}

/** `2baksa pki init` in ROOT/pki, then `pki issue --role agent` for every gateway, each copied with ca.crt to its own directory. */
async function issueGatewayCertificates(root: string): Promise<{ pki: string; tlsDirs: string[] }> {
  const pki = join(root, 'pki');
  ok(await cli(['pki', 'init', '--dir', pki, '--name', 'edge-test-ca', '--json']), 'pki init');
  const tlsDirs: string[] = [];
  for (const name of NAMES) {
    ok(await cli(['pki', 'issue', '--dir', pki, '--name', name, '--role', 'agent', '--json']), `pki issue ${name}`);
    const dir = join(root, name, 'tls');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const file of ['ca.crt', `${name}.crt`, `${name}.key`]) copyFileSync(join(pki, file), join(dir, file));
    tlsDirs.push(dir);
  }
  return { pki, tlsDirs };
}

export async function setUp(withMosquitto: boolean, options: SetUpOptions = {}): Promise<Ctx> {
  const root = await mkdtemp(join(tmpdir(), '2baksa-edge-cluster-'));
  const profile = writeProfile(join(root, 'profile.json'), options.heartbeatIntervalS);
  const broker = withMosquitto ? await startMosquitto() : undefined;
  const scheme = options.tls ? 'mqtts' : 'mqtt';
  const brokerPort = broker?.port ?? (await freePort());
  const brokerUrl = broker?.url ?? `${scheme}://127.0.0.1:${brokerPort}`;
  const link = await startLink(brokerPort);
  const certs = options.tls ? await issueGatewayCertificates(root) : undefined;
  const gateways: Gateway[] = [];
  for (const [i, name] of NAMES.entries()) {
    const g: Gateway = { name, state: join(root, name, 'state'), source: join(root, name, 'logs'), ...(certs ? { tlsDir: certs.tlsDirs[i]! } : {}) };
    mkdirSync(g.source, { recursive: true });
    await generateGatewayData(g.source, options.dataBytes ?? 3 * 1024 * 1024, i + 1);
    ok(
      await cli([
        'agent', 'init', '--state', g.state, '--name', name, '--site', 'plant', '--members', NAMES.join(','),
        '--broker', i === 2 ? `${scheme}://127.0.0.1:${link.port}` : brokerUrl, '--profile', profile, '--source', g.source,
        ...(g.tlsDir ? ['--tls-dir', g.tlsDir] : []),
      ]),
      `init ${name}`,
    );
    gateways.push(g);
  }
  return { root, gateways, brokerUrl, brokerPort, link, ...(broker ? { broker } : {}), ...(certs ? { pki: certs.pki } : {}) };
}

export async function tearDown(ctx: Ctx): Promise<void> {
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

/** The shard files under `dir`; a daemon may delete some while this walks (a release), which is no error. */
export function shardFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/^[0-9a-f]{64}$/.test(entry.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}
