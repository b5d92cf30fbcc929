// Firmware profiles: one typed schema, built-ins valid, a wrong field refused by name; --profile auto.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import { builtinProfileNames, loadProfile, parseProfile, pickProfileName, profilesDir } from '../../../agent/profile/index.ts';

const base = () => JSON.parse(readFileSync(join(profilesDir, 'small-arm.json'), 'utf8')) as Record<string, any>;

function refusedField(value: unknown): string {
  try {
    parseProfile(value);
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, 'CONFIG_INVALID');
    return String((error as BaksaError).details?.field);
  }
  assert.unreachable('the profile was accepted');
  return '';
}

test('the three built-in profiles load and validate', () => {
  assert.equal(builtinProfileNames(), ['mid-arm', 'small-arm', 'x86-edge']);
  for (const name of builtinProfileNames()) {
    const p = loadProfile(name);
    assert.is(p.name, name);
    assert.ok(p.chunking.minBytes < p.chunking.avgBytes && p.chunking.avgBytes < p.chunking.maxBytes);
    assert.ok(p.memoryBudgetBytes >= 2 * p.chunking.maxBytes);
  }
  assert.is(loadProfile('small-arm').erasure.k, 2);
});

test('a wrong field is refused with its name', () => {
  const p1 = base();
  p1.erasure.k = 0;
  assert.is(refusedField(p1), 'erasure.k');
  const p2 = base();
  p2.compression.algorithm = 'lz4';
  assert.is(refusedField(p2), 'compression.algorithm');
  const p3 = base();
  p3.chunking.minBytes = p3.chunking.avgBytes * 2;
  assert.is(refusedField(p3), 'chunking.minBytes');
  const p4 = base();
  p4.schedule.cron = 'every hour';
  assert.is(refusedField(p4), 'schedule.cron');
  const p5 = base();
  p5.migration.window.start = '25:00';
  assert.is(refusedField(p5), 'migration.window.start');
  const p6 = base();
  delete p6.heartbeatIntervalS;
  assert.is(refusedField(p6), 'heartbeatIntervalS');
  const p7 = base();
  p7.memoryBudgetBytes = p7.chunking.maxBytes;
  assert.is(refusedField(p7), 'memoryBudgetBytes');
  const p8 = base();
  p8.runtime.heapGrowingPercent = 5000;
  assert.is(refusedField(p8), 'runtime.heapGrowingPercent');
  // Levels by algorithm: zstd -7 to 19, brotli and gzip 0 to 11.
  const level = (algorithm: string, value: number) => ({ ...base(), compression: { algorithm, level: value } });
  assert.is(parseProfile(level('zstd', 19)).compression.level, 19);
  assert.is(parseProfile(level('zstd', -7)).compression.level, -7);
  assert.is(parseProfile(level('brotli', 11)).compression.level, 11);
  assert.is(refusedField(level('zstd', 20)), 'compression.level');
  assert.is(refusedField(level('brotli', 12)), 'compression.level');
  assert.is(refusedField(level('gzip', -1)), 'compression.level');
});

test('schedule.cron: snapshot mode needs it, lazy mode (which scans every scanIntervalS) does not', () => {
  const lazy = base();
  lazy.schedule = { mode: 'lazy', settleS: 30, scanIntervalS: 15 };
  assert.is(parseProfile(lazy).schedule.cron, undefined);
  const snapshot = base();
  snapshot.schedule = { mode: 'snapshot', settleS: 30, scanIntervalS: 15 };
  assert.is(refusedField(snapshot), 'schedule.cron');
  try {
    parseProfile(snapshot);
  } catch (error) {
    assert.match((error as BaksaError).message, /snapshot mode backs up on this schedule/);
  }
});

test('runtime.heapGrowingPercent: the profiles with memory to spare set it, small-arm leaves V8 its own', () => {
  assert.is(loadProfile('x86-edge').runtime?.heapGrowingPercent, 300);
  assert.is(loadProfile('mid-arm').runtime?.heapGrowingPercent, 300);
  assert.is(loadProfile('small-arm').runtime?.heapGrowingPercent, undefined);
});

test('migration.priority: normal when absent, one of the classes, anything else refused naming the classes', () => {
  assert.is(parseProfile(base()).migration.priority, 'normal');
  for (const name of builtinProfileNames()) assert.is(loadProfile(name).migration.priority, 'normal');
  for (const priority of ['alarm', 'high', 'normal', 'bulk']) {
    const p = base();
    p.migration.priority = priority;
    assert.is(parseProfile(p).migration.priority, priority);
  }
  const bad = base();
  bad.migration.priority = 'urgent';
  assert.is(refusedField(bad), 'migration.priority');
  try {
    parseProfile(bad, 'alarms.json');
    assert.unreachable('accepted');
  } catch (error) {
    assert.is((error as Error).message, 'alarms.json: migration.priority: must be one of alarm, high, normal, bulk, got "urgent"');
  }
  const notText = base();
  notText.migration.priority = 1;
  assert.is(refusedField(notText), 'migration.priority');
});

test('an unknown field (a typo) is refused, not ignored', () => {
  const p = base();
  p.retention.keepDayly = 3;
  assert.is(refusedField(p), 'retention.keepDayly');
});

test('unknown profile names are a config error', () => {
  try {
    loadProfile('tiny-arm');
    assert.unreachable();
  } catch (error) {
    assert.is((error as BaksaError).code, 'CONFIG_INVALID');
    assert.match((error as BaksaError).hint ?? '', 'small-arm');
  }
});

test('auto picks by architecture and memory', () => {
  const MiB = 1024 * 1024;
  assert.is(pickProfileName({ arch: 'arm', memoryBytes: 512 * MiB }), 'small-arm');
  assert.is(pickProfileName({ arch: 'arm64', memoryBytes: 4096 * MiB }), 'mid-arm');
  assert.is(pickProfileName({ arch: 'x64', memoryBytes: 8192 * MiB }), 'x86-edge');
  assert.is(pickProfileName({ arch: 'x64', memoryBytes: 768 * MiB }), 'small-arm');
});

test.run();
