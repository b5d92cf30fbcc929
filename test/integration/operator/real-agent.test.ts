// Box Backup 3 end to end with the REAL gateway agent (DESIGN §7): two `2baksa agent run` daemons
// heartbeat over a real broker (embedded aedes) into the real MonitorService. Each registers (its key is
// pinned on first use), takes its heartbeat interval from the monitor's signed MonitorConfig (the account
// database says 2 s; a profile cannot go below 5 s), runs a lazy backup and reports it. The heartbeat board
// shows both ok; SIGTERM de-registers and raises nothing, even after 3 × interval; kill -9 raises exactly
// one alert at last heartbeat + 2 × interval: one hook call naming the group administrator, one message
// on the MQTT alert topic.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, until } from '../../helpers/wait.ts';
import mqtt from 'mqtt';
import { Registry } from 'prom-client';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { silentLogger } from '../../../shared/log.ts';
import { filters } from '../../../shared/protocol/index.ts';
import { openTelemetry } from '../../../shared/protocol/telemetry.ts';
import { startAedes } from '../../helpers/brokers.ts';
import { repoRoot, runCli, type RunningCli } from '../../helpers/cli.ts';
import { writeLazyTestProfile } from '../../helpers/profiles.ts';
import { applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import { MonitorService, loadPinnedKeys } from '../../../aggregator/monitoring/index.ts';
import { heartbeatBoard, type BoardRow } from '../../../aggregator/reports/index.ts';

const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
/** The accounts' heartbeat interval (account database → MonitorConfig → agent). */
const INTERVAL_S = 2;


/** Agents log at info: the test reads their "monitor config applied" lines. */
const cli = (args: string[]): RunningCli => runCli(args, { BAKSA_LOG_LEVEL: 'info' });

/** pino lines of an agent's stderr. */
const logLines = (p: RunningCli): Array<{ msg?: string; level?: number; intervalS?: number; monitoring?: boolean }> =>
  p.output().split('\n').flatMap((l) => {
    try {
      return l.startsWith('{') ? [JSON.parse(l)] : [];
    } catch {
      return [];
    }
  });

test('real agents: board ok, SIGTERM deregisters silently, kill -9 gives exactly one alert to the admin and the group administrator', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-real-agent-'));
  const broker = await startAedes();
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const procs: RunningCli[] = [];
  let monitor: MonitorService | undefined;
  const watcher = await mqtt.connectAsync(broker.url, { clientId: 'alert-watcher' });
  try {
    const T = Date.now();
    for (const name of ['gw1.example', 'gw2.example']) {
      await applyOrThrow(db, { type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: INTERVAL_S });
    }
    await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: null, hardBytes: null, atMs: T });
    for (const n of [1, 2]) await applyOrThrow(db, { type: 'AddMember', group: 'site-a', account: n, atMs: T });

    const calls = join(dir, 'hook-calls.txt');
    const hook = join(dir, 'notify.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$@" >> '${calls}'\n`);
    chmodSync(hook, 0o755);
    const hookLines = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);

    const signer = generateSigningKey();
    const alertPayloads: Buffer[] = [];
    watcher.on('message', (_t, payload) => alertPayloads.push(payload));
    await watcher.subscribeAsync(filters.alerts(), { qos: 1 });

    const registry = new Registry();
    const alertsLogged: string[] = [];
    monitor = await MonitorService.start({
      db,
      mqttUrl: broker.url,
      cluster: 'c1',
      nodeId: 'n1',
      signer,
      adminContact: 'root@dc.example',
      hookPath: hook,
      hookTimeoutMs: 5000,
      flushIntervalMs: 100,
      tickIntervalMsMax: 200,
      registry,
      logger: silentLogger,
      onAlert: (a) => alertsLogged.push(`${a.event} ${a.accountName}`),
    });

    // A profile of our own: lazy mode on a tiny source, no runtime re-exec (so the pid we signal is the daemon).
    const profilePath = writeLazyTestProfile(join(dir, 'hb-test.json'), 'hb-test');

    // gw1: the account is the host name (the default); gw2: a host name of its own and its account by
    // hex number (the monitor must answer it under that number).
    const agents = [
      { account: 'gw1.example', args: ['--name', 'gw1.example'] },
      { account: 'gw2.example', args: ['--name', 'host-b.site-a.example', '--account', '0x00000002'] },
    ];
    const states = agents.map((_, i) => join(dir, `state${i + 1}`));
    const inits = agents.map((a, i) => {
      const src = join(dir, `src${i + 1}`);
      mkdirSync(src);
      writeFileSync(join(src, 'plc.csv'), `t,v\n${Array.from({ length: 200 }, (_, k) => `${k},${k * 7}`).join('\n')}\n`);
      return cli(['agent', 'init', '--state', states[i]!, ...a.args, '--profile', profilePath, '--source', src, '--broker', broker.url, '--cluster', 'c1', '--site', 'site-a', '--monitor-key', Buffer.from(signer.publicKey).toString('hex'), '--json']);
    });
    for (const p of inits) {
      const { code } = await p.exited;
      assert.is(code, 0, p.output());
    }

    const [a1, a2] = states.map((state) => cli(['agent', 'run', '--state', state])) as [RunningCli, RunningCli];
    procs.push(a1, a2);

    // Both register, apply the monitor's interval, back up once and heartbeat until the board shows them ok.
    for (const a of [a1, a2]) {
      await until('the agent to apply the MonitorConfig', () => logLines(a).some((l) => l.msg === 'monitor config applied'), 40_000);
      assert.ok(logLines(a).some((l) => l.msg === 'monitor config applied' && l.intervalS === INTERVAL_S && l.monitoring === true), a.output());
    }
    let board: BoardRow[] = [];
    await until(
      'both agents ok on the board, with a synced backup and 3 heartbeats',
      async () => {
        board = await heartbeatBoard(db, Date.now());
        return board.length === 2 && board.every((r) => r.state === 'ok' && r.heartbeats >= 3 && r.lastSync !== null && r.bytesSynced > 0);
      },
      60_000,
      () => `board: ${JSON.stringify(board)}\n--- gw1:\n${a1.output().slice(-4000)}\n--- gw2:\n${a2.output().slice(-4000)}`,
    );
    assert.equal(board.map((r) => [r.account, r.number, r.state, r.intervalS, r.site, r.agentVersion]), [
      ['gw1.example', '0x00000001', 'ok', INTERVAL_S, 'site-a', version],
      ['gw2.example', '0x00000002', 'ok', INTERVAL_S, 'site-a', version],
    ]);
    assert.equal(board.map((r) => r.host), ['gw1.example', 'host-b.site-a.example']);
    for (const r of board) {
      assert.ok(r.lastHeartbeat !== null && r.lastConnection !== null, JSON.stringify(r));
      assert.is(r.errors, 0);
    }
    // The monitor pinned each agent's own node key (trust on first use) under its envelope sender id.
    const pinned = (await loadPinnedKeys(db)).sort((a, b) => a.account - b.account);
    const nodeKeys = states.map((s) => (JSON.parse(readFileSync(join(s, 'agent.json'), 'utf8')) as { nodePublicKey: string }).nodePublicKey);
    assert.equal(pinned.map((k) => [k.account, k.nodeId, Buffer.from(k.pubkey).toString('hex')]), [
      [1, 'gw1.example', nodeKeys[0]],
      [2, 'host-b.site-a.example', nodeKeys[1]],
    ]);

    // SIGTERM on gw1: a clean exit and a Deregister.
    a1.child.kill('SIGTERM');
    const e1 = await a1.exited;
    assert.equal({ code: e1.code, signal: e1.signal }, { code: 0, signal: null }, a1.output());
    await until('gw1 deregistered', async () => (await db.get<{ registered: number }>('SELECT registered FROM hb_state WHERE account = 1'))?.registered === 0);
    const dereg = (await db.get<{ deregistered_ms: number }>('SELECT deregistered_ms FROM hb_state WHERE account = 1'))!.deregistered_ms;

    // kill -9 on gw2: silence, then exactly one alert.
    a2.child.kill('SIGKILL');
    const e2 = await a2.exited;
    assert.is(e2.signal, 'SIGKILL');
    await until('the hook to be called', () => hookLines().length > 0, 30_000);
    const alertAt = (await db.get<{ at_ms: number }>('SELECT at_ms FROM alerts WHERE account = 2'))?.at_ms ?? Date.now();
    // Wait past 3 × interval after the Deregister and 2 more intervals after the alert: nothing else may come.
    const quietUntil = Math.max(dereg + 3 * INTERVAL_S * 1000, alertAt + 2 * INTERVAL_S * 1000) + 500;
    await sleep(Math.max(0, quietUntil - Date.now()));
    await monitor.drain();

    const lines = hookLines();
    assert.is(lines.length, 1, `exactly one hook call, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^silent gw2\.example 0x00000002 [0-9a-f]{32} root@dc\.example ops-a@example\.org$/);
    assert.equal(alertsLogged, ['silent gw2.example']);
    const stored = await db.all<{ event: string; account: number; sent: number; at_ms: number }>('SELECT event, account, sent, at_ms FROM alerts');
    assert.equal(stored.map(({ event, account, sent }) => ({ event, account, sent })), [{ event: 'silent', account: 2, sent: 1 }]);
    // The alert's time is the last heartbeat + 2 × interval (the deadline, not when the timer fired).
    const last = await db.get<{ last_heartbeat_ms: number }>('SELECT last_heartbeat_ms FROM hb_state WHERE account = 2');
    assert.is(stored[0]!.at_ms, last!.last_heartbeat_ms + 2 * INTERVAL_S * 1000);

    await until('the alert on the MQTT alert topic', () => alertPayloads.length >= 1, 5000);
    const published = alertPayloads.map((p) => openTelemetry(p, { keyOf: (from) => (from === 'n1' ? signer.publicKey : undefined) }));
    assert.is(published.length, 1);
    const alert = published[0]!;
    if (alert.type !== 'Alert') throw new Error(`expected an Alert, got ${alert.type}`);
    assert.equal([alert.body.event, alert.body.account, alert.body.accountNumber, alert.body.atMs], ['silent', 'gw2.example', 2, stored[0]!.at_ms]);
    assert.ok(alert.body.recipients.includes('ops-a@example.org') && alert.body.recipients.includes('root@dc.example'), alert.body.recipients.join(','));
    assert.ok(lines[0]!.includes(alert.body.alertId), 'the hook and the topic carry the same alert id');

    board = await heartbeatBoard(db, Date.now());
    assert.equal(board.map((r) => [r.account, r.state]), [['gw1.example', 'deregistered'], ['gw2.example', 'silent']]);
    // Every agent message the monitor saw was accepted (schemas, signatures, topics, accounts).
    const rejected = (await registry.getSingleMetric('baksa_telemetry_rejected_total')!.get()).values.filter((v) => v.value > 0);
    assert.equal(rejected, [], `rejected telemetry: ${JSON.stringify(rejected)}`);
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await monitor?.stop();
    await watcher.endAsync();
    await db.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
