// MQTT sensor capture: topic filters, line format, and rolling logs rotated by size and by age.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { RotatingLog, SensorCapture, captureLine, logFileName, shouldRotate, slugOf, topicMatches } from '../../../agent/sources/index.ts';
import { startAedes } from '../../helpers/brokers.ts';
import { Aedes } from 'aedes';
import type { AddressInfo } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { authenticatedPeer, initCa, issueCertificate, loadTlsMaterial, tlsClientOptions, tlsServerOptions } from '../../../shared/crypto/pki.ts';
import { silentLogger } from '../../../shared/log.ts';
import { tempDir } from './_helpers.ts';

test('topic filters match like MQTT and become safe file names', () => {
  assert.ok(topicMatches('sensors/#', 'sensors/a/b'));
  assert.ok(topicMatches('sensors/+/temp', 'sensors/l1/temp'));
  assert.not.ok(topicMatches('sensors/+/temp', 'sensors/l1/hum'));
  assert.not.ok(topicMatches('sensors/+', 'sensors/a/b'));
  assert.ok(topicMatches('a/b', 'a/b'));
  assert.is(slugOf('sensors/#'), 'sensors_all');
  assert.is(slugOf('../../etc/passwd'), 'etc_passwd');
  assert.is(slugOf('a/+/b'), 'a_+_b');
});

test('lines are JSON with the payload as text, or base64 when it is not UTF-8', () => {
  assert.equal(JSON.parse(captureLine('t/1', Buffer.from('21.5'), 7)), { ts: 7, topic: 't/1', payload: '21.5' });
  assert.equal(JSON.parse(captureLine('t/1', Buffer.from([0xff, 0xfe]), 7)), { ts: 7, topic: 't/1', payload_b64: '//4=' });
  assert.not.ok(captureLine('t', Buffer.from('a\nb'), 1).includes('\n'), 'one line per message');
});

test('rotation by size and by age (pure rule)', () => {
  const p = { rotateBytes: 100, rotateS: 60 };
  assert.not.ok(shouldRotate({ sizeBytes: 50, openedMs: 0 }, 40, 1000, p));
  assert.ok(shouldRotate({ sizeBytes: 50, openedMs: 0 }, 60, 1000, p));
  assert.not.ok(shouldRotate({ sizeBytes: 0, openedMs: 0 }, 500, 1000, p), 'an oversized line still goes into an empty file');
  assert.ok(shouldRotate({ sizeBytes: 1, openedMs: 0 }, 1, 60_000, p));
  assert.is(logFileName('x', Date.parse('2026-03-04T05:06:07.890Z'), 3), 'x-20260304T050607Z-0003.log');
});

test('a rolling log writes, rotates and never loses a line', async () => {
  const t = tempDir();
  try {
    let now = Date.parse('2026-03-04T05:06:07Z');
    const log = new RotatingLog(join(t.path, 'cap'), 'cap', { rotateBytes: 64, rotateS: 10 }, () => now);
    for (let i = 0; i < 10; i++) await log.append(`line ${i} ........`); // 16 bytes each: 4 per 64-byte file
    now += 11_000;
    await log.append('after a while');
    await log.close();
    const files = readdirSync(join(t.path, 'cap')).sort();
    assert.is(files.length, 4, '4 + 4 + 2 lines by size, then a new file by age');
    const all = files.map((f) => readFileSync(join(t.path, 'cap', f), 'utf8')).join('');
    assert.equal(all.trim().split('\n'), [...Array.from({ length: 10 }, (_, i) => `line ${i} ........`), 'after a while']);
    assert.is(log.filesRotated, 4);
    assert.equal(files.map((f) => readFileSync(join(t.path, 'cap', f), 'utf8').split('\n').length - 1), [4, 4, 2, 1]);
  } finally {
    t.cleanup();
  }
});

const wait = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(ok(), what);
};

test('a captured message is acknowledged only once written: one the agent had not written comes again', async () => {
  const broker = await startAedes();
  const t = tempDir();
  const options = { broker: broker.url, topics: ['plant/+/temp'], dir: t.path, clientId: 'gw.example:capture', rotateBytes: 1 << 20, rotateS: 3600, logger: silentLogger };
  const sensor = mqtt.connect(broker.url);
  const stuck = new SensorCapture(options);
  const next = new SensorCapture(options);
  try {
    // The first agent takes the message but its write never finishes, and then it dies (its link is cut).
    let taken = 0;
    for (const log of stuck.logs.values()) log.append = () => (taken++, new Promise<void>(() => {}));
    stuck.start();
    await wait('the first agent subscribed', () => (stuck as unknown as { client?: mqtt.MqttClient }).client?.connected === true);
    await new Promise((r) => setTimeout(r, 100));
    await sensor.publishAsync('plant/line1/temp', '21.5', { qos: 1 });
    await wait('the first agent took the message', () => taken === 1);
    (stuck as unknown as { client: mqtt.MqttClient }).client.end(true);
    // The next agent on the same session gets it again, and writes it.
    next.start();
    const lines = () => readdirSync(join(t.path, 'plant_+_temp')).flatMap((f) => readFileSync(join(t.path, 'plant_+_temp', f), 'utf8').split('\n').filter(Boolean));
    await wait('the message delivered again and written', () => next.messages === 1);
    assert.equal(lines().map((l) => JSON.parse(l).payload), ['21.5']);
  } finally {
    (stuck as unknown as { client?: mqtt.MqttClient }).client?.end(true);
    await next.stop();
    sensor.end(true);
    await broker.stop();
    t.cleanup();
  }
});

test('a broker that refuses the first CONNECT is tried again: capture does not give up on it', async () => {
  let refused = 0;
  const broker = await startAedes(0, {
    authenticate(client, _user, _password, done) {
      if (client.id.endsWith(':capture') && refused < 2) {
        refused++;
        done(Object.assign(new Error('not yet'), { returnCode: 5 as const }), false); // not authorized
      } else done(null, true);
    },
  });
  const t = tempDir();
  const capture = new SensorCapture({ broker: broker.url, topics: ['plant/+/temp'], dir: t.path, clientId: 'gw.example:capture', rotateBytes: 1 << 20, rotateS: 3600, logger: silentLogger, reconnectMs: 50 });
  const sensor = mqtt.connect(broker.url);
  try {
    capture.start();
    await wait('capture connected after two refusals', () => (capture as unknown as { client?: mqtt.MqttClient }).client?.connected === true);
    assert.is(refused, 2);
    await new Promise((r) => setTimeout(r, 100));
    await sensor.publishAsync('plant/line1/temp', '21.5', { qos: 1 });
    await wait('the message written', () => capture.messages === 1);
  } finally {
    await capture.stop();
    sensor.end(true);
    await broker.stop();
    t.cleanup();
  }
});

test('over mqtts with client certificates, capture shows the broker the certificate it is given', async () => {
  const t = tempDir();
  const pki = join(t.path, 'pki');
  await initCa(pki, { name: 'capture-test-ca' });
  await issueCertificate(pki, { name: 'broker.test', role: 'replica', ipAddresses: ['127.0.0.1'] });
  await issueCertificate(pki, { name: 'gw.example', role: 'agent' });
  const aedes = await Aedes.createBroker();
  const peers: string[] = [];
  const server = createTlsServer(tlsServerOptions(loadTlsMaterial(pki, 'broker.test')), (socket) => {
    peers.push(authenticatedPeer(socket)?.identity ?? 'none');
    aedes.handle(socket);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `mqtts://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const material = loadTlsMaterial(pki, 'gw.example');
  const capture = new SensorCapture({
    broker: url, topics: ['plant/+/temp'], dir: join(t.path, 'cap'), clientId: 'gw.example:capture', rotateBytes: 1 << 20, rotateS: 3600, logger: silentLogger,
    connection: tlsClientOptions(material) as mqtt.IClientOptions,
  });
  const sensor = await mqtt.connectAsync(url, { ...(tlsClientOptions(material) as mqtt.IClientOptions), clientId: 'gw.example:sensor' });
  try {
    capture.start();
    await wait('capture connected over mqtts', () => (capture as unknown as { client?: mqtt.MqttClient }).client?.connected === true);
    await new Promise((r) => setTimeout(r, 100));
    await sensor.publishAsync('plant/line1/temp', '21.5', { qos: 1 });
    await wait('the message written', () => capture.messages === 1);
    assert.ok(peers.includes('gw.example'), `the broker saw the gateway's certificate: ${peers.join(', ')}`);
  } finally {
    await capture.stop();
    sensor.end(true);
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
    t.cleanup();
  }
});

test('a write that fails fails alone: the log goes on with the next line, and sync makes lines durable', async () => {
  const t = tempDir();
  try {
    const log = new RotatingLog(t.path, 'x', { rotateBytes: 1 << 20, rotateS: 3600 });
    const internals = log as unknown as { write: (b: Buffer) => Promise<void> };
    const write = internals.write.bind(log);
    let failNext = true;
    internals.write = (b) => (failNext ? ((failNext = false), Promise.reject(new Error('ENOSPC'))) : write(b));
    await log.append('lost').then(() => assert.unreachable('the failed write resolved'), (e: Error) => assert.is(e.message, 'ENOSPC'));
    await log.append('kept');
    await log.sync();
    await log.close();
    const files = readdirSync(t.path);
    assert.equal(files.map((f) => readFileSync(join(t.path, f), 'utf8')).join(''), 'kept\n');
  } finally {
    t.cleanup();
  }
});

test.run();
