// The embedded site broker in plain mode (DESIGN §8): the packet guard caps sizes before authentication
// (aedes 1.x has none), garbage is cut off, a slow subscriber never stalls the others (aedes queueLimit/
// concurrency plus the guard's outgoing bound), passwords and client ids are checked, and normal clients
// keep working throughout.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import type { Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';
import { startSiteBroker, type SiteBroker } from '../../../agent/broker/index.ts';
import { floodUntilClosed, grantOf, publishCutOff, publishPaced, rawSocket, remainingLength, until } from './helpers.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { sealTelemetry } from '../../../shared/protocol/telemetry.ts';
import { buildHeartbeat } from '../../../agent/telemetry/index.ts';

const SITE = 's1';
const R = `2baksa/v1/${SITE}`;

const guard = suite<{ broker: SiteBroker }>('packet guard (plain, anonymous)');
guard.before(async (ctx) => {
  ctx.broker = await startSiteBroker({ site: SITE, tls: false, allowAnonymous: true, host: '127.0.0.1', port: 0, connectBytesMax: 4096, packetBytesMax: 1 << 20 });
});
guard.after(async (ctx) => ctx.broker.close());

async function client(broker: SiteBroker, clientId: string, extra: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync(broker.url, { clientId, reconnectPeriod: 0, ...extra });
}

guard('an unauthenticated CONNECT declaring 100 MB is cut off at its header, without buffering its body', async ({ broker }) => {
  const declared = 100 * 1024 * 1024;
  const socket = await rawSocket(broker.port);
  const { written, closed } = await floodUntilClosed(socket, new Uint8Array([0x10, ...remainingLength(declared)]), declared);
  assert.ok(closed, 'the broker closed the socket');
  // the broker stopped reading at the header: it cannot hold more than a small part of what was sent
  assert.ok(written < declared / 4, `wrote ${written} bytes before the close`);
  assert.is(broker.stats().guardRefused['too-large'], 1);
});

guard("a gateway's telemetry under an account not its node id passes when its envelope says this node sent it; nothing else does", async ({ broker }) => {
  const key = generateSigningKey();
  const beat = (from: string, account: string) =>
    Buffer.from(sealTelemetry('Heartbeat', buildHeartbeat({ account, host: from, agentVersion: '0', lastBackupType: undefined, startedMs: 0, nowMs: Date.now(), bytesSynced: 0, bytesRestored: 0, errors: [] }), from, Date.now(), key.privateKey));
  const topic = `${R}/telemetry/plant.example/heartbeat`;
  const own = await client(broker, 'gw-7:telemetry');
  own.on('error', () => {});
  const cutOff = new Promise<boolean>((r) => own.once('close', () => r(false)));
  const taken = await Promise.race([own.publishAsync(topic, beat('gw-7', 'plant.example'), { qos: 1 }).then(() => true), cutOff]);
  assert.ok(taken && own.connected, 'taken: acknowledged, and the connection stays open');
  own.end(true);
  const refused = async (payload: Buffer, to = topic) => {
    const c = await client(broker, 'gw-7:forger');
    const cut = await publishCutOff(c, to, payload);
    c.end(true);
    return cut;
  };
  assert.ok(await refused(beat('gw-8', 'plant.example')), "another node's heartbeat is refused");
  assert.ok(await refused(beat('gw-7', 'other.example')), 'a heartbeat naming another account than its topic is refused');
  assert.ok(await refused(Buffer.from('not an envelope')), 'bytes that are no envelope are refused');
  assert.ok(await refused(beat('gw-7', 'plant.example'), `2baksa/v1/other-site/telemetry/plant.example/heartbeat`), 'another site stays refused');
});

guard('garbage bytes are cut off', async ({ broker }) => {
  const socket = await rawSocket(broker.port);
  socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await socket.gone;
  const bad = await rawSocket(broker.port);
  bad.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]));
  await bad.gone;
  const stats = broker.stats().guardRefused;
  assert.is(stats['first-not-connect'], 1);
  assert.is(stats['bad-length'], 1);
});

guard('packets pipelined right behind the CONNECT wait for authentication, then are served', async ({ broker }) => {
  const socket = await rawSocket(broker.port);
  const replies: Buffer[] = [];
  socket.on('data', (d: Buffer) => replies.push(d));
  socket.write(Buffer.concat([
    mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'gw-7', keepalive: 30 }),
    mqttPacket.generate({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: `${R}/ledger`, qos: 1 }] }),
  ]));
  await until(() => Buffer.concat(replies).length >= 9, 'CONNACK and SUBACK');
  // CONNACK accepted (20 02 00 00), then SUBACK for message 9 granting QoS 1 (90 03 00 09 01)
  assert.equal([...Buffer.concat(replies)], [0x20, 0x02, 0x00, 0x00, 0x90, 0x03, 0x00, 0x09, 0x01]);
  socket.destroy();
});

guard('a CONNECT whose will is larger than connectBytesMax is cut; one under it connects', async ({ broker }) => {
  const before = broker.stats().guardRefused['too-large'] ?? 0;
  const big = mqtt.connect(broker.url, { clientId: 'gw-5', reconnectPeriod: 0, will: { topic: `${R}/node/gw-5/state`, payload: Buffer.alloc(8192), qos: 1, retain: true } });
  big.on('error', () => {});
  let connected = false;
  big.on('connect', () => (connected = true));
  await new Promise<void>((r) => big.once('close', () => r()));
  big.end(true);
  assert.not.ok(connected);
  assert.is(broker.stats().guardRefused['too-large'], before + 1);
  const small = await client(broker, 'gw-5', { will: { topic: `${R}/node/gw-5/state`, payload: Buffer.alloc(1024), qos: 1, retain: true } });
  assert.ok(small.connected);
  await small.endAsync();
});

guard('after authentication packets up to packetBytesMax pass; a larger one cuts only its sender', async ({ broker }) => {
  const sub = await client(broker, 'gw-1');
  const pub = await client(broker, 'gw-2');
  const got: number[] = [];
  sub.on('message', (_t, payload) => got.push(payload.length));
  await sub.subscribeAsync(`${R}/node/gw-1/in`, { qos: 1 });
  await pub.publishAsync(`${R}/node/gw-1/in`, Buffer.alloc(512 * 1024), { qos: 1 });
  await until(() => got.length === 1, 'the 512 KiB message');
  const before = broker.stats().guardRefused['too-large'] ?? 0;
  const closed = new Promise<void>((r) => pub.once('close', () => r()));
  pub.publish(`${R}/node/gw-1/in`, Buffer.alloc(2 << 20), { qos: 0 });
  await closed;
  assert.is(broker.stats().guardRefused['too-large'], before + 1);
  // the subscriber is unaffected and still served
  const other = await client(broker, 'gw-3');
  await other.publishAsync(`${R}/node/gw-1/in`, Buffer.from('after'), { qos: 1 });
  await until(() => got.length === 2, 'the message after the cut');
  assert.equal(got, [512 * 1024, 5]);
  pub.end(true);
  await Promise.all([sub.endAsync(), other.endAsync()]);
});

guard('authorization in plain mode: foreign state, other sites and $SYS are refused; the message never arrives', async ({ broker }) => {
  const watcher = await client(broker, 'gw-1');
  const seen: string[] = [];
  watcher.on('message', (topic) => seen.push(topic));
  const grants = [];
  for (const topic of [`${R}/node/+/state`, '$SYS/#', '#', `2baksa/v1/other/ledger`, `${R}/node/gw-2/in`]) grants.push(await grantOf(watcher, topic));
  assert.equal(grants, [1, 128, 128, 128, 128]);
  const intruder = await client(broker, 'gw-2');
  const closed = new Promise<void>((r) => intruder.once('close', () => r()));
  intruder.publish(`${R}/node/gw-1/state`, Buffer.from('forged'), { qos: 1, retain: true });
  await closed;
  intruder.end(true);
  const honest = await client(broker, 'gw-3');
  await honest.publishAsync(`${R}/node/gw-3/state`, Buffer.from('mine'), { qos: 1 });
  await until(() => seen.length >= 1, 'the honest state');
  assert.equal(seen, [`${R}/node/gw-3/state`]);
  assert.ok(broker.stats().publishDenied >= 1);
  assert.ok(broker.stats().subscribeDenied >= 3);
  await Promise.all([watcher.endAsync(), honest.endAsync()]);
});

guard('one subscriber that stops reading does not delay the others; it is cut off as a slow consumer', async () => {
  const broker = await startSiteBroker({ site: SITE, tls: false, allowAnonymous: true, host: '127.0.0.1', port: 0, outgoingBytesMax: 4 << 20 });
  const topic = `${R}/ledger`;
  const clients: mqtt.MqttClient[] = [];
  try {
    const stalled = await client(broker, 'gw-1');
    const healthy = await client(broker, 'gw-2');
    const pub = await client(broker, 'gw-3');
    clients.push(stalled, healthy, pub);
    stalled.on('error', () => {});
    await stalled.subscribeAsync(topic);
    await healthy.subscribeAsync(topic);
    const stalledGot: number[] = [];
    const healthyGot: number[] = [];
    stalled.on('message', (_t, p) => stalledGot.push(p.readUInt32BE(0)));
    healthy.on('message', (_t, p) => healthyGot.push(p.readUInt32BE(0)));
    (stalled.stream as Socket).pause();
    // Far more than the kernel's socket buffers and the 4 MiB bound hold, so the stalled reader really
    // backs up; at most 1 MiB ahead of the healthy reader, which must still get every message.
    const n = 600;
    await publishPaced(pub, topic, n, 16, () => healthyGot.length);
    await until(() => healthyGot.length === n, `the healthy subscriber's ${n} messages`);
    assert.equal(healthyGot, Array.from({ length: n }, (_, i) => i));
    assert.ok(stalledGot.length < n);
    assert.is(broker.stats().guardRefused['slow-consumer'], 1);
  } finally {
    for (const c of clients) c.end(true);
    await broker.close();
  }
});

guard.run();

const plain = suite<{ broker: SiteBroker }>('plain mode with a shared secret');
const SECRET = 'correct horse battery staple';
plain.before(async (ctx) => {
  ctx.broker = await startSiteBroker({ site: SITE, tls: false, plainSecret: SECRET, host: '127.0.0.1', port: 0 });
});
plain.after(async (ctx) => ctx.broker.close());

async function refusal(url: string, options: mqtt.IClientOptions): Promise<number | undefined> {
  try {
    const c = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options });
    await c.endAsync();
    return undefined;
  } catch (error) {
    return (error as { code?: number }).code;
  }
}

plain('username = node id and the secret log in; a wrong or missing password is refused (4)', async ({ broker }) => {
  assert.ok(broker.url.startsWith('mqtt://127.0.0.1:'));
  const ok = await mqtt.connectAsync(broker.url, { clientId: 'gw-1', username: 'gw-1', password: SECRET, reconnectPeriod: 0 });
  await ok.endAsync();
  assert.is(await refusal(broker.url, { clientId: 'gw-1', username: 'gw-1', password: 'guess' }), 4);
  assert.is(await refusal(broker.url, { clientId: 'gw-1' }), 4);
  assert.ok(broker.stats().authRefused >= 2);
});

plain("a client id of another node (a session takeover) is refused (2); a will on another node's topic is refused (5)", async ({ broker }) => {
  assert.is(await refusal(broker.url, { clientId: 'gw-2', username: 'gw-1', password: SECRET }), 2);
  assert.is(await refusal(broker.url, { clientId: 'gw-1:x', username: 'gw-1', password: SECRET, will: { topic: `${R}/node/gw-2/state`, payload: Buffer.from('x'), qos: 1, retain: true } }), 5);
  const ok = await mqtt.connectAsync(broker.url, { clientId: 'gw-1:membership', username: 'gw-1', password: SECRET, reconnectPeriod: 0, will: { topic: `${R}/node/gw-1/state`, payload: Buffer.from('x'), qos: 1, retain: true } });
  await ok.endAsync();
});

/** An mqtt.js client over the broker's in-memory connection for `node`; resolves at CONNACK or rejects with its code. */
function localClient(broker: SiteBroker, node: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const c = new mqtt.MqttClient(() => broker.connectLocal(node) as never, { reconnectPeriod: 0, ...options });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', (error) => {
      c.end(true);
      reject(error);
    });
  });
}

plain('the embedding node joins through connectLocal: no password, its own client id and topics only, messages both ways with TCP clients', async ({ broker }) => {
  const local = await localClient(broker, 'gw-1', { clientId: 'gw-1:membership', will: { topic: `${R}/node/gw-1/state`, payload: Buffer.from('x'), qos: 1, retain: true } });
  const remote = await mqtt.connectAsync(broker.url, { clientId: 'gw-2', username: 'gw-2', password: SECRET, reconnectPeriod: 0 });
  await local.subscribeAsync(`${R}/node/gw-1/in`, { qos: 1 });
  await remote.subscribeAsync(`${R}/node/gw-2/in`, { qos: 1 });
  const big = Buffer.alloc(3 << 20, 7); // a frame of shards, across the in-memory pair's backpressure
  const atLocal = new Promise<Buffer>((r) => local.once('message', (_t, p) => r(p)));
  const atRemote = new Promise<Buffer>((r) => remote.once('message', (_t, p) => r(p)));
  await remote.publishAsync(`${R}/node/gw-1/in`, Buffer.from('to the embedding node'), { qos: 1 });
  await local.publishAsync(`${R}/node/gw-2/in`, big, { qos: 1 });
  assert.is((await atLocal).toString(), 'to the embedding node');
  assert.ok((await atRemote).equals(big));
  // Authorized as the node it is: another node's inbox is still refused (the connection is closed).
  const closed = new Promise<void>((r) => local.once('close', () => r()));
  local.publish(`${R}/node/gw-2/state`, 'not mine', { qos: 0, retain: true });
  await closed;
  local.end(true);
  await remote.endAsync();
  const code = await localClient(broker, 'gw-1', { clientId: 'gw-2' }).then(() => undefined, (e: { code?: number }) => e.code);
  assert.is(code, 2, "another node's client id is refused on a local connection too");
});

plain('plain mode without a secret or allowAnonymous does not start', async () => {
  try {
    await startSiteBroker({ site: SITE, tls: false, port: 0 });
    assert.unreachable('should refuse');
  } catch (error) {
    assert.match((error as Error).message, /plainSecret/);
  }
});

plain('the local connection is never cut as a slow consumer: its reader is the broker\'s own process', async () => {
  const b = await startSiteBroker({ site: SITE, tls: false, plainSecret: SECRET, host: '127.0.0.1', port: 0, outgoingBytesMax: 64 * 1024 });
  try {
    const local = await localClient(b, 'gw-1', { clientId: 'gw-1' });
    await local.subscribeAsync(`${R}/node/gw-1/in`, { qos: 1 });
    let closed = false;
    local.on('close', () => (closed = true));
    const got: number[] = [];
    local.on('message', (_t, p) => got.push(p.length));
    const stream = (local as unknown as { stream: { pause(): void; resume(): void } }).stream;
    stream.pause(); // a busy node: nothing read for a while
    const remote = await mqtt.connectAsync(b.url, { clientId: 'gw-2', username: 'gw-2', password: SECRET, reconnectPeriod: 0 });
    for (let i = 0; i < 4; i++) await remote.publishAsync(`${R}/node/gw-1/in`, Buffer.alloc(256 * 1024, i), { qos: 0 });
    await new Promise((r) => setTimeout(r, 100));
    assert.not.ok(closed, 'still connected with 1 MiB waiting, over 16 times the limit');
    assert.equal(b.stats().guardRefused, {});
    stream.resume();
    await until(() => got.length === 4, 'the four messages');
    await remote.endAsync();
    local.end(true);
  } finally {
    await b.close();
  }
});

plain('after close, connectLocal gives a stream already closed', async () => {
  const b = await startSiteBroker({ site: SITE, tls: false, plainSecret: SECRET, host: '127.0.0.1', port: 0 });
  await b.close();
  assert.ok(b.connectLocal('gw-1').destroyed);
});

plain.run();
