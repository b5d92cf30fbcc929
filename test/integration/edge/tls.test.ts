// The edge cluster over mqtts (DESIGN §4, §8) with real processes: a CA and one agent certificate per
// gateway from the real `2baksa pki`, `agent init --tls-dir`, and gateway 1 embedding the site broker
// (`agent run --broker-listen`), which then speaks TLS 1.3 with mutual certificates only. The three back
// up at the same time and restore byte-identical; against the running broker, clients without a
// certificate, with a certificate of another CA or of no member, or with a member's certificate trying
// another node's topics, other sites or $SYS are refused, and a forged message never reaches a legitimate
// subscriber; a CONNECT (and, once authenticated, a PUBLISH) announcing 200 MB is cut at its header while
// its body trickles in. The certificate of no member is taken once a validator admits that gateway, which
// then joins as a storage member. Afterwards every daemon still runs, and one more backup commits and restores.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import * as mqttPacket from 'mqtt-packet';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { join, relative } from 'node:path';
import { appendLogs, generateGatewayData } from '../../../cli/demo-data.ts';
import { loadTlsMaterial, tlsClientOptions, type TlsMaterial } from '../../../shared/crypto/pki.ts';
import { openTelemetry } from '../../../shared/protocol/telemetry.ts';
import { cli, jsonLines } from '../../helpers/cli.ts';
import { sleep, until } from '../../helpers/wait.ts';
import { attempt, grantOf, remainingLength } from '../broker/helpers.ts';
import {
  NAMES, backup, clusterStatus, ok, restoresIdentical, setUp, snapshotOf, startDaemon, tearDown, waitJoined, writeProfile, type Ctx, type Gateway,
} from './harness.ts';

const R = '2baksa/v1/plant';
const [GW1, GW2, GW3] = NAMES as [string, string, string];
/** The size an oversized packet announces: far above both caps (64 KiB before authentication, 8 MiB after). */
const ANNOUNCED = 200 * 1024 * 1024;
/** How much of that body the test sends at most before giving up on the broker cutting it. */
const TRICKLE_MAX = 8 * 1024 * 1024;

interface TlsCtx extends Ctx {
  /** Certificates by name: the members', `gw-9.site` (our CA, no member) and `rogue` (gw-2.site from another CA). */
  certs: Map<string, TlsMaterial>;
}

const tlsSuite = suite<TlsCtx>('edge cluster over mqtts on the embedded site broker');
/** uvu hides failures whose error carries `details`: say the message and the stack. */
const test = Object.assign(
  (name: string, fn: (ctx: TlsCtx) => Promise<void>) =>
    tlsSuite(name, (ctx) =>
      fn(ctx).catch((e: Error) => {
        process.stderr.write(`\n${name}: ${e.stack ?? e.message}\n`);
        throw new Error(e.message);
      }),
    ),
  { before: tlsSuite.before, after: tlsSuite.after, run: tlsSuite.run },
);

test.before(async (ctx) => {
  // Heartbeats every 5 s: the test sees them arrive over mqtts.
  Object.assign(ctx, await setUp(false, { tls: true, dataBytes: 384 * 1024, heartbeatIntervalS: 5 }));
  const pki = ctx.pki!;
  const rogue = join(ctx.root, 'rogue-pki');
  await Promise.all([
    cli(['pki', 'issue', '--dir', pki, '--name', 'gw-9.site', '--role', 'agent', '--json']).then((r) => ok(r, 'pki issue gw-9.site')),
    (async () => {
      ok(await cli(['pki', 'init', '--dir', rogue, '--name', 'rogue-ca', '--json']), 'pki init (another CA)');
      ok(await cli(['pki', 'issue', '--dir', rogue, '--name', GW2, '--role', 'agent', '--json']), 'pki issue gw-2.site (another CA)');
    })(),
  ]);
  ctx.certs = new Map([...NAMES, 'gw-9.site'].map((n) => [n, loadTlsMaterial(pki, n)]));
  ctx.certs.set('rogue', loadTlsMaterial(rogue, GW2));
});
test.after(async (ctx) => tearDown(ctx));

// ---- helpers --------------------------------------------------------------------------------------------

const broker = (ctx: TlsCtx): Gateway => ctx.gateways[0]!;

/** The JSON log lines of gateway 1's daemon (the broker's) with this message. */
function brokerLogs(ctx: TlsCtx, msg: string): Array<Record<string, unknown>> {
  return jsonLines(broker(ctx).daemon!.err()).filter((l) => l.msg === msg);
}

function clientOptions(ctx: TlsCtx, cert: string | undefined, clientId: string): mqtt.IClientOptions {
  const tls: ConnectionOptions = cert ? tlsClientOptions(ctx.certs.get(cert)!) : { ca: ctx.certs.get(GW1)!.ca, minVersion: 'TLSv1.3' };
  return { ...(tls as mqtt.IClientOptions), clientId, reconnectPeriod: 0, connectTimeout: 10_000 };
}

async function connectAs(ctx: TlsCtx, cert: string, clientId: string): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(ctx.brokerUrl, clientOptions(ctx, cert, clientId));
}

/** Publishes to a topic the client may not use and waits for the broker to close the connection. */
async function refusedPublish(client: mqtt.MqttClient, topic: string, payload: string, retain = false): Promise<void> {
  const closed = new Promise<void>((r) => client.once('close', () => r()));
  client.on('error', () => {});
  client.publish(topic, Buffer.from(payload), { qos: 1, retain });
  await closed;
  client.end(true);
}

type RawTls = TLSSocket & { gone: Promise<void>; received: () => Buffer };

/** A raw TLS connection to the broker; resolves once the client side of the handshake is done (or it failed). */
async function rawTls(ctx: TlsCtx, cert: string | undefined): Promise<RawTls> {
  const options: ConnectionOptions = cert ? tlsClientOptions(ctx.certs.get(cert)!) : { ca: ctx.certs.get(GW1)!.ca, minVersion: 'TLSv1.3' };
  const socket = tlsConnect({ host: '127.0.0.1', port: ctx.brokerPort, ...options });
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await Promise.race([once(socket, 'secureConnect'), gone]);
  return Object.assign(socket, { gone, received: () => Buffer.concat(chunks) });
}

/**
 * Sends a fixed header announcing ANNOUNCED bytes of `type`, then trickles the body in 16 KiB pieces
 * until the broker closes the connection or TRICKLE_MAX went out. Returns whether it closed and the body
 * bytes sent.
 */
async function announceAndTrickle(socket: RawTls, firstByte: number): Promise<{ closed: boolean; sent: number }> {
  let closed = socket.destroyed;
  void socket.gone.then(() => (closed = true));
  let sent = 0;
  if (!closed) socket.write(Buffer.from([firstByte, ...remainingLength(ANNOUNCED)]));
  const piece = Buffer.alloc(16 * 1024, 0x61);
  while (!closed && sent < TRICKLE_MAX) {
    socket.write(piece);
    sent += piece.length;
    await sleep(10);
  }
  await Promise.race([socket.gone, sleep(5_000)]);
  socket.destroy();
  return { closed, sent };
}

function tree(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** `restore --target T` keeps absolute paths below T: T/SOURCE must hold exactly SOURCE's files, byte for byte. */
function assertSameTree(source: string, target: string): void {
  const want = tree(source);
  const got = tree(join(target, source));
  assert.ok(want.size > 0);
  assert.equal([...got.keys()].sort(), [...want.keys()].sort(), `the restore under ${target} holds the files of ${source}`);
  for (const [path, bytes] of want) assert.ok(bytes.equals(got.get(path)!), `${path} restored byte-identical`);
}

function alive(g: Gateway): boolean {
  return g.daemon !== undefined && g.daemon.child.exitCode === null && g.daemon.child.signalCode === null;
}

// ---- the tests ------------------------------------------------------------------------------------------

test('three gateways with certificates from 2baksa pki join over mqtts, back up at the same time, and restore byte-identical', async (ctx) => {
  assert.is(ctx.brokerUrl, `mqtts://127.0.0.1:${ctx.brokerPort}`);
  const shows = await Promise.all(ctx.gateways.map((g) => cli(['pki', 'show', '--dir', g.tlsDir!, '--name', g.name, '--json'])));
  for (const [i, g] of ctx.gateways.entries()) {
    const shown = ok(shows[i]!, `pki show ${g.name}`);
    const info = JSON.parse(shown.stdout) as { role: string; subject: string; issuer: string };
    assert.is(info.role, 'agent');
    assert.is(info.subject, `CN=${g.name}, OU=agent`);
    assert.match(info.issuer, /edge-test-ca/);
    assert.equal(readdirSync(g.tlsDir!).sort(), ['ca.crt', `${g.name}.crt`, `${g.name}.key`].sort(), 'a gateway holds no CA key');
  }
  for (const g of ctx.gateways) startDaemon(ctx, g);
  for (const g of ctx.gateways) await waitJoined(g, 3, ctx.gateways);
  const listening = brokerLogs(ctx, 'site broker listening');
  assert.ok(listening.some((l) => l.tls === true && l.port === ctx.brokerPort), `gw-1 embeds the broker with TLS:\n${JSON.stringify(listening)}`);
  assert.ok(listening.some((l) => l.url === ctx.brokerUrl), `the broker says ${ctx.brokerUrl}`);
  // Telemetry shows the broker the gateway's certificate too (it once connected without one, and never got in).
  for (const g of ctx.gateways) {
    await until(`${g.name}'s telemetry connects over mqtts`, () => jsonLines(g.daemon!.err()).some((l) => l.msg === 'telemetry connected'), 15_000);
    // A daemon may try before gw-1's broker listens (refused), never at TLS.
    const tlsErrors = jsonLines(g.daemon!.err()).filter((l) => l.msg === 'telemetry connection error' && /certificate|handshake|alert|authoriz/i.test(String(l.err)));
    assert.equal(tlsErrors, [], `${g.name}'s telemetry was never refused at TLS`);
  }

  const runs = await Promise.all(ctx.gateways.map(backup));
  runs.forEach((r, i) => ok(r, `backup on ${NAMES[i]}`));
  const status = (await clusterStatus(ctx.gateways[1]!))!;
  assert.ok(status.joined);
  assert.equal(status.members.map((m) => m.id).sort(), [...NAMES].sort());
  assert.equal(status.members.map((m) => m.status), ['online', 'online', 'online'], JSON.stringify(status));
  await Promise.all(ctx.gateways.map((g, i) => restoresIdentical(g, snapshotOf(runs[i]!), join(ctx.root, `r-${i}`))));
  ctx.gateways.forEach((g, i) => assertSameTree(g.source, join(ctx.root, `r-${i}`)));
});

test('a client without a certificate, with one from another CA, or plain mqtt, is refused at TLS', async (ctx) => {
  const before = brokerLogs(ctx, 'TLS handshake refused').length;
  assert.is.not(await attempt(ctx.brokerUrl, clientOptions(ctx, undefined, `${GW2}:nocert`)), 'connected', 'no client certificate');
  assert.is.not(await attempt(ctx.brokerUrl, clientOptions(ctx, 'rogue', `${GW2}:rogue`)), 'connected', 'a certificate from another CA');
  assert.is.not(await attempt(`mqtt://127.0.0.1:${ctx.brokerPort}`, { clientId: `${GW2}:plain`, reconnectPeriod: 0, connectTimeout: 10_000 }), 'connected', 'plain mqtt');
  await until('gw-1 logs three TLS refusals', () => brokerLogs(ctx, 'TLS handshake refused').length >= before + 3, 20_000, () => broker(ctx).daemon!.err().slice(-3000));
  // A raw TLS client without a certificate never gets an MQTT byte back, even after a valid CONNECT.
  const raw = await rawTls(ctx, undefined);
  raw.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${GW2}:raw`, keepalive: 30 }));
  await raw.gone;
  assert.is(raw.received().length, 0, 'no CONNACK without a certificate');
});

test("a valid certificate cannot take another node's session, and a CA certificate of no member is refused", async (ctx) => {
  assert.is(await attempt(ctx.brokerUrl, clientOptions(ctx, GW2, GW1)), 2, "gw-2's certificate with gw-1's client id: identifier rejected");
  assert.is(await attempt(ctx.brokerUrl, clientOptions(ctx, 'gw-9.site', 'gw-9.site')), 5, 'an agent certificate of no member: not authorized');
  // (the daemon's log arrives on another pipe than the CONNACK: wait for it)
  const refusedFor = (identity: string, reason: string) => () =>
    brokerLogs(ctx, 'MQTT client refused').some((l) => l.identity === identity && String(l.reason).includes(reason));
  await until('gw-1 logs why it refused gw-2', refusedFor(GW2, `client id "${GW1}" must be "${GW2}"`), 10_000, () => broker(ctx).daemon!.err().slice(-3000));
  await until('gw-1 logs why it refused gw-9', refusedFor('gw-9.site', 'is not a node of site plant'), 10_000, () => broker(ctx).daemon!.err().slice(-3000));
  // gw-1's own session was not taken over: it is still online for its peers.
  const status = (await clusterStatus(ctx.gateways[2]!))!;
  assert.is(status.members.find((m) => m.id === GW1)?.status, 'online');
});

test('a member certificate stays within its own topics: other inboxes, other sites and $SYS are refused, and a forged message never arrives', async (ctx) => {
  const probe = await connectAs(ctx, GW2, `${GW2}:probe`);
  const grants: number[] = [];
  for (const topic of ['$SYS/#', '$SYS/broker/clients/total', '#', `${R}/#`, `${R}/node/${GW1}/in`, `2baksa/v1/other-site/node/${GW2}/in`, `${R}/telemetry/${GW1}/heartbeat`, `${R}/node/+/state`]) {
    grants.push(await grantOf(probe, topic));
  }
  assert.equal(grants, [128, 128, 128, 128, 128, 128, 128, 1], 'refused subscriptions get SUBACK 0x80; the site state filter is granted');
  assert.ok(probe.connected, 'a refused subscription leaves the connection open');
  await probe.endAsync();
  await until('gw-1 logs the refused $SYS subscription', () => brokerLogs(ctx, 'MQTT subscription refused').some((l) => l.client === GW2 && l.topic === '$SYS/#'), 10_000);

  // A legitimate subscriber (gw-3's certificate) watches every node state and its own telemetry.
  const watcher = await connectAs(ctx, GW3, `${GW3}:watch`);
  const seen: Array<{ topic: string; payload: string }> = [];
  watcher.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString('latin1') }));
  assert.is(await grantOf(watcher, `${R}/node/+/state`), 1);
  assert.is(await grantOf(watcher, `${R}/telemetry/${GW3}/heartbeat`), 1);

  const deniedBefore = brokerLogs(ctx, 'MQTT publish refused; closing the connection').length;
  const forbidden: Array<[string, boolean]> = [
    [`${R}/node/${GW1}/state`, true],
    [`${R}/node/${GW1}/state`, false],
    [`${R}/telemetry/${GW1}/heartbeat`, false],
    [`2baksa/v1/other-site/node/${GW1}/in`, false],
    [`2baksa/v1/other-site/ledger`, false],
  ];
  for (const [i, [topic, retain]] of forbidden.entries()) {
    await refusedPublish(await connectAs(ctx, GW2, `${GW2}:forger-${i}`), topic, `forged-${i}`, retain);
  }
  // $SYS: refused too (aedes or our ACL), and the connection closed.
  await refusedPublish(await connectAs(ctx, GW2, `${GW2}:forger-sys`), '$SYS/broker/forged', 'forged-sys');
  await until(
    'gw-1 logs the refused publishes',
    () => brokerLogs(ctx, 'MQTT publish refused; closing the connection').length >= deniedBefore + forbidden.length,
    10_000,
    () => broker(ctx).daemon!.err().slice(-3000),
  );

  // gw-3's daemon heartbeats over mqtts with its own certificate, signed by its node key.
  const gw3 = ctx.gateways.find((g) => g.name === GW3)!;
  const gw3Key = Buffer.from((JSON.parse(readFileSync(join(gw3.state, 'agent.json'), 'utf8')) as { nodePublicKey: string }).nodePublicKey, 'hex');
  const heartbeatOf = (m: { topic: string; payload: string }) => {
    if (m.topic !== `${R}/telemetry/${GW3}/heartbeat` || m.payload === 'marker') return undefined;
    const opened = openTelemetry(Buffer.from(m.payload, 'latin1'), { keyOf: (from) => (from === GW3 ? gw3Key : undefined) });
    return opened.type === 'Heartbeat' ? opened.body : undefined;
  };
  await until("gw-3's daemon heartbeat arrives", () => seen.some((m) => heartbeatOf(m) !== undefined), 15_000);
  assert.is(seen.map(heartbeatOf).find((b) => b !== undefined)!.account, GW3);

  // A marker published after the forgeries arrives; none of the forgeries did.
  await watcher.publishAsync(`${R}/telemetry/${GW3}/heartbeat`, Buffer.from('marker'), { qos: 1 });
  await until('the marker reaches the watcher', () => seen.some((m) => m.payload === 'marker'), 10_000);
  assert.equal(seen.filter((m) => m.payload.startsWith('forged')), [], 'no forged message is delivered');
  // gw-1's retained state is still its own, not the forgery.
  const fresh = await connectAs(ctx, GW3, `${GW3}:retained`);
  const retained: string[] = [];
  fresh.on('message', (_t, payload) => retained.push(payload.toString('latin1')));
  assert.is(await grantOf(fresh, `${R}/node/${GW1}/state`), 1);
  await until("gw-1's retained state arrives", () => retained.length >= 1, 10_000);
  assert.not.ok(retained.some((p) => p.startsWith('forged')), 'the retained state is not forged');
  await Promise.all([watcher.endAsync(), fresh.endAsync()]);
  for (const g of ctx.gateways) assert.is((await clusterStatus(g))?.members.filter((m) => m.status === 'online').length, 3, `${g.name} still sees every member online`);
});

test('a CONNECT announcing 200 MB is cut at its header while the body trickles in, with a certificate or without', async (ctx) => {
  const cutBefore = brokerLogs(ctx, 'MQTT connection cut by the packet guard').length;
  // With gw-2's valid certificate: TLS passes, the guard cuts the unauthenticated CONNECT at its header.
  const withCert = await rawTls(ctx, GW2);
  assert.not.ok(withCert.destroyed, 'the TLS handshake with a valid certificate succeeds');
  const a = await announceAndTrickle(withCert, 0x10);
  assert.ok(a.closed, `the broker closed the connection (sent ${a.sent} of ${ANNOUNCED} announced bytes)`);
  assert.ok(a.sent < TRICKLE_MAX, 'it closed before the test stopped trickling');
  assert.is(withCert.received().length, 0, 'no CONNACK');
  await until('gw-1 logs the cut', () => brokerLogs(ctx, 'MQTT connection cut by the packet guard').length > cutBefore, 10_000, () => broker(ctx).daemon!.err().slice(-3000));
  const cut = brokerLogs(ctx, 'MQTT connection cut by the packet guard').slice(cutBefore);
  assert.equal(cut.map((l) => [l.reason, l.declaredBytes, l.limitBytes]), [['too-large', ANNOUNCED, 64 * 1024]], 'cut at the header, at the CONNECT cap');

  // Without a certificate: the TLS layer refuses the client; the guard never sees a byte.
  const tlsBefore = brokerLogs(ctx, 'TLS handshake refused').length;
  const noCert = await rawTls(ctx, undefined);
  const b = await announceAndTrickle(noCert, 0x10);
  assert.ok(b.closed, `the broker closed the connection without a certificate (sent ${b.sent})`);
  assert.ok(b.sent < TRICKLE_MAX, 'it closed before the test stopped trickling');
  assert.is(noCert.received().length, 0);
  await until('gw-1 logs the TLS refusal', () => brokerLogs(ctx, 'TLS handshake refused').length > tlsBefore, 10_000);
  assert.is(brokerLogs(ctx, 'MQTT connection cut by the packet guard').length, cutBefore + 1, 'nothing reached the guard');

  // Authenticated, a PUBLISH announcing 200 MB is cut at the packet cap (8 MiB) the same way.
  const authed = await rawTls(ctx, GW2);
  authed.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${GW2}:big`, keepalive: 30 }));
  await until('the CONNACK', () => authed.received().length >= 4 || authed.destroyed, 10_000);
  assert.equal([...authed.received().subarray(0, 4)], [0x20, 0x02, 0x00, 0x00], 'CONNACK accepted');
  const c = await announceAndTrickle(authed, 0x30);
  assert.ok(c.closed, `the broker closed the authenticated connection (sent ${c.sent})`);
  assert.ok(c.sent < TRICKLE_MAX);
  await until('gw-1 logs the second cut', () => brokerLogs(ctx, 'MQTT connection cut by the packet guard').length > cutBefore + 1, 10_000);
  const second = brokerLogs(ctx, 'MQTT connection cut by the packet guard').at(-1)!;
  assert.equal([second.reason, second.declaredBytes, second.limitBytes, second.packetType], ['too-large', ANNOUNCED, 8 * 1024 * 1024, 3]);
});

test('gw-9, refused while no member, connects once a validator admits it and joins over mqtts as a storage member', async (ctx) => {
  const name = 'gw-9.site';
  const g9: Gateway = { name, state: join(ctx.root, name, 'state'), source: join(ctx.root, name, 'logs'), tlsDir: join(ctx.root, name, 'tls') };
  mkdirSync(g9.source, { recursive: true });
  mkdirSync(g9.tlsDir!, { recursive: true, mode: 0o700 });
  for (const file of ['ca.crt', `${name}.crt`, `${name}.key`]) copyFileSync(join(ctx.pki!, file), join(g9.tlsDir!, file));
  await generateGatewayData(g9.source, 256 * 1024, 9);
  const init = ok(
    await cli([
      'agent', 'init', '--state', g9.state, '--name', name, '--site', 'plant', '--members', NAMES.join(','), '--join', '--broker', ctx.brokerUrl,
      '--profile', writeProfile(join(ctx.root, 'profile-9.json')), '--source', g9.source, '--tls-dir', g9.tlsDir!, '--json',
    ]),
    'init --join gw-9',
  );
  const key = (JSON.parse(init.stdout) as { node_public_key: string }).node_public_key;
  // Started before its admission: the broker refuses it, and it keeps trying, saying what to run.
  ctx.gateways.push(g9);
  startDaemon(ctx, g9);
  const waiting = () => jsonLines(g9.daemon!.err()).find((l) => String(l.msg).startsWith('the site broker does not take this gateway yet'));
  await until('gw-9 says it waits to be admitted', () => waiting() !== undefined, 30_000, () => g9.daemon!.output().slice(-3000));
  assert.match(String(waiting()!.command), `cluster admit ${name} --key ${key}`);
  assert.ok(alive(g9));
  ok(await cli(['cluster', 'admit', name, '--key', key, '--state', broker(ctx).state, '--json']), 'cluster admit gw-9');
  assert.is(await attempt(ctx.brokerUrl, clientOptions(ctx, name, `${name}:probe`)), 'connected', 'admitted: the broker takes its certificate now');
  await waitJoined(g9, 4, ctx.gateways);
  // Its telemetry was refused too, and kept trying (mqtt.js alone gives up after a refused CONNECT).
  await until("gw-9's telemetry connects once admitted", () => jsonLines(g9.daemon!.err()).some((l) => l.msg === 'telemetry connected'), 15_000);
  const r = ok(await backup(g9), 'backup on gw-9');
  await restoresIdentical(g9, snapshotOf(r), join(ctx.root, 'r-gw9'));
});

test('after all that every daemon still runs, the cluster is whole, and one more backup commits and restores', async (ctx) => {
  for (const g of ctx.gateways) assert.ok(alive(g), `${g.name} is still running:\n${g.daemon?.output().slice(-2000)}`);
  for (const g of ctx.gateways) await waitJoined(g, ctx.gateways.length, ctx.gateways);
  const [, g2] = ctx.gateways as [Gateway, Gateway, Gateway];
  await appendLogs(g2.source, 256 * 1024, 0.5, 11);
  const r = ok(await backup(g2), 'one more backup on gw-2');
  const target = join(ctx.root, 'after');
  await restoresIdentical(g2, snapshotOf(r), target);
  assertSameTree(g2.source, target);
  for (const g of ctx.gateways) assert.ok(alive(g), `${g.name} is still running`);
  // And they stop cleanly.
  for (const g of [...ctx.gateways].reverse()) {
    g.daemon!.child.kill('SIGTERM');
    const exit = await g.daemon!.exited;
    assert.is(exit.code, 0, `${g.name} stops cleanly (${JSON.stringify(exit)}):\n${g.daemon!.output().slice(-2000)}`);
  }
});

test.run();
