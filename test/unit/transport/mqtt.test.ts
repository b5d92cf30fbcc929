import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import mqtt from 'mqtt';
import { generateSigningKey, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { topics } from '../../../shared/protocol/index.ts';
import { MqttTransport, envelopeSealer } from '../../../shared/transport/index.ts';
import { startAedes, startMosquitto, type TestBroker } from '../../helpers/brokers.ts';
import { transportContract, until } from './contract.ts';

const SITE = 'site1';
const keys = new Map<string, SigningKeyPair>();
const keyOf = (id: string) => keys.get(id)?.publicKey;
for (const id of ['a', 'b', 'c']) keys.set(id, generateSigningKey());

async function node(broker: TestBroker, self: string, peers: string[]) {
  const client = await mqtt.connectAsync(broker.url, { clientId: `t-${self}-${Math.random().toString(16).slice(2)}`, reconnectPeriod: 100 });
  const transport = new MqttTransport({
    self,
    peers,
    client,
    inTopic: (id) => topics.nodeIn(SITE, id),
    sealer: envelopeSealer({ self, privateKey: keys.get(self)!.privateKey, keyOf }),
  });
  await transport.start();
  return { transport, client };
}

for (const start of [startAedes, startMosquitto]) {
  const kind = start === startAedes ? 'aedes' : 'mosquitto';
  transportContract(`mqtt (${kind})`, async (ids) => {
    const broker = await start();
    const nodes = await Promise.all(ids.map((id) => node(broker, id, ids)));
    return {
      transports: nodes.map((n) => n.transport),
      cleanup: async () => {
        await Promise.all(nodes.map(async (n) => {
          await n.transport.close();
          await n.client.endAsync(true);
        }));
        await broker.stop();
      },
    };
  }).run();

  const test = suite(`mqtt transport (${kind})`);
  test('forged, garbage and replayed payloads on an inbox are dropped; real frames still arrive', async () => {
    const broker = await start();
    const a = await node(broker, 'a', ['a', 'b']);
    const b = await node(broker, 'b', ['a', 'b']);
    const raw = await mqtt.connectAsync(broker.url);
    try {
      const got: string[] = [];
      b.transport.onFrame((from, frame) => got.push(`${from}:${Buffer.from(frame)}`));
      const mallory = generateSigningKey();
      const forged = envelopeSealer({ self: 'a', privateKey: mallory.privateKey, keyOf }).seal('b', new Uint8Array([1]));
      const inbox = topics.nodeIn(SITE, 'b');
      await raw.publishAsync(inbox, Buffer.from(forged));
      await raw.publishAsync(inbox, Buffer.from('garbage'));
      await raw.publishAsync(inbox, Buffer.alloc(5 * 1024 * 1024, 7));
      const good = envelopeSealer({ self: 'a', privateKey: keys.get('a')!.privateKey, keyOf }).seal('b', new Uint8Array(Buffer.from('once')));
      await raw.publishAsync(inbox, Buffer.from(good));
      await raw.publishAsync(inbox, Buffer.from(good));
      a.transport.send('b', new Uint8Array(Buffer.from('real')));
      await until(() => got.includes('a:real'), 'the real frame');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(got.sort(), ['a:once', 'a:real']);
      assert.ok(b.transport.stats().framesDropped >= 4);
    } finally {
      await raw.endAsync(true);
      for (const n of [a, b]) {
        await n.transport.close();
        await n.client.endAsync(true);
      }
      await broker.stop();
    }
  });
  test.run();
}
