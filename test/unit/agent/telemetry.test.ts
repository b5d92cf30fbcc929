// Telemetry: heartbeat content (Box Backup's heart beat packet fields), metric units, envelopes that
// pass the wire schema; counters since the last heartbeat are reset only by what was reported.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateSigningKey } from '../../../shared/crypto/index.ts';
import { verifyEnvelope } from '../../../shared/protocol/index.ts';
import { telemetryRegistry, buildHeartbeat, hostMetricsOf, sealAgentTelemetry } from '../../../agent/telemetry/index.ts';
import { HeartbeatCounters } from '../../../agent/daemon/counters.ts';
import { recordRun, recordRestore, readStatus } from '../../../agent/status/record.ts';
import { statePaths } from '../../../agent/config/index.ts';
import { mkdirSync } from 'node:fs';
import { tempDir } from './_helpers.ts';
import mqtt from 'mqtt';
import { startAedes } from '../../helpers/brokers.ts';
import { topics } from '../../../shared/protocol/index.ts';
import { sealTelemetry } from '../../../shared/protocol/telemetry.ts';
import { TelemetryPublisher } from '../../../agent/telemetry/index.ts';

test('the heartbeat carries every field of the Box Backup heart beat packet', () => {
  const hb = buildHeartbeat({
    account: 'gw1.example',
    host: 'gw1.example',
    agentVersion: '0.1.0',
    lastBackupType: 'lazy',
    startedMs: 1_000,
    nowMs: 91_500,
    lastConnectionMs: 2_000,
    lastSyncMs: 80_000,
    lastSyncDurationMs: 1234,
    bytesSynced: 4096,
    bytesRestored: 10,
    errors: [{ atMs: 5, message: 'DISK_FULL:\nvolume full' }],
    metrics: { cpuLoadPct: 1234 },
  });
  assert.equal(hb, {
    account: 'gw1.example',
    host: 'gw1.example',
    agentVersion: '0.1.0',
    backupType: 'lazy',
    uptimeS: 90,
    bytesSynced: 4096,
    bytesRestored: 10,
    errors: [{ atMs: 5, message: 'DISK_FULL: volume full', significant: true }],
    lastConnectionMs: 2_000,
    lastSyncMs: 80_000,
    lastSyncDurationMs: 1234,
    metrics: { cpuLoadPct: 1234 },
  });
  assert.is(buildHeartbeat({ account: 'a', host: 'h', agentVersion: 'v', lastBackupType: undefined, startedMs: 0, nowMs: 0, bytesSynced: 0, bytesRestored: 0, errors: [] }).backupType, 'none');
});

test('metrics are converted to wire units and bad readings left out', () => {
  assert.equal(hostMetricsOf({ cpuLoadPercent: 12.345, memUsedBytes: 100.4, memTotalBytes: 200, temperatureC: 45.5 }), {
    cpuLoadPct: 1235,
    memUsedBytes: 100,
    memTotalBytes: 200,
    temperatureDeciKelvin: 3187,
  });
  assert.equal(hostMetricsOf({ cpuLoadPercent: Number.NaN, temperatureC: -1000, diskUsedBytes: -5 }), {});
  assert.equal(hostMetricsOf({ temperatureC: null }), {});
});

test('telemetry envelopes are signed and pass the wire schema; bad bodies are refused before sending', () => {
  const key = generateSigningKey();
  const body = buildHeartbeat({ account: 'gw1', host: 'gw1', agentVersion: '0.1.0', lastBackupType: 'snapshot', startedMs: 0, nowMs: 5000, bytesSynced: 1, bytesRestored: 0, errors: [] });
  const bytes = sealAgentTelemetry('Heartbeat', body, 'gw1', 5000, key.privateKey);
  const opened = verifyEnvelope(bytes, { keyOf: () => key.publicKey, registry: telemetryRegistry });
  assert.is(opened.message.type as string, 'Heartbeat');
  assert.equal((opened.message as unknown as { body: unknown }).body, body);
  const other = generateSigningKey();
  assert.throws(() => verifyEnvelope(bytes, { keyOf: () => other.publicKey, registry: telemetryRegistry }));
  assert.throws(() => sealAgentTelemetry('TelemetryEvent', { account: 'gw1', event: 'exploded' as never, significant: true }, 'gw1', 1, key.privateKey));
});

test('heartbeat counters: taken, then reduced by exactly what was reported', async () => {
  const t = tempDir();
  try {
    mkdirSync(t.path, { recursive: true });
    const paths = statePaths(t.path);
    const counters = new HeartbeatCounters(paths);
    const c = { filesScanned: 0, filesUnchanged: 0, filesRead: 0, filesAppended: 0, filesSkipped: 0, filesPending: 0, bytesScanned: 0, bytesRead: 0, chunks: 0, chunksNew: 1, bytesNew: 10, storedNew: 1000, storedWithParityNew: 1500 };
    await recordRun(paths, { type: 'snapshot', ok: true, counters: c });
    await recordRun(paths, { type: 'snapshot', ok: false, error: 'DISK_FULL' });
    await recordRestore(paths, 77);
    counters.addError({ atMs: 1, message: 'local' });
    const taken = await counters.take();
    assert.is(taken.counters.bytesSynced, 1000);
    assert.is(taken.counters.bytesRestored, 77);
    assert.equal(taken.counters.errors.map((e) => e.message), ['DISK_FULL: snapshot failed', 'local']);
    await recordRun(paths, { type: 'snapshot', ok: true, counters: { ...c, storedNew: 5 } }); // arrives meanwhile
    await taken.commit();
    const after = await readStatus(paths);
    assert.is(after.pending.bytesSynced, 5);
    assert.is(after.pending.bytesRestored, 0);
    assert.is(after.pending.errors.length, 0);
    assert.is((await counters.take()).counters.errors.length, 0);
  } finally {
    t.cleanup();
  }
});

test('a monitor config is applied from each node and logged once until it changes', async () => {
  // Every monitor of a cluster answers a registration, so an agent gets the same config once per node.
  const broker = await startAedes();
  const monitor = generateSigningKey();
  const lines: { msg: string; intervalS?: number; monitoring?: boolean }[] = [];
  const log = (fields: object, msg?: string) => void lines.push({ ...(fields as object), msg: msg ?? '' });
  const logger = { info: log, warn: log, debug: () => {}, error: log } as never;
  const dir = tempDir();
  const publisher = new TelemetryPublisher({
    broker: broker.url, site: 'site-a', account: 'gw1.example', nodeId: 'gw1.example', agentVersion: '0.0.0', cluster: 'c1',
    signing: generateSigningKey(), monitorPublicKey: monitor.publicKey, heartbeatIntervalS: 900, diskPath: dir.path,
    source: async () => { throw new Error('no heartbeat in this test'); }, logger,
  });
  const sender = mqtt.connect(broker.url);
  try {
    publisher.start();
    const applied = () => lines.filter((l) => l.msg === 'monitor config applied');
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(what(), JSON.stringify(lines));
    };
    await until(() => lines.some((l) => l.msg === 'telemetry connected'));
    await new Promise((r) => setTimeout(r, 100)); // its subscription to the config topic
    const send = (heartbeatIntervalS: number, node: string) => sender.publish(topics.dc('c1', 'config', 'gw1.example'), Buffer.from(sealTelemetry('MonitorConfig', {
      account: 'gw1.example', accountNumber: 1, monitoring: true, heartbeatIntervalS, servers: [], primaryCluster: 'c1',
    }, node, Date.now(), monitor.privateKey)), { qos: 1 });
    for (const node of ['agg1', 'agg2', 'agg3', 'agg4']) send(60, node);
    await new Promise((r) => setTimeout(r, 300));
    await until(() => applied().length >= 1);
    assert.equal(applied().map((l) => l.intervalS), [60]);
    send(120, 'agg2');
    await until(() => applied().length >= 2);
    assert.equal(applied().map((l) => l.intervalS), [60, 120]);
  } finally {
    sender.end(true);
    await publisher.stop();
    await broker.stop();
    dir.cleanup();
  }
});

test('stopping with the broker gone: a heartbeat waiting for it does not hold the shutdown', async () => {
  const broker = await startAedes();
  const lines: string[] = [];
  const logger = { info: (_f: object, msg?: string) => void lines.push(msg ?? ''), warn: () => {}, debug: () => {}, error: () => {} } as never;
  const dir = tempDir();
  const publisher = new TelemetryPublisher({
    broker: broker.url, site: 'site-a', account: 'gw1.example', nodeId: 'gw1.example', agentVersion: '0.0.0',
    signing: generateSigningKey(), heartbeatIntervalS: 0.2, diskPath: dir.path, logger,
    source: async () => ({ input: { lastBackupType: undefined, startedMs: Date.now(), bytesSynced: 0, bytesRestored: 0, errors: [] }, commit: async () => {} }),
  });
  try {
    publisher.start();
    for (let i = 0; i < 200 && !lines.includes('telemetry connected'); i++) await new Promise((r) => setTimeout(r, 25));
    await broker.stop();
    await new Promise((r) => setTimeout(r, 600)); // heartbeats fire meanwhile and wait for a broker
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([publisher.stop().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 15_000)))]);
    clearTimeout(timer);
    assert.ok(stopped, 'stop() came back while the broker was gone');
  } finally {
    dir.cleanup();
  }
});

test.run();
