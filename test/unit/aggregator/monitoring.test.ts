// Box Backup 3 (heart beats, registration, de-registration, alerts to the administrator and group owner).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import fc from 'fast-check';
import { generateSigningKey, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { silentLogger } from '../../../shared/log.ts';
import { topics } from '../../../shared/protocol/index.ts';
import { AccountOps, applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import {
  AlertDispatcher,
  HeartbeatIngest,
  monitorMetrics,
  quotaAlerter,
  sealTelemetry,
  type AlertRequest,
  type HeartbeatBody,
  type IngestAction,
} from '../../../aggregator/monitoring/index.ts';

const T0 = 1_700_000_000_000;
const CLUSTER = 'c1';

function hb(account: string, extra: Partial<HeartbeatBody> = {}): HeartbeatBody {
  return { account, host: 'gw1', agentVersion: '0.1.0', backupType: 'lazy', uptimeS: 5, bytesSynced: 100, bytesRestored: 7, errors: [], ...extra };
}

async function setup() {
  const db = await openAccountDb(':memory:', { durable: false });
  await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name: 'gw1.example', number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 10 });
  await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name: 'gw2.example', number: null, softBytes: null, hardBytes: null, monitoring: false });
  await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: null, hardBytes: null, atMs: T0 });
  await applyOrThrow(db, { type: 'AddMember', group: 'site-a', account: 1, atMs: T0 });
  const registry = new Registry();
  const ingest = new HeartbeatIngest(db, { cluster: CLUSTER, servers: { c1: ['https://n1:7443', 'https://n2:7443'] } }, monitorMetrics(registry));
  await ingest.start();
  return { db, ingest, registry };
}

function register(key: SigningKeyPair, from: string, account: string, ts: number): Uint8Array {
  return sealTelemetry('Register', { account, host: from, agentVersion: '0.1.0', pubkey: key.publicKey, site: 'site-a' }, from, ts, key.privateKey);
}

const alerts = (actions: IngestAction[]) => actions.filter((a): a is Extract<IngestAction, { type: 'alert' }> => a.type === 'alert').map((a) => a.request);

test('a Register for an account created after the monitor last read the accounts is accepted, and its heartbeats too', async () => {
  const { db, ingest } = await setup();
  // Created through another node a moment ago: this monitor has not re-read the accounts yet.
  await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name: 'gw3.example', number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 10 });
  const agent = generateSigningKey();
  const r = await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw3', 'gw3.example', T0), T0);
  assert.ok(r.some((a) => a.type === 'publish'), JSON.stringify(r));
  const payload = sealTelemetry('Heartbeat', hb('gw3.example'), 'gw3', T0 + 1000, agent.privateKey);
  assert.equal(await ingest.handle(topics.heartbeat('site-a', 'gw3.example'), payload, T0 + 1000), []);
  await ingest.store.flush();
  assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 3'))?.heartbeats, 1);
  // An account that does not exist is still refused.
  const stranger = generateSigningKey();
  const refused = await ingest.handle(topics.dc(CLUSTER, 'register'), register(stranger, 'gw9', 'gw9.example', T0), T0);
  assert.ok(!refused.some((a) => a.type === 'publish'));
  await db.close();
});

test('a Register for an account this node has not created yet waits for it, and is admitted once it is there', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  const hbAt = (ms: number) => sealTelemetry('Heartbeat', hb('gw3.example'), 'gw3', ms, agent.privateKey);
  // Created through another node; this node has not executed that request yet.
  const r = await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw3', 'gw3.example', T0), T0);
  assert.not.ok(r.some((a) => a.type === 'publish'));
  assert.is(ingest.parkedRegistrations, 1);
  // Its heartbeats are refused meanwhile (unknown sender); each tick asks for another look.
  assert.equal(await ingest.handle(topics.heartbeat('site-a', 'gw3.example'), hbAt(T0 + 1000), T0 + 1000), []);
  assert.equal(ingest.tick(T0 + 1500).map((a) => a.type), ['admitParked']);
  assert.equal(await ingest.admitParked(), { actions: [], errors: [] }, 'nothing to admit yet');
  await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name: 'gw3.example', number: null, softBytes: null, hardBytes: null, heartbeatIntervalS: 10 });
  const admitted = await ingest.admitParked();
  assert.ok(admitted.actions.some((a) => a.type === 'publish'), JSON.stringify(admitted));
  assert.is(ingest.parkedRegistrations, 0);
  assert.equal(await ingest.handle(topics.heartbeat('site-a', 'gw3.example'), hbAt(T0 + 3000), T0 + 3000), []);
  await ingest.store.flush();
  assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 3'))?.heartbeats, 1);
  // A registration whose account never comes is forgotten after a while (10 minutes by its own time).
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(generateSigningKey(), 'gw9', 'gw9.example', T0 + 4000), T0 + 4000);
  assert.is(ingest.parkedRegistrations, 1);
  ingest.tick(T0 + 4000 + 10 * 60_000);
  assert.is(ingest.parkedRegistrations, 1);
  ingest.tick(T0 + 4001 + 10 * 60_000);
  assert.is(ingest.parkedRegistrations, 0);
  await db.close();
});

test('register returns the monitoring config; heartbeats update state and counters in the database', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  const r = await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', 'gw1.example', T0), T0);
  const reply = r.find((a) => a.type === 'publish');
  assert.ok(reply && reply.type === 'publish');
  assert.is(reply.topic, topics.dc(CLUSTER, 'config', 'gw1.example'));
  assert.equal(reply.body, {
    account: 'gw1.example',
    accountNumber: 1,
    monitoring: true,
    heartbeatIntervalS: 10,
    servers: ['https://n1:7443', 'https://n2:7443'],
    primaryCluster: 'c1',
  });
  for (let i = 1; i <= 3; i++) {
    const payload = sealTelemetry('Heartbeat', hb('gw1.example', { lastSyncMs: T0 + i, lastSyncDurationMs: 1500, metrics: { cpuLoadPct: 12 } }), 'gw1', T0 + i * 1000, agent.privateKey);
    assert.equal(await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), payload, T0 + i * 1000), []);
  }
  await ingest.store.flush();
  const row = await db.get<Record<string, unknown>>('SELECT * FROM hb_state WHERE account = 1');
  assert.is(row?.heartbeats, 3);
  assert.is(row?.bytes_synced, 300);
  assert.is(row?.bytes_restored, 21);
  assert.is(row?.last_heartbeat_ms, T0 + 3000);
  assert.is(row?.last_sync_duration_ms, 1500);
  assert.is(row?.registered, 1);
  assert.is(row?.site, 'site-a');
  assert.equal(JSON.parse(String(row?.host_metrics)), { cpuLoadPct: 12 });
  const daily = await db.get<{ heartbeats: number; bytes_synced: number }>('SELECT * FROM hb_daily WHERE account = 1');
  assert.is(daily?.heartbeats, 3);
  assert.is(daily?.bytes_synced, 300);
  await db.close();
});

test('a registered agent whose account changes is sent the new config, under the name it registered with', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', '0x00000001', T0), T0);
  await ingest.refreshAccounts();
  assert.equal(ingest.takeConfigPushes(), [], 'nothing changed');
  await applyOrThrow(db, { type: 'SetAccountConfig', account: 1, heartbeatIntervalS: 5 });
  await applyOrThrow(db, { type: 'SetAccountConfig', account: 2, heartbeatIntervalS: 7 }); // never registered here
  await ingest.refreshAccounts();
  const pushes = ingest.takeConfigPushes();
  assert.equal(
    pushes.map((p) => (p.type === 'publish' ? [p.topic, p.body.account, p.body.heartbeatIntervalS, p.body.monitoring] : p.type)),
    [[topics.dc(CLUSTER, 'config', '0x00000001'), '0x00000001', 5, true]],
  );
  assert.equal(ingest.takeConfigPushes(), [], 'each push is taken once');
  await applyOrThrow(db, { type: 'SetAccountConfig', account: 1, monitoring: false });
  await ingest.refreshAccounts();
  assert.equal(ingest.takeConfigPushes().map((p) => p.type === 'publish' && p.body.monitoring), [false]);
  await db.close();
});

test('silence for 2 × interval gives one silent alert; deregistration gives none', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', 'gw1.example', T0), T0);
  await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 5000, agent.privateKey), T0 + 5000);
  assert.equal(ingest.tick(T0 + 24_999), []);
  const fired = alerts(ingest.tick(T0 + 25_000));
  assert.is(fired.length, 1);
  assert.is(fired[0]!.event, 'silent');
  assert.is(fired[0]!.atMs, T0 + 25_000);
  assert.equal(ingest.tick(T0 + 100_000), []);
  // heartbeat again → recovered
  const back = alerts(await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 101_000, agent.privateKey), T0 + 101_000));
  assert.equal(back.map((a) => a.event), ['recovered']);
  // orderly shutdown
  await ingest.handle(topics.dc(CLUSTER, 'deregister'), sealTelemetry('Deregister', { account: 'gw1.example', reason: 'shutdown' }, 'gw1', T0 + 102_000, agent.privateKey), T0 + 102_000);
  assert.equal(ingest.tick(T0 + 10_000_000), []);
  await ingest.store.flush();
  assert.is((await db.get<{ registered: number }>('SELECT registered FROM hb_state WHERE account = 1'))?.registered, 0);
  await db.close();
});

test('a significant error alerts; monitoring off never alerts on silence', async () => {
  const { db, ingest } = await setup();
  const a1 = generateSigningKey();
  const a2 = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(a1, 'gw1', 'gw1.example', T0), T0);
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(a2, 'gw2', 'gw2.example', T0), T0);
  const long = Array.from({ length: 31 }, (_, i) => ({ atMs: T0, message: `${i} ${'x'.repeat(1000)}`, significant: false }));
  const withError = hb('gw1.example', { errors: [{ atMs: T0, message: 'disk read failed', significant: true }, ...long] });
  const got = alerts(await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), sealTelemetry('Heartbeat', withError, 'gw1', T0 + 1, a1.privateKey), T0 + 1));
  assert.equal(got.map((a) => [a.event, a.detail]), [['error', 'disk read failed']]);
  const ev = sealTelemetry('TelemetryEvent', { account: 'gw1.example', event: 'store-full', detail: 'edge store full', significant: true }, 'gw1', T0 + 2, a1.privateKey);
  assert.equal(alerts(await ingest.handle(topics.event('site-a', 'gw1.example'), ev, T0 + 2)).map((a) => a.event), ['error']);
  const silentAlerts = alerts(ingest.tick(T0 + 10 * 24 * 3600_000));
  assert.equal(silentAlerts.map((a) => a.accountName), ['gw1.example'], 'gw2 has monitoring off');
  await ingest.store.flush();
  const errs = await db.all('SELECT * FROM hb_errors WHERE account = 1');
  assert.is(errs.length, 33);
  await db.close();
});

test('bad input is counted and dropped: garbage, wrong key, wrong topic, replay, unknown account', async () => {
  const { db, ingest, registry } = await setup();
  const agent = generateSigningKey();
  const thief = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', 'gw1.example', T0), T0);
  const hbTopic = topics.heartbeat('site-a', 'gw1.example');
  assert.equal(await ingest.handle(hbTopic, new Uint8Array([0xc1, 0xff, 0x00]), T0), []);
  assert.equal(await ingest.handle(hbTopic, new Uint8Array(100_000), T0), []);
  assert.equal(await ingest.handle(hbTopic, sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0, thief.privateKey), T0), []);
  // a second registration of the account with another key is refused (pinned on first use)
  assert.equal(await ingest.handle(topics.dc(CLUSTER, 'register'), register(thief, 'gw1', 'gw1.example', T0 + 1), T0 + 1), []);
  assert.equal(await ingest.handle(topics.dc(CLUSTER, 'register'), register(thief, 'evil', 'gw1.example', T0 + 1), T0 + 1), []);
  // heartbeat for gw1 published on gw2's topic
  assert.equal(await ingest.handle(topics.heartbeat('site-a', 'gw2.example'), sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0, agent.privateKey), T0), []);
  const good = sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 10, agent.privateKey);
  await ingest.handle(hbTopic, good, T0 + 10);
  await ingest.handle(hbTopic, good, T0 + 11); // replay
  const stale = sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 - 3_600_000, agent.privateKey);
  await ingest.handle(hbTopic, stale, T0 + 12);
  const unknown = await ingest.handle(topics.heartbeat('site-a', 'nobody.example'), sealTelemetry('Heartbeat', hb('nobody.example'), 'gw1', T0 + 20, agent.privateKey), T0 + 20);
  assert.equal(unknown, [{ type: 'refreshAccounts' }]);
  await ingest.store.flush();
  assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 1'))?.heartbeats, 1);
  const metrics = await registry.getSingleMetricAsString('baksa_telemetry_rejected_total');
  for (const reason of ['MALFORMED', 'OVERSIZE', 'BAD_SIGNATURE', 'KEY_MISMATCH', 'TOPIC', 'REPLAY', 'STALE', 'UNKNOWN_ACCOUNT']) {
    assert.match(metrics, `reason="${reason}"`);
  }
  await db.close();
});

test('a re-installed gateway (new key) registers only after an administrator resets the pinned key', async () => {
  const { db, ingest } = await setup();
  const oldKey = generateSigningKey();
  const newKey = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(oldKey, 'gw1', 'gw1.example', T0), T0);
  assert.equal(await ingest.handle(topics.dc(CLUSTER, 'register'), register(newKey, 'gw1', 'gw1.example', T0 + 1), T0 + 1), []);
  const reset = await new AccountOps(db).resetAgentKey('gw1.example');
  assert.equal(reset, { account: 'gw1.example', reset: true });
  await ingest.refreshAccounts();
  const again = await ingest.handle(topics.dc(CLUSTER, 'register'), register(newKey, 'gw1', 'gw1.example', T0 + 2), T0 + 2);
  assert.ok(again.some((a) => a.type === 'publish'));
  const hbOld = sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 3, oldKey.privateKey);
  await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), hbOld, T0 + 3);
  await ingest.store.flush();
  assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 1'))?.heartbeats, 0, 'the old key no longer verifies');
  await db.close();
});

test('fuzz: arbitrary bytes on any telemetry topic never throw and change nothing', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', 'gw1.example', T0), T0);
  const good = sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 1, agent.privateKey);
  const topicArb = fc.constantFrom(topics.heartbeat('site-a', 'gw1.example'), topics.event('site-a', 'gw1.example'), topics.dc(CLUSTER, 'register'), topics.dc(CLUSTER, 'deregister'), 'junk/topic');
  const bytesArb = fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    // mutations of a valid envelope: flipped bytes, truncations
    fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
      const b = Uint8Array.from(good);
      b[i] = b[i]! ^ x;
      return b;
    }),
    fc.nat({ max: good.length - 1 }).map((n) => good.subarray(0, n)),
  );
  await fc.assert(
    fc.asyncProperty(topicArb, bytesArb, async (topic, bytes) => {
      const actions = await ingest.handle(topic, bytes, T0 + 2);
      assert.ok(actions.every((a) => a.type === 'refreshAccounts'));
    }),
    { numRuns: 300 },
  );
  await ingest.store.flush();
  assert.is((await db.get<{ heartbeats: number }>('SELECT heartbeats FROM hb_state WHERE account = 1'))?.heartbeats, 0);
  await db.close();
});

test('the tracker is restored from the database after a restart, with the same deadline', async () => {
  const { db, ingest } = await setup();
  const agent = generateSigningKey();
  await ingest.handle(topics.dc(CLUSTER, 'register'), register(agent, 'gw1', 'gw1.example', T0), T0);
  await ingest.handle(topics.heartbeat('site-a', 'gw1.example'), sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 3000, agent.privateKey), T0 + 3000);
  await ingest.store.flush();
  const again = new HeartbeatIngest(db, { cluster: CLUSTER }, undefined);
  await again.start();
  assert.is(again.tracker.nextDeadlineMs(), T0 + 23_000);
  // the pinned key survived too: a heartbeat verifies
  await again.handle(topics.heartbeat('site-a', 'gw1.example'), sealTelemetry('Heartbeat', hb('gw1.example'), 'gw1', T0 + 4000, agent.privateKey), T0 + 4000);
  assert.is(again.tracker.nextDeadlineMs(), T0 + 24_000);
  await db.close();
});

test('alerts reach the administrator and the group administrator through the hook, once across nodes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-hook-'));
  const out = join(dir, 'calls.txt');
  const hook = join(dir, 'notify.sh');
  writeFileSync(hook, `#!/bin/sh\necho "$@" >> '${out}'\n`);
  chmodSync(hook, 0o755);
  const nodeIds = ['n1', 'n2', 'n3'];
  // three replicas, each with its own (identical) account database
  const nodes = [];
  for (const nodeId of nodeIds) {
    const { db } = await setup();
    const d = new AlertDispatcher(db, {
      nodeId,
      liveNodes: () => nodeIds,
      adminContact: 'root@dc.example',
      hookPath: hook,
      hookTimeoutMs: 5000,
      hookConcurrencyMax: 2,
      hookQueueMax: 10,
      publish: undefined,
      logger: silentLogger,
    });
    nodes.push({ db, d });
  }
  const req: AlertRequest = { event: 'silent', account: 1, accountName: 'gw1.example', atMs: T0, detail: 'quiet', site: 'site-a' };
  const results = [];
  for (const n of nodes) results.push(await n.d.raise(req));
  for (const n of nodes) assert.is(await n.d.raise(req), undefined, 'a repeat on the same node is ignored');
  await Promise.all(nodes.map((n) => n.d.idle()));
  assert.is(results.filter((r) => r?.sent).length, 1, 'exactly one node sends');
  assert.is(new Set(results.map((r) => r?.alertId)).size, 1, 'every node names the alert the same');
  assert.is(new Set(results.map((r) => r?.owner)).size, 1, 'every node agrees on the owner');
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.is(lines.length, 1);
  assert.match(lines[0]!, /^silent gw1\.example 0x00000001 [0-9a-f]{32} root@dc\.example ops-a@example\.org$/);
  // the owner dies: the next node in rendezvous order sends a new event
  const owner = results[0]!.owner!;
  const survivors = nodeIds.filter((n) => n !== owner);
  for (const n of nodes) (n.d.options as { liveNodes: () => readonly string[] }).liveNodes = () => survivors;
  const later = { ...req, atMs: T0 + 1 };
  const second = [];
  for (const n of nodes) second.push(await n.d.raise(later));
  await Promise.all(nodes.map((n) => n.d.idle()));
  const senders = second.filter((r) => r?.sent).map((r) => r!.owner);
  assert.is(senders.length, 1);
  assert.ok(senders[0] !== owner);
  assert.is(readFileSync(out, 'utf8').trim().split('\n').length, 2);
  rmSync(dir, { recursive: true, force: true });
  for (const n of nodes) await n.db.close();
});

test('crossing a group soft limit alerts the group administrator and housekeeps the members aggressively', async () => {
  const { db } = await setup();
  const raised: string[] = [];
  const dispatcher = new AlertDispatcher(db, {
    nodeId: 'n1',
    liveNodes: () => ['n1'],
    adminContact: 'root@dc.example',
    hookPath: undefined,
    hookTimeoutMs: 1000,
    hookConcurrencyMax: 1,
    hookQueueMax: 1,
    publish: undefined,
    logger: silentLogger,
    onAlert: (a) => raised.push(`${a.event} ${a.accountName} ${a.recipients.join(',')}`),
  });
  const ops = new AccountOps(db, { now: () => T0 + 5, onQuotaEvents: quotaAlerter(db, dispatcher) });
  await ops.setGroup('site-a', { softBytes: 100, hardBytes: 1000 });
  await ops.submit({ type: 'RecordObject', account: 1, objectId: 'a', bytes: 60, atMs: T0 + 1 });
  assert.equal(raised, []);
  await ops.submit({ type: 'RecordObject', account: 1, objectId: 'b', bytes: 60, atMs: T0 + 2 });
  assert.equal(raised, ['soft-limit gw1.example root@dc.example,ops-a@example.org']);
  const pending = await db.all<{ aggressive: number }>('SELECT aggressive FROM housekeeping WHERE account = 1 AND done_ms IS NULL');
  assert.equal(pending, [{ aggressive: 1 }]);
  await db.close();
});

test.run();
