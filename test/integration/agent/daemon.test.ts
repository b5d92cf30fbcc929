// The daemon with a real broker (embedded aedes): MQTT sensor capture into rolling logs, lazy-mode
// backups of settled files, the heartbeat and events of DESIGN §7 as signed MessagePack envelopes (decoded
// with the aggregator monitor's own decoder, a contract test), a clean SIGTERM shutdown (Deregister), and
// no daemon left behind by kill -9 nor a Ctrl-C taken twice when the profile's runtime settings restarted it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startAedes } from '../../helpers/brokers.ts';
import { openTelemetry, claimedRegisterKey } from '../../../aggregator/monitoring/messages.ts';
import { cli, finished, repoRoot, startCli } from '../../helpers/cli.ts';
import { spawn } from 'node:child_process';
import { sensorLines, tempDir } from '../../unit/agent/_helpers.ts';

function editConfig(state: string, edit: (c: Record<string, any>) => void): void {
  const path = join(state, 'agent.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, any>;
  edit(c);
  writeFileSync(path, JSON.stringify(c, null, 2));
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A lone agent (small-arm) on one log of `lines` sensor lines; its state directory. */
async function initLoneAgent(root: string, name: string, lines: number): Promise<string> {
  const src = join(root, 'logs');
  mkdirSync(src);
  writeFileSync(join(src, 'a.csv'), sensorLines(lines));
  const state = join(root, 'state');
  const init = await cli(['agent', 'init', '--state', state, '--name', name, '--profile', 'small-arm', '--source', src]);
  assert.is(init.code, 0, init.stderr);
  return state;
}

test('agent run: capture, lazy backups, heartbeat and events, clean shutdown', async () => {
  const t = tempDir();
  const broker = await startAedes();
  const watcher = mqtt.connect(broker.url);
  try {
    const received: Array<{ topic: string; payload: Buffer }> = [];
    await new Promise<void>((resolve) => watcher.on('connect', () => resolve()));
    await watcher.subscribeAsync(['2baksa/v1/#']);
    watcher.on('message', (topic, payload) => received.push({ topic, payload }));

    const src = join(t.path, 'logs');
    mkdirSync(src);
    writeFileSync(join(src, 'plc.csv'), sensorLines(2000));
    const state = join(t.path, 'state');
    const init = await cli(['agent', 'init', '--state', state, '--name', 'gw-d.example', '--profile', 'small-arm', '--source', src, '--broker', broker.url, '--mqtt-topic', 'sensors/#']);
    assert.is(init.code, 0, init.stderr);
    editConfig(state, (c) => {
      c.telemetry.cluster = 'dc1';
      c.schedule = { mode: 'lazy', settleS: 1, scanIntervalS: 1 };
      c.heartbeatIntervalS = 5;
    });
    // Before any sensor message the capture directory is empty, not an entry the backup could not read.
    const before = await cli(['backup', '--state', state]);
    assert.is(before.code, 0, `a backup before the first capture exited ${before.code}: ${before.stderr}`);

    const daemon = startCli(['agent', 'run', '--state', state], { BAKSA_LOG_LEVEL: 'info' });
    const done = finished(daemon);
    // Register, then a heartbeat at once.
    const register = await until('Register', () => received.find((m) => m.topic === '2baksa/v1/dc/dc1/register'));
    const claimed = claimedRegisterKey(register.payload)!;
    assert.is(claimed.from, 'gw-d.example');
    const keyOf = (from: string) => (from === claimed.from ? claimed.pubkey : undefined);
    const hbMsg = await until('heartbeat', () => received.find((m) => m.topic === '2baksa/v1/default/telemetry/gw-d.example/heartbeat'));
    const hb = openTelemetry(hbMsg.payload, { keyOf });
    assert.is(hb.type, 'Heartbeat');
    if (hb.type !== 'Heartbeat') throw new Error('unreachable');
    assert.is(hb.body.account, 'gw-d.example');
    assert.is(hb.body.agentVersion.length > 0, true);
    assert.ok(hb.body.uptimeS >= 0);
    assert.ok(hb.body.metrics?.memTotalBytes! > 0, 'systeminformation metrics are in');
    assert.ok(hb.body.lastConnectionMs! > 0);

    // Sensor messages are captured into rolling logs.
    const publisher = mqtt.connect(broker.url);
    await new Promise<void>((resolve) => publisher.on('connect', () => resolve()));
    for (let i = 0; i < 20; i++) await publisher.publishAsync(`sensors/line1/temp`, `{"v":${20 + i / 10}}`, { qos: 1 });
    await publisher.publishAsync('sensors/raw', Buffer.from([0xff, 0x00, 0x10]), { qos: 1 });
    await publisher.endAsync();
    const captureDir = join(state, 'sensors', 'sensors_all');
    const lines = await until('captured lines', () => {
      if (!existsSync(captureDir)) return undefined;
      const text = readdirSync(captureDir).map((f) => readFileSync(join(captureDir, f), 'utf8')).join('');
      const ls = text.split('\n').filter(Boolean);
      return ls.length >= 21 ? ls : undefined;
    });
    const parsed = lines.map((l) => JSON.parse(l) as { topic: string; payload?: string; payload_b64?: string });
    assert.is(parsed.filter((p) => p.topic === 'sensors/line1/temp').length, 20);
    assert.is(parsed.find((p) => p.topic === 'sensors/raw')!.payload_b64, Buffer.from([0xff, 0x00, 0x10]).toString('base64'));

    // A lazy backup takes the settled files: the capture log once it has been still for 1 s.
    const capturedAt = Date.now();
    await until('a lazy backup with the settled capture log', () => {
      const ok = received.filter((m) => m.topic.endsWith('/event')).map((m) => openTelemetry(m.payload, { keyOf }));
      return ok.some((e) => e.type === 'TelemetryEvent' && e.body.event === 'backup-ok' && e.ts > capturedAt + 1000) ? true : undefined;
    }, 40_000);
    const events = received.filter((m) => m.topic.endsWith('/event')).map((m) => openTelemetry(m.payload, { keyOf }));
    const names = events.map((e) => (e.type === 'TelemetryEvent' ? e.body.event : e.type));
    assert.ok(names.includes('backup-start') && names.includes('backup-finish'), names.join(','));

    daemon.kill('SIGTERM');
    const exit = await done;
    assert.is(exit.code, 0, exit.stderr);
    await until('Deregister', () => received.find((m) => m.topic === '2baksa/v1/dc/dc1/deregister'));
    const dereg = openTelemetry(received.find((m) => m.topic === '2baksa/v1/dc/dc1/deregister')!.payload, { keyOf });
    assert.is(dereg.type, 'Deregister');
    assert.not.ok(existsSync(join(state, 'daemon.pid')), 'the pid file is removed');

    // The captured sensor log is in a snapshot and restores.
    const snaps = JSON.parse((await cli(['snapshots', '--state', state, '--json'])).stdout) as Array<{ type: string }>;
    assert.ok(snaps.length >= 1);
    assert.is(snaps.at(-1)!.type, 'lazy');
    const target = join(t.path, 'r');
    assert.is((await cli(['restore', 'latest', '--state', state, '--target', target])).code, 0);
    const restored = readdirSync(join(target, captureDir)).map((f) => readFileSync(join(target, captureDir, f), 'utf8')).join('');
    assert.is(restored.split('\n').filter(Boolean).length, 21, 'every captured message is in the snapshot');
  } finally {
    await watcher.endAsync().catch(() => undefined);
    await broker.stop();
    t.cleanup();
  }
});

test('agent run in snapshot mode follows its cron schedule', async () => {
  const t = tempDir();
  try {
    const state = await initLoneAgent(t.path, 'gw-c', 500);
    editConfig(state, (c) => (c.schedule = { mode: 'snapshot', cron: '*/2 * * * * *' }));
    const daemon = startCli(['agent', 'run', '--state', state]);
    const done = finished(daemon);
    await until('two scheduled snapshots', () => {
      try {
        const status = JSON.parse(readFileSync(join(state, 'status.json'), 'utf8')) as { lastRun?: { type: string } };
        return status.lastRun?.type === 'snapshot' ? true : undefined;
      } catch {
        return undefined;
      }
    });
    // A second daemon on the same state directory is refused.
    const twin = await cli(['agent', 'run', '--state', state]);
    assert.is(twin.code, 5);
    assert.match(twin.stderr, 'DAEMON_RUNNING');
    daemon.kill('SIGINT');
    assert.is((await done).code, 0);
    const snaps = JSON.parse((await cli(['snapshots', '--state', state, '--json'])).stdout) as Array<{ type: string }>;
    assert.ok(snaps.length >= 1);
    assert.is(snaps[0]!.type, 'snapshot');
  } finally {
    t.cleanup();
  }
});

test('agent run: a SIGTERM during start-up waits for the start, then stops cleanly', async () => {
  const t = tempDir();
  try {
    const state = await initLoneAgent(t.path, 'gw-e', 100);
    const daemon = startCli(['agent', 'run', '--state', state]);
    const done = finished(daemon);
    // The pid file is the daemon's first step; everything else is still starting.
    while (!existsSync(join(state, 'daemon.pid')) && daemon.exitCode === null) await new Promise((r) => setTimeout(r, 2));
    daemon.kill('SIGTERM');
    const exit = await done;
    assert.equal([exit.code, exit.signal], [0, null], exit.stderr);
    assert.not.ok(existsSync(join(state, 'daemon.pid')), 'the pid file is removed: the clean stop ran');
  } finally {
    t.cleanup();
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('agent run: kill -9 of the daemon also ends the copy it restarted itself as, and the next daemon starts', async () => {
  const t = tempDir();
  let restarted: number | undefined;
  try {
    // small-arm's runtime settings (a small young generation, two malloc arenas) restart the daemon once.
    const state = await initLoneAgent(t.path, 'gw-f', 100);
    const daemon = startCli(['agent', 'run', '--state', state]);
    const exited = new Promise((resolve) => daemon.on('exit', resolve));
    const pidFile = join(state, 'daemon.pid');
    const copy = await until('the restarted daemon’s pid file', () => {
      if (!existsSync(pidFile)) return undefined;
      const pid = (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid;
      return pid !== daemon.pid ? pid : undefined;
    });
    restarted = copy;
    daemon.kill('SIGKILL');
    await exited;
    await until('the restarted daemon to end', () => !alive(copy) || undefined, 10_000);
    const next = startCli(['agent', 'run', '--state', state]);
    const nextDone = finished(next);
    await until('the next daemon', () => existsSync(pidFile) && (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid !== copy ? true : undefined);
    next.kill('SIGTERM');
    const exit = await nextDone;
    assert.equal([exit.code, exit.signal], [0, null], exit.stderr);
  } finally {
    if (restarted !== undefined && alive(restarted)) process.kill(restarted, 'SIGKILL');
    t.cleanup();
  }
});

test('agent run: a Ctrl-C at a terminal (SIGINT to the whole process group) stops the restarted daemon cleanly', async () => {
  const t = tempDir();
  try {
    const state = await initLoneAgent(t.path, 'gw-g', 100);
    // Its own process group, as a shell gives a foreground job: the terminal signals every process in it.
    const daemon = spawn(process.execPath, ['cli/2baksa.mjs', 'agent', 'run', '--state', state], {
      cwd: repoRoot,
      env: { ...process.env, BAKSA_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const done = finished(daemon);
    const pidFile = join(state, 'daemon.pid');
    await until('the restarted daemon', () => existsSync(pidFile) && (JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number }).pid !== daemon.pid ? true : undefined);
    await new Promise((r) => setTimeout(r, 500)); // running, not still starting
    process.kill(-daemon.pid!, 'SIGINT');
    const exit = await done;
    assert.equal([exit.code, exit.signal], [0, null], exit.stderr);
    assert.match(exit.stdout + exit.stderr, /agent stopped/, 'the clean stop ran to its end');
  } finally {
    t.cleanup();
  }
});

test.run();
