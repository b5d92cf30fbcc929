// Membership over real brokers (DESIGN §4; Sparkplug B 3.0 NBIRTH/NDEATH with bdSeq): the same scenario
// against the test aedes, Mosquitto, and our site broker (plain, and mqtts with its ACL):
// three nodes see each other; a dropped socket fires the will (dead); the node comes back with bdSeq+1;
// a stale will delivered late changes nothing; forged states are dropped; an orderly shutdown is offline;
// a node that joins last sees the retained truth.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import mqtt from 'mqtt';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { initCa, issueCertificate, loadTlsMaterial, tlsClientOptions, type TlsMaterial } from '../../../shared/crypto/pki.ts';
import { topics } from '../../../shared/protocol/topics.ts';
import { MembershipClient, MemoryBdSeqStore, sealNodeState, type MembershipChange } from '../../../shared/membership/index.ts';
import { startSiteBroker } from '../../../agent/broker/index.ts';
import { MOSQUITTO_BIN, startAedes, startMosquitto } from '../../helpers/brokers.ts';
import { until } from './helpers.ts';

const SITE = 'edge-1';
const IDS = ['gw-a', 'gw-b', 'gw-c', 'gw-d'];
const keys = new Map<string, SigningKeyPair>(IDS.map((id) => [id, generateSigningKey()]));

interface Target {
  url: string;
  /** mqtt.js options for a client of node `id`. */
  clientOptions(id: string): mqtt.IClientOptions;
  /** Registered keys, or trust on first use. */
  tofu: boolean;
  stop(): Promise<void>;
}

const pkiRoot = mkdtempSync(join(tmpdir(), '2baksa-membership-'));

const targets: Record<string, () => Promise<Target>> = {
  aedes: async () => {
    const b = await startAedes();
    return { url: b.url, clientOptions: () => ({}), tofu: false, stop: b.stop };
  },
  mosquitto: async () => {
    const b = await startMosquitto();
    return { url: b.url, clientOptions: () => ({}), tofu: true, stop: b.stop };
  },
  'site broker (plain)': async () => {
    const b = await startSiteBroker({ site: SITE, tls: false, plainSecret: 'sixteen-chars-secret', host: '127.0.0.1', port: 0 });
    return { url: b.url, clientOptions: (id) => ({ username: id, password: 'sixteen-chars-secret' }), tofu: true, stop: b.close };
  },
  'site broker (mqtts)': async () => {
    await initCa(pkiRoot);
    const certs = new Map<string, TlsMaterial>();
    for (const id of ['broker', ...IDS]) {
      await issueCertificate(pkiRoot, { name: id, role: 'agent' });
      certs.set(id, loadTlsMaterial(pkiRoot, id));
    }
    const b = await startSiteBroker({ site: SITE, tls: certs.get('broker')!, host: '127.0.0.1', port: 0 });
    return { url: b.url, clientOptions: (id) => tlsClientOptions(certs.get(id)!) as mqtt.IClientOptions, tofu: false, stop: b.close };
  },
};

interface Node {
  m: MembershipClient;
  log: MembershipChange[];
}

async function startNode(target: Target, id: string, bdSeq: MemoryBdSeqStore): Promise<Node> {
  const m = new MembershipClient({
    site: SITE,
    nodeId: id,
    signer: keys.get(id)!,
    bdSeq,
    connect: (o) => mqtt.connect(target.url, o),
    mqtt: { ...target.clientOptions(id), reconnectPeriod: 100 },
    keyOf: target.tofu ? undefined : (n) => keys.get(n)?.publicKey,
    details: () => ({ capacity: { bytesTotal: 1000, bytesFree: 900 }, version: 'test' }),
    tickIntervalMs: 50,
  });
  const log: MembershipChange[] = [];
  m.on('change', (c) => log.push(c));
  await m.start();
  return { m, log };
}

const saw = (n: Node, nodeId: string, status: string, bdSeq?: number) =>
  n.log.some((c) => c.kind === 'status' && c.nodeId === nodeId && c.status === status && (bdSeq === undefined || c.bdSeq === bdSeq));

for (const [name, start] of Object.entries(targets)) {
  const test = suite(`membership over ${name}`);
  if (name === 'mosquitto' && !MOSQUITTO_BIN) {
    test.skip('mosquitto is not installed', () => {});
    test.run();
    continue;
  }

  test('births, a will, a rebirth, a stale will, forgeries, an orderly goodbye, a late joiner', async () => {
    const target = await start();
    const stores = new Map(IDS.map((id, i) => [id, new MemoryBdSeqStore(100 * (i + 1))]));
    const nodes: Record<string, Node> = {};
    const raws: mqtt.MqttClient[] = [];
    try {
      for (const id of ['gw-a', 'gw-b', 'gw-c']) nodes[id] = await startNode(target, id, stores.get(id)!);
      const [a, b, c] = [nodes['gw-a']!, nodes['gw-b']!, nodes['gw-c']!];
      await until(() => [a, b, c].every((n) => ['gw-a', 'gw-b', 'gw-c'].every((id) => n.m.get(id)?.status === 'online')), 'all three online everywhere');
      assert.equal(a.m.get('gw-b')?.capacity, { bytesTotal: 1000, bytesFree: 900 });

      // b's socket dies without DISCONNECT: the broker fires its will; b reconnects with bdSeq + 1
      const bd0 = b.m.bdSeq;
      b.m.client!.stream.destroy();
      await until(() => saw(a, 'gw-b', 'dead', bd0) && saw(c, 'gw-b', 'dead', bd0), 'a and c see b dead');
      await until(() => [a, c].every((n) => n.m.get('gw-b')?.status === 'online' && n.m.get('gw-b')?.bdSeq === bd0 + 1), 'b online again with bdSeq + 1');
      assert.is(b.m.bdSeq, bd0 + 1);

      // a stale will (the old bdSeq) delivered after the new birth does not mark b dead
      const raw = await mqtt.connectAsync(target.url, { ...target.clientOptions('gw-b'), clientId: 'gw-b:raw', reconnectPeriod: 0 });
      raws.push(raw);
      const staleBefore = [a, c].map((n) => n.m.stats().ignoredStale);
      const stale = sealNodeState('gw-b', { online: false, bdSeq: bd0 }, keys.get('gw-b')!.privateKey, Date.now());
      await raw.publishAsync(topics.nodeState(SITE, 'gw-b'), Buffer.from(stale), { qos: 1, retain: true });
      await until(() => [a, c].every((n, i) => n.m.stats().ignoredStale > staleBefore[i]!), 'the stale will ignored');
      assert.ok([a, c].every((n) => n.m.get('gw-b')?.status === 'online'));
      // b notices the stale retained state of its topic and publishes its birth again
      await until(() => b.m.stats().reasserted >= 1, 'b reasserts its birth');

      // forged states: signed by another node, or with a key that is not b's
      const forgedBy = sealNodeState('gw-a', { online: false, bdSeq: bd0 + 1 }, keys.get('gw-a')!.privateKey, Date.now());
      const mallory = sealNodeState('gw-b', { online: false, bdSeq: bd0 + 1 }, generateSigningKey().privateKey, Date.now());
      await raw.publishAsync(topics.nodeState(SITE, 'gw-b'), Buffer.from(forgedBy), { qos: 1 });
      await raw.publishAsync(topics.nodeState(SITE, 'gw-b'), Buffer.from(mallory), { qos: 1 });
      await raw.publishAsync(topics.nodeState(SITE, 'gw-b'), Buffer.from('not an envelope'), { qos: 1 });
      const refusedAll = () => Object.values(a.m.stats().refused).reduce((x, y) => x + y, 0);
      await until(() => a.m.stats().ignoredForeignSigner >= 1 && (a.m.stats().refused['BAD_SIGNATURE'] ?? 0) >= 1 && refusedAll() >= 2, 'the forgeries dropped');
      assert.is(a.m.get('gw-b')?.status, 'online');
      assert.not.ok(a.log.some((ch) => ch.kind === 'status' && ch.nodeId === 'gw-b' && ch.status !== 'online' && ch.bdSeq === bd0 + 1));

      // c leaves in order: offline, not dead
      await c.m.close();
      await until(() => saw(a, 'gw-c', 'offline') && saw(b, 'gw-c', 'offline'), 'a and b see c offline');

      // a node joining now sees only retained states: b's reasserted birth, c's goodbye (no will fired)
      const d = await startNode(target, 'gw-d', stores.get('gw-d')!);
      nodes['gw-d'] = d;
      await until(() => d.m.get('gw-a')?.status === 'online' && d.m.get('gw-b')?.bdSeq === bd0 + 1 && d.m.get('gw-b')?.status === 'online' && d.m.get('gw-c') !== undefined, 'd sees the site');
      assert.is(d.m.get('gw-c')?.status, 'offline');
      assert.not.ok(saw(d, 'gw-c', 'dead'));
      assert.not.ok(saw(a, 'gw-c', 'dead'));
    } finally {
      for (const raw of raws) raw.end(true);
      for (const n of Object.values(nodes)) await n.m.close({ orderly: false });
      await target.stop();
    }
  });
  test.run();
}

const refused = suite('membership refused by the site broker');
refused('a node of another site (its will is outside this site) fails to start with MEMBERSHIP_REFUSED', async () => {
  const broker = await startSiteBroker({ site: SITE, tls: false, allowAnonymous: true, host: '127.0.0.1', port: 0 });
  try {
    const m = new MembershipClient({
      site: 'other-site', nodeId: 'gw-a', signer: keys.get('gw-a')!, bdSeq: new MemoryBdSeqStore(1),
      connect: (o) => mqtt.connect(broker.url, o), mqtt: { reconnectPeriod: 100 },
    });
    try {
      await m.start();
      assert.unreachable('start should fail');
    } catch (error) {
      assert.is((error as { code?: string }).code, 'MEMBERSHIP_REFUSED');
      assert.equal((error as { details?: unknown }).details, { connackCode: 5 });
    }
    assert.ok(broker.stats().authRefused >= 1);
  } finally {
    await broker.close();
  }
});
refused.run();

const cleanup = suite('cleanup');
cleanup('remove the PKI directory', () => {
  rmSync(pkiRoot, { recursive: true, force: true });
  assert.ok(true);
});
cleanup.run();
