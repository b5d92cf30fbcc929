// STATE/status.json: a backup recording its run and a heartbeat taking its counters, at the same time,
// never lose each other's update (the lost update once left the monitor without the backup).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { statePaths } from '../../../agent/config/state-dir.ts';
import { HeartbeatCounters } from '../../../agent/daemon/counters.ts';
import { backupErrorEvent } from '../../../agent/daemon/daemon.ts';
import { collectStatus, readStatus, recordRun, updateStatus } from '../../../agent/status/index.ts';
import { freshState, tempDir } from './_helpers.ts';

const counters = (storedNew: number) => ({ storedNew, bytesNew: storedNew }) as unknown as Parameters<typeof recordRun>[1]['counters'];

test('concurrent runs and heartbeat commits: every run is counted once and every report subtracted once', async () => {
  const t = tempDir('baksa-status-');
  try {
    mkdirSync(join(t.path, 'state'), { recursive: true });
    const paths = statePaths(join(t.path, 'state'));
    const hb = new HeartbeatCounters(paths);
    await recordRun(paths, { type: 'lazy', ok: true, counters: counters(1000) });
    const { counters: taken, commit } = await hb.take();
    assert.is(taken.bytesSynced, 1000);
    // The report's subtraction races 30 runs, each adding 10 bytes and setting lastSyncMs.
    await Promise.all([commit(), ...Array.from({ length: 30 }, () => recordRun(paths, { type: 'lazy', ok: true, counters: counters(10) }))]);
    const s = await readStatus(paths);
    assert.is(s.pending.bytesSynced, 300);
    assert.ok(s.lastSyncMs !== undefined);
    // Updates are applied one at a time, in order.
    const seen: number[] = [];
    await Promise.all(Array.from({ length: 20 }, (_, i) => updateStatus(paths, (x) => void seen.push(i, x.pending.bytesRestored++))));
    assert.is((await readStatus(paths)).pending.bytesRestored, 20);
  } finally {
    t.cleanup();
  }
});

test("the last sync's time and duration survive a daemon restart: the heartbeat takes both from status.json", async () => {
  const t = tempDir('baksa-status-');
  try {
    mkdirSync(join(t.path, 'state'), { recursive: true });
    const paths = statePaths(join(t.path, 'state'));
    await recordRun(paths, { type: 'snapshot', ok: true, counters: counters(1000), durationMs: 1234 });
    // A later daemon (a new HeartbeatCounters) reports the backup a CLI run or an earlier daemon made.
    const { counters: taken } = await new HeartbeatCounters(paths).take();
    assert.ok(taken.lastSyncMs !== undefined);
    assert.is(taken.lastSyncDurationMs, 1234);
    // A run that stored nothing new leaves the last sync as it was.
    await recordRun(paths, { type: 'snapshot', ok: true, counters: counters(0), durationMs: 5 });
    assert.is((await new HeartbeatCounters(paths).take()).counters.lastSyncDurationMs, 1234);
  } finally {
    t.cleanup();
  }
});

test('a backup stopped by SIGTERM is the last run, not ok, but no error for the monitor; a failure is', async () => {
  const t = tempDir('baksa-status-');
  try {
    mkdirSync(join(t.path, 'state'), { recursive: true });
    const paths = statePaths(join(t.path, 'state'));
    await recordRun(paths, { type: 'lazy', ok: false, error: 'BACKUP_CANCELLED' });
    assert.equal((await readStatus(paths)).lastRun, { type: 'lazy', ok: false, timeMs: (await readStatus(paths)).lastRun!.timeMs, error: 'BACKUP_CANCELLED' });
    assert.equal((await new HeartbeatCounters(paths).take()).counters.errors, []);
    assert.equal(backupErrorEvent('BACKUP_CANCELLED'), { name: 'backup-error', significant: false });
    await recordRun(paths, { type: 'lazy', ok: false, error: 'SOURCE_MISSING' });
    assert.equal((await new HeartbeatCounters(paths).take()).counters.errors.map((e) => e.message), ['SOURCE_MISSING: lazy failed']);
    assert.equal(backupErrorEvent('SOURCE_MISSING'), { name: 'backup-error', significant: true });
    assert.equal(backupErrorEvent('DISK_FULL'), { name: 'store-full', significant: true });
  } finally {
    t.cleanup();
  }
});

test('status names the captured MQTT topics, the broker without its password, and where the logs go', async () => {
  const t = tempDir('baksa-status-');
  try {
    const state = await freshState(join(t.path, 'state'), [join(t.path, 'src')], 'small-arm', { broker: 'mqtt://plc:s3cret@127.0.0.1:1883', mqttTopics: ['plant/+/temp'] });
    const s = await collectStatus(state.paths.root);
    assert.equal(s.capture, { broker: 'mqtt://plc:***@127.0.0.1:1883', topics: ['plant/+/temp'], dir: join(state.paths.root, 'sensors') });
    assert.not.match(JSON.stringify(s), /s3cret/);
    const plain = await freshState(join(t.path, 'plain'), [join(t.path, 'src')]);
    assert.is((await collectStatus(plain.paths.root)).capture, undefined);
  } finally {
    t.cleanup();
  }
});

test.run();
