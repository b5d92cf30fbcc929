// Box Backup 3 end to end: real agent-like processes heartbeat over a real broker (aedes) into the real
// monitor service. SIGTERM de-registers and raises nothing; kill -9 raises exactly one alert after
// 2 × interval, through the notify hook (with the group administrator), the MQTT alert topic and the log.
// A monitor whose broker is gone judges no silence until it hears again, and then gives every gateway a
// full window: the one that went on is not alerted, the one that died is, once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { silentLogger } from '../../../shared/log.ts';
import { decodeUntrusted, filters } from '../../../shared/protocol/index.ts';
import { startAedes, type TestBroker } from '../../helpers/brokers.ts';
import { applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import { MonitorService, type MonitorServiceOptions } from '../../../aggregator/monitoring/index.ts';
import type { Database } from '../../../shared/db/index.ts';
import { heartbeatBoard } from '../../../aggregator/reports/index.ts';
import { TelemetryPublisher } from '../../../agent/telemetry/index.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const agentScript = fileURLToPath(new URL('./fake-agent.ts', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function spawnAgent(broker: TestBroker, account: string, nodeId: string): { child: ChildProcess; ready: Promise<void> } {
  const opts = { brokerUrl: broker.url, cluster: 'c1', site: 'site-a', account, nodeId, seedHex: randomBytes(32).toString('hex'), bytesPerHeartbeat: 500 };
  const child = spawn(process.execPath, ['--import', 'tsx', agentScript, JSON.stringify(opts)], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`agent ${account} exited early with ${code}`)));
  });
  return { child, ready };
}

/** The monitor under test on `broker`, logging each alert it raises into `alertsLogged`. */
function startMonitor(db: Database, broker: TestBroker, alertsLogged: string[], extra: Partial<MonitorServiceOptions> = {}): Promise<MonitorService> {
  return MonitorService.start({
    db,
    mqttUrl: broker.url,
    cluster: 'c1',
    nodeId: 'n1',
    signer: generateSigningKey(),
    adminContact: 'root@dc.example',
    flushIntervalMs: 100,
    tickIntervalMsMax: 200,
    registry: new Registry(),
    logger: silentLogger,
    onAlert: (a) => alertsLogged.push(`${a.event} ${a.accountName}`),
    ...extra,
  });
}

/**
 * The real agent's telemetry for account gw1.example of cluster c1, in this process, on `broker` (one URL
 * or several); the messages it logs at info go to `logged`.
 */
function startTelemetry(broker: string, monitorKey: Uint8Array, heartbeatIntervalS: number, diskPath: string, logged: string[] = []): TelemetryPublisher {
  const agent = new TelemetryPublisher({
    broker, site: 'site-a', account: 'gw1.example', nodeId: 'gw1.example', agentVersion: '0.1.0-test', cluster: 'c1',
    signing: generateSigningKey(), monitorPublicKey: monitorKey, heartbeatIntervalS, diskPath,
    logger: { info: (_f: object, msg?: string) => void logged.push(msg ?? ''), warn: () => {}, debug: () => {}, error: () => {} } as never,
    source: async () => ({ input: { lastBackupType: 'lazy', startedMs: Date.now(), bytesSynced: 0, bytesRestored: 0, errors: [] }, commit: async () => {} }),
  });
  agent.start();
  return agent;
}

/** gw1 and gw2 as agent processes, each heartbeating twice; `beats(n)` counts account n's heartbeats. */
async function startAgents(db: Database, broker: TestBroker, children: ChildProcess[]) {
  const a1 = spawnAgent(broker, 'gw1.example', 'gw1');
  const a2 = spawnAgent(broker, 'gw2.example', 'gw2');
  children.push(a1.child, a2.child);
  await Promise.all([a1.ready, a2.ready]);
  const beats = async (n: number) => (await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = ?', [n]))?.heartbeats ?? 0;
  await until('two heartbeats from each agent', async () => (await beats(1)) >= 2 && (await beats(2)) >= 2);
  return { a1, a2, beats };
}

test('SIGTERM deregisters silently; kill -9 gives exactly one alert to the admin and the group administrator', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-monitor-'));
  const broker = await startAedes();
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const children: ChildProcess[] = [];
  let monitor: MonitorService | undefined;
  const watcher = await mqtt.connectAsync(broker.url, { clientId: 'alert-watcher' });
  try {
    const T = Date.now();
    for (const name of ['gw1.example', 'gw2.example']) {
      await applyOrThrow(db, { type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 1 });
    }
    await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: null, hardBytes: null, atMs: T });
    for (const n of [1, 2]) await applyOrThrow(db, { type: 'AddMember', group: 'site-a', account: n, atMs: T });

    const calls = join(dir, 'hook-calls.txt');
    const hook = join(dir, 'notify.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$@" >> '${calls}'\n`);
    chmodSync(hook, 0o755);

    const alertMessages: { type: string; body: { account: string; event: string } }[] = [];
    watcher.on('message', (_t, payload) => {
      const outer = decodeUntrusted(payload) as { p: Uint8Array };
      alertMessages.push(decodeUntrusted(outer.p) as (typeof alertMessages)[number]);
    });
    await watcher.subscribeAsync(filters.alerts(), { qos: 1 });

    const alertsLogged: string[] = [];
    monitor = await startMonitor(db, broker, alertsLogged, { hookPath: hook, hookTimeoutMs: 5000 });
    const { a1, a2 } = await startAgents(db, broker, children);

    a1.child.kill('SIGTERM');
    await new Promise((r) => a1.child.once('exit', r));
    assert.is(a1.child.exitCode, 0);
    a2.child.kill('SIGKILL');
    await until('the hook to be called', () => existsSync(calls) && readFileSync(calls, 'utf8').trim().length > 0);
    // well past another 2 × interval: nothing more may arrive
    await sleep(3000);
    await monitor.drain();

    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    assert.is(lines.length, 1, `exactly one hook call, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^silent gw2\.example 0x00000002 [0-9a-f]{32} root@dc\.example ops-a@example\.org$/);
    assert.equal(alertsLogged, ['silent gw2.example']);
    await until('the alert on the MQTT alert topic', () => alertMessages.length >= 1, 5000);
    assert.equal(alertMessages.map((m) => [m.type, m.body.event, m.body.account]), [['Alert', 'silent', 'gw2.example']]);
    const stored = await db.all<{ event: string; account: number; sent: number; at_ms: number }>('SELECT event, account, sent, at_ms FROM alerts');
    assert.equal(stored.map(({ event, account, sent }) => ({ event, account, sent })), [{ event: 'silent', account: 2, sent: 1 }]);
    // the alert's deadline is the last heartbeat + 2 × interval (1 s)
    const last = await db.get<{ last_heartbeat_ms: number }>('SELECT last_heartbeat_ms FROM hb_state WHERE account = 2');
    assert.is(stored[0]!.at_ms, last!.last_heartbeat_ms + 2000);

    const board = await heartbeatBoard(db, Date.now());
    assert.equal(board.map((r) => [r.account, r.state]), [['gw1.example', 'deregistered'], ['gw2.example', 'silent']]);
    assert.ok(board.every((r) => r.heartbeats >= 2 && r.bytesSynced === r.heartbeats * 500));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await monitor?.stop();
    await watcher.endAsync();
    await db.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the monitor's broker gone for longer than the silence window: no alert for the gateway that went on, one for the one that died", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-monitor-'));
  let broker = await startAedes();
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const children: ChildProcess[] = [];
  let monitor: MonitorService | undefined;
  try {
    const T = Date.now();
    for (const name of ['gw1.example', 'gw2.example']) {
      await applyOrThrow(db, { type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 1 });
    }
    const alertsLogged: string[] = [];
    // Silent after 4 s: room for the agents to reconnect once the broker is back.
    monitor = await startMonitor(db, broker, alertsLogged, { mqttOptions: { reconnectPeriod: 200 }, silenceFactor: 4 });
    const { a2, beats } = await startAgents(db, broker, children);
    assert.ok(monitor.listening);

    // The broker goes away for 6 s (past the 4 s window); gw2 dies meanwhile, gw1 goes on.
    const port = broker.port;
    await broker.stop();
    a2.child.kill('SIGKILL');
    await until('the monitor to notice', () => !monitor!.listening, 5000);
    await sleep(6000);
    assert.equal(alertsLogged, [], 'no silence judged while the monitor could not hear');
    broker = await startAedes(port);
    await until('the monitor to hear again', () => monitor!.listening, 10_000);
    const before = await beats(1);
    await until('gw1 heartbeating again', async () => (await beats(1)) > before, 10_000);
    await until('the alert for gw2', () => alertsLogged.length > 0, 10_000);
    await sleep(1500);
    await monitor.drain();
    assert.equal(alertsLogged, ['silent gw2.example'], 'gw1 was never silent; gw2 is, once');
    const stored = await db.all<{ account: number; at_ms: number }>("SELECT account, at_ms FROM alerts WHERE event = 'silent'");
    const last = await db.get<{ last_heartbeat_ms: number }>('SELECT last_heartbeat_ms FROM hb_state WHERE account = 2');
    assert.equal(stored, [{ account: 2, at_ms: last!.last_heartbeat_ms + 4000 }], "the alert keeps the deadline the gateway's last heartbeat gave");
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await monitor?.stop();
    await db.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a cluster's endpoints: one goes away, the agent's heartbeats come through the other, and nobody is silent", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-monitor-'));
  const a = await startAedes();
  const b = await startAedes();
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const signer = generateSigningKey();
  let monitor: MonitorService | undefined;
  let agent: TelemetryPublisher | undefined;
  try {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: Date.now(), name: 'gw1.example', number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 1 });
    const alertsLogged: string[] = [];
    monitor = await startMonitor(db, { ...a, url: `${a.url},${b.url}` }, alertsLogged, { mqttOptions: { reconnectPeriod: 200 }, silenceFactor: 4, signer });
    await until('the monitor on both endpoints', () => monitor!.clients.every((c) => c.connected), 10_000);
    agent = startTelemetry(`${a.url},${b.url}`, signer.publicKey, 1, dir);
    const beats = async () => (await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 1'))?.heartbeats ?? 0;
    await until('heartbeats through the first endpoint', async () => (await beats()) >= 2);

    await a.stop(); // the endpoint the agent uses goes away
    const before = await beats();
    await until('heartbeats through the other endpoint', async () => (await beats()) > before + 1, 15_000);
    assert.ok(monitor.listening, 'one endpoint left: the monitor still hears');
    await sleep(5000); // past the 4 s silence window
    await monitor.drain();
    assert.equal(alertsLogged, [], 'the gateway was never silent');
    assert.ok((await beats()) >= before + 4, 'it went on heartbeating');
  } finally {
    await agent?.stop();
    await monitor?.stop();
    await db.close();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an endpoint that never acknowledges a config holds neither the monitor nor its shutdown', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-monitor-'));
  const a = await startAedes();
  let held = 0;
  const b = await startAedes(0, {
    authorizePublish(client, packet, callback) {
      if (client?.id.startsWith('n1:monitor-') && packet.topic.includes('/config/')) held++; // no callback: no PUBACK, ever
      else callback(null);
    },
  });
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const signer = generateSigningKey();
  let monitor: MonitorService | undefined;
  let agent: TelemetryPublisher | undefined;
  const lines: string[] = [];
  try {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: Date.now(), name: 'gw1.example', number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 60 });
    monitor = await startMonitor(db, { ...a, url: `${a.url},${b.url}` }, [], { signer });
    await until('the monitor on both endpoints', () => monitor!.clients.every((c) => c.connected), 10_000);
    agent = startTelemetry(a.url, signer.publicKey, 60, dir, lines);
    await until('the config reaches the agent through the endpoint that answers', () => lines.includes('monitor config applied'), 10_000);
    await until('the other endpoint holds its copy', () => held > 0, 10_000);
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([monitor.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 30_000)))]);
    clearTimeout(timer);
    assert.ok(stopped, 'the monitor stopped with a publish never acknowledged');
    monitor = undefined;
  } finally {
    await agent?.stop();
    await monitor?.stop();
    await db.close();
    await a.stop();
    await b.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a broker that refuses the monitor at first is tried again until it takes it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-monitor-'));
  let refused = 0;
  const broker = await startAedes(0, {
    authenticate(client, _user, _password, done) {
      if (client.id.startsWith('n1:monitor-') && refused < 2) {
        refused++;
        done(Object.assign(new Error('not yet'), { returnCode: 3 as const }), false); // server unavailable
      } else done(null, true);
    },
  });
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  let monitor: MonitorService | undefined;
  try {
    const started = startMonitor(db, broker, [], { mqttOptions: { reconnectPeriod: 50 } }).then((m) => (monitor = m));
    await until('the monitor to subscribe', () => monitor !== undefined, 10_000);
    await started;
    assert.is(refused, 2, 'refused twice, then taken');
    assert.ok(monitor!.listening);
  } finally {
    await monitor?.stop();
    await db.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
