// The site broker over mqtts with certificates from `2baksa pki` (DESIGN §8: every link is TLS 1.3 with
// mutual certificates; the certificate's identity and role feed authorization). Real mqtt.js clients.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { initCa, issueCertificate, loadTlsMaterial, revokeCertificate, tlsClientOptions, type Role, type TlsMaterial } from '../../../shared/crypto/pki.ts';
import { RevocationWatch } from '../../../shared/crypto/revocation-watch.ts';
import { silentLogger } from '../../../shared/log.ts';
import { startSiteBroker, type SiteBroker } from '../../../agent/broker/index.ts';
import { grantOf, publishPaced, until } from './helpers.ts';

const SITE = 'plant-7';
const R = `2baksa/v1/${SITE}`;
const root = mkdtempSync(join(tmpdir(), '2baksa-broker-tls-'));
const ours = join(root, 'ours');
const theirs = join(root, 'theirs');

interface Ctx {
  broker: SiteBroker;
  certs: Map<string, TlsMaterial>;
}
const test = suite<Ctx>('site broker over mqtts');

test.before(async (ctx) => {
  await initCa(ours);
  await initCa(theirs);
  ctx.certs = new Map();
  const issue = async (dir: string, name: string, role: Role, key = name) => {
    await issueCertificate(dir, { name, role });
    ctx.certs.set(key, loadTlsMaterial(dir, name));
  };
  for (const name of ['broker', 'gw-1', 'gw-2', 'gw-3']) await issue(ours, name, 'agent');
  await issue(ours, 'alice', 'auditor');
  await issue(theirs, 'gw-1', 'agent', 'foreign-gw-1');
  ctx.broker = await startSiteBroker({ site: SITE, tls: ctx.certs.get('broker')!, host: '127.0.0.1', port: 0, outgoingBytesMax: 1 << 20 });
});

test.after(async (ctx) => {
  await ctx.broker.close();
  rmSync(root, { recursive: true, force: true });
});

function options(material: TlsMaterial | undefined, clientId: string): mqtt.IClientOptions {
  return { ...(material ? (tlsClientOptions(material) as mqtt.IClientOptions) : { rejectUnauthorized: false }), clientId, reconnectPeriod: 0, connectTimeout: 10_000 };
}

async function connect(ctx: Ctx, name: string, clientId = name): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(ctx.broker.url, options(ctx.certs.get(name), clientId));
}

/** Resolves 'connected', or the error code / 'closed' when the broker would not have the client. */
function attempt(url: string, opts: mqtt.IClientOptions): Promise<string | number> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, opts);
    c.once('connect', () => {
      c.end(true);
      resolve('connected');
    });
    c.once('error', (e) => {
      c.end(true);
      resolve((e as { code?: number | string }).code ?? e.message);
    });
    c.once('close', () => {
      c.end(true);
      resolve('closed');
    });
  });
}

test('agents with our certificates talk: a frame reaches a peer inbox over mqtts', async (ctx) => {
  assert.match(ctx.broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
  const gw1 = await connect(ctx, 'gw-1');
  const gw2 = await connect(ctx, 'gw-2', 'gw-2:transport');
  const got: string[] = [];
  gw1.on('message', (topic, p) => got.push(`${topic}=${p}`));
  assert.is(await grantOf(gw1, `${R}/node/gw-1/in`), 1);
  await gw2.publishAsync(`${R}/node/gw-1/in`, Buffer.from('frame'), { qos: 1 });
  await until(() => got.length === 1, 'the frame');
  assert.equal(got, [`${R}/node/gw-1/in=frame`]);
  await Promise.all([gw1.endAsync(), gw2.endAsync()]);
});

test('a certificate from another CA, or none, is refused at TLS', async (ctx) => {
  const before = ctx.broker.stats().tlsRefused;
  assert.is.not(await attempt(ctx.broker.url, options(ctx.certs.get('foreign-gw-1'), 'gw-1')), 'connected');
  const { cert: _c, key: _k, ...caOnly } = ctx.certs.get('gw-1')!;
  assert.is.not(await attempt(ctx.broker.url, { ca: caOnly.ca, clientId: 'gw-1', reconnectPeriod: 0 }), 'connected');
  await until(() => ctx.broker.stats().tlsRefused >= before + 2, 'two TLS refusals');
  assert.is(ctx.broker.stats().connections, 2); // only the two clients of the first test got past TLS
});

test("an agent publishing to another site's topic is refused and disconnected; it cannot subscribe there", async (ctx) => {
  const gw1 = await connect(ctx, 'gw-1');
  assert.is(await grantOf(gw1, `2baksa/v1/other-site/node/gw-1/in`), 128);
  assert.is(await grantOf(gw1, `2baksa/v1/other-site/node/+/state`), 128);
  const before = ctx.broker.stats().publishDenied;
  const closed = new Promise<void>((r) => gw1.once('close', () => r()));
  gw1.publish(`2baksa/v1/other-site/node/gw-9/in`, Buffer.from('x'), { qos: 1 });
  await closed;
  assert.is(ctx.broker.stats().publishDenied, before + 1);
  gw1.end(true);
});

test("a forged state on another node's topic never reaches its subscribers", async (ctx) => {
  const watcher = await connect(ctx, 'gw-3');
  const seen: string[] = [];
  watcher.on('message', (topic, p) => seen.push(`${topic}=${p}`));
  assert.is(await grantOf(watcher, `${R}/node/+/state`), 1);
  const intruder = await connect(ctx, 'gw-2');
  const closed = new Promise<void>((r) => intruder.once('close', () => r()));
  intruder.publish(`${R}/node/gw-1/state`, Buffer.from('dead'), { qos: 1, retain: true });
  await closed;
  intruder.end(true);
  const honest = await connect(ctx, 'gw-1');
  await honest.publishAsync(`${R}/node/gw-1/state`, Buffer.from('alive'), { qos: 1, retain: true });
  await until(() => seen.length >= 1, 'the honest state');
  assert.equal(seen, [`${R}/node/gw-1/state=alive`]);
  await Promise.all([watcher.endAsync(), honest.endAsync()]);
});

test('$SYS and catch-all subscriptions are refused; the connection stays usable', async (ctx) => {
  const gw1 = await connect(ctx, 'gw-1');
  assert.is(await grantOf(gw1, '$SYS/#'), 128);
  assert.is(await grantOf(gw1, '$SYS/+/heartbeat'), 128);
  assert.is(await grantOf(gw1, '#'), 128);
  assert.is(await grantOf(gw1, `${R}/ledger`), 1);
  assert.ok(gw1.connected);
  await gw1.endAsync();
});

test("a client id of another node is refused (no session takeover); an auditor reads the ledger, not inboxes", async (ctx) => {
  assert.is(await attempt(ctx.broker.url, options(ctx.certs.get('gw-2'), 'gw-1')), 2);
  const alice = await connect(ctx, 'alice', 'alice:audit');
  assert.is(await grantOf(alice, `${R}/ledger`), 1);
  assert.is(await grantOf(alice, `${R}/node/gw-1/in`), 128);
  await alice.endAsync();
});

test('over TLS too, a subscriber that stops reading does not delay the others', async (ctx) => {
  const topic = `${R}/ledger`;
  const stalled = await connect(ctx, 'gw-1');
  const healthy = await connect(ctx, 'gw-2');
  const pub = await connect(ctx, 'gw-3');
  assert.is(await grantOf(stalled, topic), 1);
  assert.is(await grantOf(healthy, topic), 1);
  const healthyGot: number[] = [];
  let stalledGot = 0;
  stalled.on('message', () => stalledGot++);
  healthy.on('message', (_t, p) => healthyGot.push(p.readUInt32BE(0)));
  (stalled.stream as Socket).pause();
  // At most 512 KiB ahead of the healthy reader (under the suite's 1 MiB bound): a loaded machine
  // must not make it look slow.
  const n = 600;
  await publishPaced(pub, topic, n, 8, () => healthyGot.length);
  await until(() => healthyGot.length === n, `the healthy subscriber's ${n} messages`);
  assert.equal(healthyGot, Array.from({ length: n }, (_, i) => i));
  assert.ok(stalledGot < n);
  assert.is(ctx.broker.stats().guardRefused['slow-consumer'], 1);
  stalled.end(true);
  await Promise.all([healthy.endAsync(), pub.endAsync()]);
});

test('a gateway the CA revokes is disconnected at once and refused after (RevocationWatch)', async (ctx) => {
  await issueCertificate(ours, { name: 'gw-4', role: 'agent' });
  ctx.certs.set('gw-4', loadTlsMaterial(ours, 'gw-4'));
  const stolen = await connect(ctx, 'gw-4');
  const kept = await connect(ctx, 'gw-2');
  let stolenClosed = false;
  stolen.on('close', () => (stolenClosed = true));
  const watch = new RevocationWatch({ dir: ours, targets: [ctx.broker.revocationsChanged], logger: silentLogger, intervalMs: 60_000 });
  try {
    await revokeCertificate(ours, { name: 'gw-4', reason: 'key-compromise' });
    await watch.check(); // what the poll does when the file changes
    await until(() => stolenClosed, 'the revoked gateway disconnected');
    assert.not.equal(await attempt(ctx.broker.url, options(ctx.certs.get('gw-4'), 'gw-4')), 'connected', 'refused at its next handshake');
    assert.is(await grantOf(kept, `${R}/node/gw-2/in`), 1, 'the other gateways stay');
    assert.is(await attempt(ctx.broker.url, options(ctx.certs.get('gw-3'), 'gw-3')), 'connected');
  } finally {
    watch.close();
    stolen.end(true);
    await kept.endAsync();
  }
});

test.run();
