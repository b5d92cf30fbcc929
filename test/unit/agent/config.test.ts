// The agent config: one typed schema; a wrong field is refused by name; overrides apply over the profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { checkConfig, effectiveProfile, hostNamePattern, initAgent, telemetryCertificate, type AgentConfig } from '../../../agent/config/index.ts';
import { loadProfile } from '../../../agent/profile/index.ts';
import { RUNTIME_MARK, runtimeEnv } from '../../../agent/daemon/runtime.ts';
import { tempDir } from './_helpers.ts';

const good: AgentConfig = {
  format: 1,
  name: 'gw1.plant.example',
  site: 'plant-a',
  profile: 'small-arm',
  sources: ['/var/log/sensors'],
  excludes: ['*.tmp'],
  keyVersion: 1,
  nodePublicKey: 'ab'.repeat(32),
  createdMs: 1,
  telemetry: { enabled: false },
};

function field(c: unknown): string | undefined {
  try {
    checkConfig(c, '');
    return undefined;
  } catch (e) {
    return (e as { details?: { field?: string } }).details?.field;
  }
}

test('a valid config passes; each wrong field is named', () => {
  assert.equal(checkConfig(good, ''), good);
  assert.is(field({ ...good, name: 'Bad Name' }), 'name');
  assert.is(field({ ...good, sources: ['relative/path'] }), 'sources[0]');
  assert.is(field({ ...good, mqtt: { broker: 'http://x', topics: [], captureDir: 's', rotateBytes: 1 << 20, rotateS: 60 } }), 'mqtt.broker');
  assert.is(field({ ...good, schedule: { mode: 'sometimes' } }), 'schedule.mode');
  assert.is(field({ ...good, telemetry: { enabled: true, cluster: 'a/b' } }), 'telemetry.cluster');
  assert.is(field({ ...good, surprise: 1 }), 'surprise');
  assert.is(field({ ...good, sources: [] }), 'sources');
});

test('an edge cluster lists this gateway, unless it joins a running one, and then it must not', () => {
  const cluster = { members: ['gw1.plant.example', 'gw2.plant.example'], broker: 'mqtt://gw2.plant.example:1883' };
  assert.is(field({ ...good, cluster }), undefined);
  assert.is(field({ ...good, cluster: { ...cluster, members: ['gw2.plant.example'] } }), 'cluster.members');
  assert.is(field({ ...good, cluster: { ...cluster, members: ['gw2.plant.example', 'gw3.plant.example'], join: true } }), undefined);
  assert.is(field({ ...good, cluster: { ...cluster, join: true } }), 'cluster.members', 'a joining gateway is not one of the first members');
  assert.is(field({ ...good, cluster: { ...cluster, join: 'yes' } }), 'cluster.join');
});

test('init keeps the TLS directory for the telemetry broker too, and refuses one without a broker', async () => {
  const t = tempDir();
  try {
    const tls = join(t.path, 'tls');
    const lone = await initAgent({ stateDir: join(t.path, 'a'), name: 'gw1.plant.example', profile: 'small-arm', sources: [t.path], broker: 'mqtts://broker.plant.example:8883', tlsDir: tls });
    assert.equal(lone.telemetry, { enabled: true, broker: 'mqtts://broker.plant.example:8883', cluster: 'default', tlsDir: tls });
    const error = await initAgent({ stateDir: join(t.path, 'b'), name: 'gw1.plant.example', profile: 'small-arm', sources: [t.path], tlsDir: tls }).catch((e: unknown) => e);
    assert.is((error as { details?: { field?: string } }).details?.field, 'tls-dir');
    assert.is(field({ ...good, telemetry: { enabled: true, tlsDir: 'relative' } }), 'telemetry.tlsDir');
    // Several brokers: a cluster's endpoints, for telemetry alone.
    const list = 'mqtts://agg1.dc1.example:7600,mqtts://agg2.dc1.example:7601';
    const dc = await initAgent({ stateDir: join(t.path, 'c'), name: 'gw1.plant.example', profile: 'small-arm', sources: [t.path], broker: list, tlsDir: tls, cluster: 'dc1' });
    assert.is(dc.telemetry.broker, list);
    const edge = await initAgent({ stateDir: join(t.path, 'd'), name: 'gw1.plant.example', profile: 'small-arm', sources: [t.path], broker: list, members: ['gw2.plant.example'] }).catch((e: unknown) => e);
    assert.is((edge as { details?: { field?: string } }).details?.field, 'broker');
    assert.is(field({ ...good, telemetry: { enabled: true, broker: `${list},` } }), 'telemetry.broker');
    assert.is(field({ ...good, cluster: { members: [good.name], broker: list } }), 'cluster.broker');
  } finally {
    t.cleanup();
  }
});

test("telemetry shows a cluster's endpoint the account's certificate, and a site broker the gateway's", () => {
  const cloud = { server: 'https://agg1.dc1.example:7500', tlsDir: '/etc/2baksa/cloud', certName: 'acct.example' };
  const dc = { enabled: true, broker: 'mqtts://agg1.dc1.example:7600', cluster: 'dc1', tlsDir: '/etc/2baksa/tls' };
  assert.equal(telemetryCertificate({ ...good, telemetry: dc, cloud }), { dir: '/etc/2baksa/cloud', name: 'acct.example' });
  assert.equal(telemetryCertificate({ ...good, telemetry: dc }), { dir: '/etc/2baksa/tls', name: good.name });
  const cluster = { members: [good.name], broker: 'mqtts://gw1.plant.example:8883', tlsDir: '/etc/2baksa/site' };
  assert.equal(telemetryCertificate({ ...good, telemetry: { enabled: true, broker: cluster.broker }, cluster, cloud }), { dir: '/etc/2baksa/site', name: good.name });
  assert.is(telemetryCertificate({ ...good, telemetry: { enabled: true, broker: 'mqtt://broker:1883' } }), undefined);
});

test('RFC 1034 host names up to 255 characters', () => {
  assert.ok(hostNamePattern.test('a'));
  assert.ok(hostNamePattern.test('gw-1.site-2.example.org'));
  assert.not.ok(hostNamePattern.test('-gw.example'));
  assert.not.ok(hostNamePattern.test('gw_1.example'));
  assert.not.ok(hostNamePattern.test(`${'a'.repeat(64)}.example`));
  assert.ok(hostNamePattern.test(Array.from({ length: 64 }, () => 'abc').join('.')), '255 characters');
  assert.not.ok(hostNamePattern.test(Array.from({ length: 65 }, () => 'abc').join('.')), '259 characters');
});

test('config overrides the profile schedule and heartbeat interval', () => {
  const p = effectiveProfile({ ...good, schedule: { mode: 'lazy', settleS: 5 }, heartbeatIntervalS: 60 });
  assert.is(p.schedule.mode, 'lazy');
  assert.is(p.schedule.settleS, 5);
  assert.is(p.schedule.cron, '15 * * * *', 'unset fields keep the profile value');
  assert.is(p.heartbeatIntervalS, 60);
});

test('a profile runtime section becomes the environment the daemon restarts with, once', () => {
  const env = runtimeEnv(loadProfile('small-arm'), { NODE_OPTIONS: '--trace-warnings' })!;
  assert.is(env.NODE_OPTIONS, '--trace-warnings --max-semi-space-size=1');
  assert.is(env.MALLOC_ARENA_MAX, '2');
  assert.is(env[RUNTIME_MARK], '1');
  assert.is(runtimeEnv(loadProfile('small-arm'), env), undefined, 'already applied');
  assert.is(runtimeEnv(loadProfile('x86-edge'), {}), undefined, 'nothing to apply');
});

test.run();
