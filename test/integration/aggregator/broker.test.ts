// The aggregator node's MQTT endpoint over mqtts (aggregator/node/broker.ts): certificates from the
// cluster CA only, client ids held to their certificate, and each agent within its own account's topics,
// the account inside a Register included. Real TLS on loopback, real mqtt.js clients.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../../aggregator/node/broker.ts';
import { initCa, issueCertificate, loadTlsMaterial, readCrl, revokeCertificate, tlsClientOptions, type TlsMaterial } from '../../../shared/crypto/pki.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { silentLogger } from '../../../shared/log.ts';
import { filters, topics } from '../../../shared/protocol/topics.ts';
import { sealTelemetry } from '../../../shared/protocol/telemetry.ts';
import { attempt, grantOf, publishCutOff, until } from '../broker/helpers.ts';

const CLUSTER = 'dc1';
const NODE = 'agg1.dc1.test';
const GW1 = 'gw1.site-a.example';
const GW2 = 'gw2.site-a.example';

const dir = mkdtempSync(join(tmpdir(), 'baksa-dc-broker-'));
const certs = new Map<string, TlsMaterial>();
let broker: EmbeddedBroker;
const clients: mqtt.MqttClient[] = [];

test.before(async () => {
  const pki = join(dir, 'pki');
  const rogue = join(dir, 'rogue');
  await initCa(pki, { name: 'dc1-test-ca' });
  await issueCertificate(pki, { name: NODE, role: 'replica', ipAddresses: ['127.0.0.1'] });
  for (const name of [GW1, GW2]) await issueCertificate(pki, { name, role: 'agent' });
  await issueCertificate(pki, { name: 'auditor.dc1.test', role: 'auditor' });
  await initCa(rogue, { name: 'rogue-ca' });
  await issueCertificate(rogue, { name: GW1, role: 'agent' });
  for (const name of [NODE, GW1, GW2, 'auditor.dc1.test']) certs.set(name, loadTlsMaterial(pki, name));
  certs.set('rogue', loadTlsMaterial(rogue, GW1));
  broker = await startEmbeddedBroker({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger as never,
    cluster: CLUSTER,
    tls: certs.get(NODE)!,
    // gw1 is account 0x00000001 in the database; gw2 has no account yet.
    accountOf: async (name) => (name === GW1 ? { name, number: 1 } : undefined),
  });
});

test.after(async () => {
  for (const c of clients) c.end(true);
  await broker.stop();
  rmSync(dir, { recursive: true, force: true });
});

function options(cert: string | undefined, clientId: string): mqtt.IClientOptions {
  const tls = cert ? tlsClientOptions(certs.get(cert)!) : { ca: certs.get(NODE)!.ca, minVersion: 'TLSv1.3' as const };
  return { ...(tls as mqtt.IClientOptions), clientId, reconnectPeriod: 0, connectTimeout: 5_000 };
}

async function connectAs(cert: string, clientId: string): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(broker.url, options(cert, clientId));
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** Publishes what the endpoint must refuse, and fails unless it closes the connection for it. */
async function cutOff(client: mqtt.MqttClient, topic: string, payload: Uint8Array): Promise<void> {
  assert.ok(await publishCutOff(client, topic, payload), `the endpoint took a publish to ${topic} it should have refused`);
}

test('mqtts only: no certificate, one from another CA, or a client id of another identity is kept out', async () => {
  assert.is(broker.url.startsWith('mqtts://127.0.0.1:'), true, broker.url);
  assert.is.not(await attempt(broker.url, options(undefined, 'anonymous')), 'connected');
  assert.is.not(await attempt(broker.url, options('rogue', `${GW1}:telemetry`)), 'connected');
  assert.is(await attempt(broker.url, options(GW1, `${GW2}:telemetry`)), 2, 'identifier rejected');
  assert.is(await attempt(broker.url, options(GW1, `${GW1}:telemetry`)), 'connected');
});

test("an agent publishes its own account's telemetry and Register; another account's is refused and never delivered", async () => {
  const monitor = await connectAs(NODE, `${NODE}:monitor-1`);
  const seen: Array<{ topic: string; payload: Buffer }> = [];
  monitor.on('message', (topic, payload) => seen.push({ topic, payload }));
  for (const f of [filters.heartbeats(), filters.events(), topics.dc(CLUSTER, 'register')]) assert.is(await grantOf(monitor, f), 1, f);

  const key = generateSigningKey();
  const register = (account: string) =>
    sealTelemetry('Register', { account, host: 'host-a.site-a.example', agentVersion: '1', pubkey: key.publicKey, site: 'site-a' }, 'host-a.site-a.example', Date.now(), key.privateKey);

  const gw1 = await connectAs(GW1, `${GW1}:telemetry`);
  await gw1.publishAsync(topics.heartbeat('site-a', '0x00000001'), Buffer.from('beat-by-number'), { qos: 1 });
  await gw1.publishAsync(topics.heartbeat('site-b', GW1), Buffer.from('beat-by-name'), { qos: 1 });
  await gw1.publishAsync(topics.dc(CLUSTER, 'register'), Buffer.from(register('0x00000001')), { qos: 1 });
  await cutOff(gw1, topics.heartbeat('site-a', GW2), Buffer.from('forged-beat'));
  await cutOff(await connectAs(GW1, `${GW1}:forger`), topics.dc(CLUSTER, 'register'), register(GW2));
  await cutOff(await connectAs(GW1, `${GW1}:forger-2`), topics.dc(CLUSTER, 'register'), Buffer.from('not an envelope'));
  // gw2 has no account yet: its name works, a number does not.
  const gw2 = await connectAs(GW2, `${GW2}:telemetry`);
  await gw2.publishAsync(topics.event('site-a', GW2), Buffer.from('event-by-name'), { qos: 1 });
  await cutOff(gw2, topics.heartbeat('site-a', '0x00000002'), Buffer.from('forged-number'));

  const marker = await connectAs(GW1, `${GW1}:marker`);
  await marker.publishAsync(topics.heartbeat('site-a', GW1), Buffer.from('marker'), { qos: 1 });
  await until(() => seen.some((m) => m.payload.toString() === 'marker'), 'the marker reaches the monitor', 10_000);
  const texts = seen.filter((m) => m.topic.includes('/telemetry/')).map((m) => m.payload.toString());
  assert.equal(texts.sort(), ['beat-by-name', 'beat-by-number', 'event-by-name', 'marker']);
  const registers = seen.filter((m) => m.topic === topics.dc(CLUSTER, 'register'));
  assert.is(registers.length, 1, 'only the Register naming its own account was delivered');
});

test('an agent reads only its own monitor config; an auditor reads alerts and no telemetry', async () => {
  const gw1 = await connectAs(GW1, `${GW1}:config`);
  assert.is(await grantOf(gw1, topics.dc(CLUSTER, 'config', '0x00000001')), 1);
  assert.is(await grantOf(gw1, topics.dc(CLUSTER, 'config', GW2)), 128);
  assert.is(await grantOf(gw1, filters.heartbeats()), 128);
  assert.is(await grantOf(gw1, '$SYS/#'), 128);
  const auditor = await connectAs('auditor.dc1.test', 'auditor.dc1.test:watch');
  assert.is(await grantOf(auditor, filters.alerts()), 1);
  assert.is(await grantOf(auditor, filters.heartbeats()), 128);
});

test('an agent the CA revokes is disconnected from the endpoint and refused after; the others stay', async () => {
  const pki = join(dir, 'pki');
  const GW3 = 'gw3.site-a.example';
  await issueCertificate(pki, { name: GW3, role: 'agent' });
  certs.set(GW3, loadTlsMaterial(pki, GW3));
  const stolen = await connectAs(GW3, `${GW3}:telemetry`);
  const kept = await connectAs(GW2, `${GW2}:telemetry`);
  let stolenClosed = false;
  stolen.on('close', () => (stolenClosed = true));
  const { revoked } = await revokeCertificate(pki, { name: GW3, reason: 'key-compromise' });
  broker.revocationsChanged(readCrl(pki), new Set([revoked.serialNumber])); // what the node's RevocationWatch does
  await until(() => stolenClosed, 'the revoked agent disconnected');
  assert.is.not(await attempt(broker.url, options(GW3, `${GW3}:telemetry`)), 'connected');
  assert.ok(kept.connected, 'the others stay connected');
  assert.is(await attempt(broker.url, options(GW1, `${GW1}:telemetry`)), 'connected');
});

test.run();
