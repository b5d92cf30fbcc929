/**
 * Edge-cluster benchmark: three gateway agents of one site, each its own process (`agent run`), meet on an
 * MQTT broker and keep each other's Reed–Solomon shards (2+1). Measured once on the broker that gateway 1
 * embeds (aedes, `agent run --broker-listen`) and once on Debian's mosquitto, each time with fresh state
 * directories and the same data:
 *   - the three `backup` commands started at the same time: total input / wall time from the start to the
 *     last one done (MB/s, MB = 1e6 bytes), and the average of each gateway's input / its own duration;
 *   - from `cluster status --json` on gateway 1: the bytes the members sent on the wire during the backups
 *     (sum of wireBytes), of which shard payload (sum of shardBytes); the rest is protocol metadata
 *     (PBFT, 2PC, membership, framing), reported as a percentage of the input (target ≤ 1 %);
 *   - Borg (`borg create`, repokey) on the same machine and the same three trees, as the baseline for the
 *     ratio edge cluster / borg local (target ≥ 0.5).
 *
 * Data: gen-sensor-logs.py DIR MB --seed 1|2|3, one tree per gateway, BAKSA_BENCH_EDGE_MB each (default 256),
 * generated once and `sync`ed before anything is timed, and again before each broker's backups start (so none
 * pays for the writeback of what ran before it). Profile: x86-edge with backups only on demand (as
 * test/integration/edge/cluster.test.ts). Borg comes from Debian (apt-get install -y borgbackup, tried once
 * when missing) and mosquitto from test/helpers/brokers.ts; either one missing is skipped with a note.
 *
 * Run: npm run bench -- edge                      (256 MB per gateway)
 *      BAKSA_BENCH_EDGE_MB=64 npm run bench -- edge
 *      node --import tsx test/bench/edge.ts [MB]
 *      BAKSA_BENCH_PROFILE_DIR=DIR npm run bench -- edge   (a V8 CPU profile of each daemon in DIR)
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duBytes, genSensorLogs, have, repoRoot, type BenchResult } from './_tools.ts';
import { freePort, startMosquitto, type TestBroker } from '../helpers/brokers.ts';

const root = repoRoot;
const cliPath = join(root, 'cli/2baksa.mjs');
const NAMES = ['gw-1.bench', 'gw-2.bench', 'gw-3.bench'];
const SITE = 'bench';
/** A backup that takes longer than this is killed and the bench fails (a hang must not hang the bench). */
const BACKUP_TIMEOUT_MS = 30 * 60_000;
const JOIN_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

const say = (s: string) => process.stdout.write(`  ${s}\n`);

interface Timed {
  seconds: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking the event loop (so several can run at once): wall seconds. */
function timedAsync(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = BACKUP_TIMEOUT_MS): Promise<Timed> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[bench] killed after ${timeoutMs / 1000} s`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, code, stdout, stderr });
    });
  });
}

/** Runs a command to its end (blocking): wall seconds; throws when it fails. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Timed {
  const started = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { seconds, code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ensureBorg(): { borg: boolean; note: string } {
  let note = '';
  if (!have('borg')) {
    const r = spawnSync('apt-get', ['install', '-y', '-qq', 'borgbackup'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) {
      note = 'apt-get install borgbackup failed: the borg baseline is skipped';
      say(note);
    }
  }
  return { borg: have('borg'), note };
}

/** x86-edge with backups only on demand (a cron that never fires soon), no worker threads. */
function writeProfile(path: string): string {
  const profile = JSON.parse(readFileSync(join(root, 'firmware-profiles/x86-edge.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(profile, { name: 'edge-bench', schedule: { mode: 'snapshot', cron: '0 0 1 1 *', settleS: 0, scanIntervalS: 60 }, storeWorker: false, heartbeatIntervalS: 60 });
  writeFileSync(path, JSON.stringify(profile));
  return path;
}

const agentEnv: NodeJS.ProcessEnv = { BAKSA_LOG_LEVEL: 'warn' };
/** BAKSA_BENCH_PROFILE_DIR: each daemon writes a V8 CPU profile there when it stops. */
const profileDir = process.env.BAKSA_BENCH_PROFILE_DIR;
const profileArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
const baksa = (...args: string[]) => timedAsync(process.execPath, [cliPath, ...args], agentEnv);

interface Daemon {
  child: ChildProcess;
  /** The last 8 kB of its interleaved output, for error messages. */
  tail: () => string;
  exited: Promise<void>;
}

interface Gateway {
  name: string;
  state: string;
  source: string;
  inputBytes: number;
  daemon?: Daemon;
}

const running = (d: Daemon | undefined): d is Daemon => d !== undefined && d.child.exitCode === null && d.child.signalCode === null;

function startDaemon(g: Gateway, embed: string[]): Daemon {
  // Its own process group, so that a SIGKILL in `finally` also reaches anything it may have started.
  const child = spawn(process.execPath, [...profileArgs, cliPath, 'agent', 'run', '--state', g.state, ...embed], {
    cwd: root,
    env: { ...process.env, ...agentEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, tail: () => out, exited };
}

async function stopDaemon(g: Gateway): Promise<void> {
  const d = g.daemon;
  if (!running(d)) return;
  d.child.kill('SIGTERM');
  const stopped = await Promise.race([d.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), STOP_TIMEOUT_MS).unref())]);
  if (!stopped) {
    say(`${g.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed`);
    killDaemon(g);
    await d.exited;
  }
}

function killDaemon(g: Gateway): void {
  const d = g.daemon;
  if (!d || d.child.pid === undefined) return;
  try {
    process.kill(-d.child.pid, 'SIGKILL'); // the daemon's process group (it is the group leader)
  } catch {
    if (running(d)) d.child.kill('SIGKILL');
  }
}

interface MemberStatus {
  id: string;
  status: string;
  self: boolean;
  blocks?: number;
  wireBytes?: number;
  shardBytes?: number;
}

interface ClusterStatus {
  self: string;
  joined: boolean;
  members: MemberStatus[];
}

async function clusterStatus(g: Gateway): Promise<ClusterStatus | undefined> {
  const r = await timedAsync(process.execPath, [cliPath, 'cluster', 'status', '--state', g.state, '--json'], agentEnv, 30_000);
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as ClusterStatus;
  } catch {
    return undefined;
  }
}

async function waitJoined(gateways: Gateway[]): Promise<void> {
  const deadline = Date.now() + JOIN_TIMEOUT_MS;
  for (const g of gateways) {
    for (;;) {
      const dead = gateways.find((x) => x.daemon !== undefined && !running(x.daemon));
      if (dead) throw new Error(`${dead.name}'s daemon exited (${dead.daemon!.child.exitCode ?? dead.daemon!.child.signalCode}) before the cluster joined:\n${dead.daemon!.tail()}`);
      const s = await clusterStatus(g);
      if (s?.joined === true && s.members.filter((m) => m.status === 'online').length === gateways.length) break;
      if (Date.now() > deadline) {
        throw new Error(`the cluster did not join within ${JOIN_TIMEOUT_MS / 1000} s (${g.name}: ${JSON.stringify(s)}):\n${gateways.map((x) => `--- ${x.name}:\n${x.daemon?.tail().slice(-3000)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

interface Traffic {
  wire: number;
  shard: number;
}

/** Sum of wireBytes and shardBytes over the members, as gateway 1 sees them (asked again while a member has not answered). */
async function traffic(g: Gateway): Promise<Traffic | undefined> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const s = await clusterStatus(g);
    if (s && s.members.length === NAMES.length && s.members.every((m) => m.wireBytes !== undefined && m.shardBytes !== undefined)) {
      return { wire: s.members.reduce((a, m) => a + m.wireBytes!, 0), shard: s.members.reduce((a, m) => a + m.shardBytes!, 0) };
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  return undefined;
}

interface Summary {
  message_type?: string;
  total_bytes_processed?: number;
  data_added?: number;
  data_stored_with_parity?: number;
}

function summaryOf(out: string): Summary | undefined {
  const lines = out.split('\n').filter((l) => l.startsWith('{'));
  for (const l of lines.reverse()) {
    try {
      const j = JSON.parse(l) as Summary;
      if (j.message_type === 'summary') return j;
    } catch {
      // not a JSON line
    }
  }
  return undefined;
}

interface EdgeRun {
  wallSeconds: number;
  perGatewayMbS: number;
  traffic?: Traffic;
}

/** One measurement on one broker: fresh state, three daemons, three backups at once, traffic, stop. */
async function edgeRun(kind: string, dir: string, data: Array<{ dir: string; bytes: number }>, profile: string, broker: TestBroker | undefined): Promise<EdgeRun> {
  const port = broker?.port ?? (await freePort());
  const url = broker?.url ?? `mqtt://127.0.0.1:${port}`;
  const gateways: Gateway[] = NAMES.map((name, i) => ({ name, state: join(dir, name, 'state'), source: data[i]!.dir, inputBytes: data[i]!.bytes }));
  try {
    for (const g of gateways) {
      mkdirSync(join(dir, g.name), { recursive: true });
      const r = await baksa('agent', 'init', '--state', g.state, '--name', g.name, '--site', SITE, '--members', NAMES.join(','), '--broker', url, '--profile', profile, '--source', g.source);
      if (r.code !== 0) throw new Error(`agent init ${g.name} failed (${r.code}): ${r.stderr.slice(-2000)}`);
    }
    for (const [i, g] of gateways.entries()) {
      const embed = i === 0 && !broker ? ['--broker-listen', String(port), '--broker-host', '127.0.0.1'] : [];
      g.daemon = startDaemon(g, embed);
    }
    const joinStarted = Date.now();
    await waitJoined(gateways);
    say(`${kind}: 3 gateways joined in ${((Date.now() - joinStarted) / 1000).toFixed(1)} s`);
    const g1 = gateways[0]!;
    // Traffic before the backups (joining, membership): subtracted, so only the backups' bytes count.
    const before = await traffic(g1);
    // Whatever ran before (borg create, the other broker's run and its deletion) leaves dirty pages whose
    // writeback would land on these backups: the broker measured first paid for it.
    execFileSync('sync');

    const started = process.hrtime.bigint();
    const runs = await Promise.all(gateways.map((g) => baksa('backup', '--state', g.state, '--json')));
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const [i, r] of runs.entries()) {
      const g = gateways[i]!;
      if (r.code !== 0) throw new Error(`backup on ${g.name} (${kind}) failed (${r.code}):\n${r.stderr.slice(-2000)}\n--- daemon:\n${g.daemon?.tail().slice(-3000)}`);
      const s = summaryOf(r.stdout);
      if (!s) throw new Error(`backup on ${g.name} (${kind}) printed no summary:\n${r.stdout.slice(-2000)}`);
      const processed = s.total_bytes_processed ?? 0;
      say(
        `${kind}: ${g.name} backup ${r.seconds.toFixed(2)} s, ${(g.inputBytes / 1e6 / r.seconds).toFixed(1)} MB/s, processed ${(processed / 1e6).toFixed(1)} MB, added ${((s.data_added ?? 0) / 1e6).toFixed(1)} MB, stored with parity ${((s.data_stored_with_parity ?? 0) / 1e6).toFixed(1)} MB`,
      );
      if (processed !== g.inputBytes) say(`${kind}: note: ${g.name} processed ${processed} bytes, the tree holds ${g.inputBytes}`);
    }
    const perGatewayMbS = runs.reduce((a, r, i) => a + gateways[i]!.inputBytes / 1e6 / r.seconds, 0) / runs.length;
    const inputMb = gateways.reduce((a, g) => a + g.inputBytes, 0) / 1e6;
    say(`${kind}: 3 backups at once: ${wallSeconds.toFixed(2)} s wall for ${inputMb.toFixed(1)} MB`);

    const after = await traffic(g1);
    let t: Traffic | undefined;
    if (after) {
      t = before ? { wire: after.wire - before.wire, shard: after.shard - before.shard } : after;
      say(
        `${kind}: wire ${(after.wire / 1e6).toFixed(1)} MB in all (${before ? `${(before.wire / 1e3).toFixed(1)} kB before the backups` : 'nothing read before the backups'}), during the backups ${(t.wire / 1e6).toFixed(2)} MB of which shards ${(t.shard / 1e6).toFixed(2)} MB`,
      );
    } else say(`${kind}: cluster status did not give every member's wireBytes/shardBytes`);

    for (const g of gateways) await stopDaemon(g);
    return { wallSeconds, perGatewayMbS, ...(t ? { traffic: t } : {}) };
  } finally {
    for (const g of gateways) {
      if (running(g.daemon)) {
        killDaemon(g);
        await g.daemon.exited;
      }
    }
  }
}

export async function run(mbPerGateway = Number(process.env.BAKSA_BENCH_EDGE_MB ?? 256)): Promise<BenchResult[]> {
  const tools = ensureBorg();
  const work = mkdtempSync(join(tmpdir(), 'baksa-bench-edge-'));
  const results: BenchResult[] = [];
  let mosquitto: TestBroker | undefined;
  try {
    // --- data: one tree per gateway, generated once for both brokers and for borg ---
    const data = await Promise.all(
      NAMES.map(
        (_, i) =>
          new Promise<{ dir: string; bytes: number }>((resolve, reject) => {
            const dir = join(work, 'data', `gw-${i + 1}`);
            execFile('python3', [genSensorLogs, dir, String(mbPerGateway), '--seed', String(i + 1)], (error) => (error ? reject(error) : resolve({ dir, bytes: duBytes(dir) })));
          }),
      ),
    );
    const inputBytes = data.reduce((a, d) => a + d.bytes, 0);
    const inputMb = inputBytes / 1e6;
    say(`data: 3 trees of ${data.map((d) => (d.bytes / 1e6).toFixed(1)).join(' / ')} MB, ${inputMb.toFixed(1)} MB in all`);
    const profile = writeProfile(join(work, 'profile.json'));
    execFileSync('sync'); // the generator's writeback must not land on whoever runs first

    // --- baseline: borg on the same machine and the same data ---
    // The three gateways of the cluster share this machine's CPUs and disk, so the comparable figure is the
    // machine's throughput on the same bytes: borg backs up the three trees (one archive each, into one local
    // repository, as one box would keep them) one after the other, total input / total time. Borg is
    // single-threaded, so on a machine with many cores the sequential runs leave cores idle that the three
    // agents can use; borg of one tree alone would instead compare against one gateway, which the
    // "per gateway" result already shows in absolute terms.
    let borgMbS: number | undefined;
    if (tools.borg) {
      const borgEnv: NodeJS.ProcessEnv = {
        BORG_PASSPHRASE: 'bench',
        BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'yes',
        BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes',
        BORG_BASE_DIR: join(work, 'borg-home'), // its caches and keys go away with the work directory
      };
      const repo = join(work, 'borg');
      execFileSync('borg', ['init', '-e', 'repokey', repo], { env: { ...process.env, ...borgEnv }, stdio: 'ignore' });
      let seconds = 0;
      for (const [i, d] of data.entries()) {
        const t = timed('borg', ['create', `${repo}::gw-${i + 1}`, d.dir], borgEnv);
        say(`borg create gw-${i + 1}: ${t.seconds.toFixed(2)} s`);
        seconds += t.seconds;
      }
      borgMbS = inputMb / seconds;
      say(`borg: ${seconds.toFixed(2)} s for ${inputMb.toFixed(1)} MB`);
      results.push({ name: 'borg create local (same data)', value: borgMbS, unit: 'MB/s', note: `3 archives one after the other, ${seconds.toFixed(2)} s` });
    } else results.push({ name: 'borg create local (same data)', value: Number.NaN, unit: '', note: tools.note || 'borg missing' });

    // --- the edge cluster, on each broker ---
    const kinds: Array<{ kind: string; broker: () => Promise<TestBroker | undefined> }> = [
      { kind: 'aedes', broker: async () => undefined },
      {
        kind: 'mosquitto',
        broker: async () => {
          mosquitto = await startMosquitto();
          return mosquitto;
        },
      },
    ];
    for (const { kind, broker } of kinds) {
      let b: TestBroker | undefined;
      try {
        b = await broker();
      } catch (error) {
        const note = `mosquitto did not start: ${error instanceof Error ? error.message : String(error)}`;
        say(note);
        results.push({ name: `edge backup (${kind})`, value: Number.NaN, unit: '', note });
        continue;
      }
      try {
        const r = await edgeRun(kind, join(work, kind), data, profile, b);
        const mbS = inputMb / r.wallSeconds;
        results.push(
          { name: `edge backup, 3 gateways at once (${kind})`, value: mbS, unit: 'MB/s', note: `${r.wallSeconds.toFixed(2)} s for ${inputMb.toFixed(0)} MB` },
          { name: `edge backup per gateway (${kind})`, value: r.perGatewayMbS, unit: 'MB/s' },
        );
        if (r.traffic) {
          results.push(
            { name: `wire bytes / input (${kind})`, value: r.traffic.wire / inputBytes, unit: 'x', note: `${(r.traffic.wire / 1e6).toFixed(1)} MB sent, ${(r.traffic.shard / 1e6).toFixed(1)} MB of it shards` },
            { name: `metadata on the wire / input (${kind})`, value: ((r.traffic.wire - r.traffic.shard) / inputBytes) * 100, unit: '%', note: "target ≤ 1 % (the protocol's published figure: 12 %)" },
          );
        } else results.push({ name: `wire bytes / input (${kind})`, value: Number.NaN, unit: '', note: 'cluster status did not report every member' });
        if (borgMbS !== undefined) results.push({ name: `edge cluster / borg local (${kind})`, value: mbS / borgMbS, unit: 'x', note: 'target ≥ 0.5' });
      } finally {
        if (b) {
          await b.stop();
          if (b === mosquitto) mosquitto = undefined;
        }
        rmSync(join(work, kind), { recursive: true, force: true });
      }
    }
    return results;
  } finally {
    await mosquitto?.stop().catch(() => undefined);
    if (existsSync(work)) rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mb = process.argv[2] ? Number(process.argv[2]) : undefined;
  for (const r of await run(mb)) {
    process.stdout.write(`${r.name.padEnd(56)} ${Number.isFinite(r.value) ? r.value.toFixed(3) : '-'} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
  }
}
