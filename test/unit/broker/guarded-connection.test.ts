// The socket guard between clients and aedes (DESIGN §8: cap packet size before authentication; one slow
// subscriber never stalls the others). Real loopback sockets, no broker.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import * as mqttPacket from 'mqtt-packet';
import { GuardedConnection, type GuardRefusal } from '../../../agent/broker/guarded-connection.ts';

const limits = { connectBytesMax: 1024, packetBytesMax: 256 * 1024, outgoingBytesMax: 64 * 1024 };
const connectPacket = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'gw-1', keepalive: 30 });
const publish = (size: number) => mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(size, 1), qos: 0, dup: false, retain: false });

async function pair(): Promise<{ client: Socket; guard: GuardedConnection; refusals: GuardRefusal[]; received: () => Buffer; close: () => Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = once(server, 'connection');
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const [socket] = (await accepted) as [Socket];
  const refusals: GuardRefusal[] = [];
  const guard = new GuardedConnection(socket, limits, (r) => refusals.push(r));
  guard.on('error', () => {});
  const chunks: Buffer[] = [];
  guard.on('data', (c: Buffer) => chunks.push(c));
  return {
    client, guard, refusals,
    received: () => Buffer.concat(chunks),
    close: async () => {
      client.destroy();
      guard.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Gives pending socket events a chance to run (only used before checking that something did NOT happen). */
const settle = () => new Promise((r) => setTimeout(r, 50));

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 3000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('before authentication only the CONNECT passes; what follows is held, then forwarded in order', async () => {
  const p = await pair();
  try {
    const rest = Buffer.concat([publish(100), publish(2000)]); // the second is above connectBytesMax, fine after auth
    p.client.write(Buffer.concat([connectPacket, rest]));
    await until(() => p.received().length >= connectPacket.length, 'the CONNECT');
    await settle();
    assert.equal(p.received(), connectPacket);
    p.guard.authenticated();
    await until(() => p.received().length >= connectPacket.length + rest.length, 'the held packets');
    assert.equal(p.received(), Buffer.concat([connectPacket, rest]));
    assert.equal(p.refusals, []);
  } finally {
    await p.close();
  }
});

test('a CONNECT declaring 100 MB is refused at its header: nothing reaches aedes, the socket closes', async () => {
  const p = await pair();
  try {
    const closed = new Promise((r) => p.client.once('close', r));
    p.client.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x32])); // 100 MiB
    p.client.write(Buffer.alloc(64 * 1024));
    await closed;
    assert.is(p.guard.bytesForwarded, 0);
    assert.equal(p.refusals, [{ reason: 'too-large', packetType: 1, declaredBytes: 100 * 1024 * 1024, limitBytes: 1024 }]);
  } finally {
    await p.close();
  }
});

test('after authentication the cap is packetBytesMax', async () => {
  const p = await pair();
  try {
    p.client.write(connectPacket);
    await until(() => p.received().length === connectPacket.length, 'the CONNECT');
    p.guard.authenticated();
    p.client.write(publish(200 * 1024));
    await until(() => p.guard.bytesForwarded === connectPacket.length + publish(200 * 1024).length, 'the 200 KiB publish');
    assert.equal(p.refusals, []);
    const closed = new Promise((r) => p.client.once('close', r));
    p.client.write(publish(300 * 1024));
    await closed;
    assert.is(p.refusals[0]?.reason, 'too-large');
    assert.is(p.guard.bytesForwarded, connectPacket.length + publish(200 * 1024).length);
  } finally {
    await p.close();
  }
});

test('writes never push back; a reader that does not read is cut once its backlog passes outgoingBytesMax', async () => {
  const p = await pair();
  try {
    p.client.pause();
    const closed = new Promise((r) => p.client.once('close', r));
    let accepted = 0;
    for (let i = 0; i < 400 && !p.guard.destroyed; i++) {
      const ok = p.guard.write(Buffer.alloc(64 * 1024));
      // the guard never asks aedes to wait: only the write that crosses the bound (and is cut) says false
      assert.ok(ok || p.guard.destroyed);
      accepted++;
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(p.guard.destroyed);
    assert.ok(accepted < 400);
    assert.is(p.refusals[0]?.reason, 'slow-consumer');
    p.client.resume();
    await closed;
  } finally {
    await p.close();
  }
});

test.run();
