import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import * as assert from 'uvu/assert';
import { suite } from 'uvu';
import { identityOf, initCa, issueCertificate, loadTlsMaterial, readCrl, revokeCertificate, roleOf } from '../../../shared/crypto/pki.ts';
import { TlsTransport, encodeFrameHeader } from '../../../shared/transport/index.ts';
import { transportContract, until } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'baksa-tls-transport-'));
const otherDir = mkdtempSync(join(tmpdir(), 'baksa-tls-other-'));
const names = ['a', 'b', 'c', 'mallory'];
await initCa(dir, { name: 'test-cluster' });
for (const name of names.slice(0, 3)) await issueCertificate(dir, { name, role: 'replica' });
await issueCertificate(dir, { name: 'client-1', role: 'operator' });
await initCa(otherDir, { name: 'other-cluster' });
await issueCertificate(otherDir, { name: 'a', role: 'replica' });

async function mesh(ids: string[], certDir = dir): Promise<TlsTransport[]> {
  const transports = ids.map((id) => new TlsTransport({ self: id, peers: [], tls: loadTlsMaterial(certDir, id) }));
  await Promise.all(transports.map((t) => t.start()));
  const peers = transports.map((t) => ({ id: t.self, host: '127.0.0.1', port: t.port }));
  // Peers are known only after every listener has a port; rebuild with the full list.
  await Promise.all(transports.map((t) => t.close()));
  const wired = ids.map(
    (id, i) => new TlsTransport({ self: id, peers, listenPort: peers[i]!.port, tls: loadTlsMaterial(certDir, id), frameBytesMax: 64 * 1024 * 1024 }),
  );
  await Promise.all(wired.map((t) => t.start()));
  return wired;
}

transportContract('tls', async (ids) => {
  const transports = await mesh(ids);
  return { transports, cleanup: async () => void (await Promise.all(transports.map((t) => t.close()))) };
}).run();

const test = suite('tls transport');

test('a node with a certificate from another CA cannot deliver frames', async () => {
  const [a, b] = await mesh(['a', 'b']);
  const intruder = new TlsTransport({
    self: 'a',
    peers: [{ id: 'b', host: '127.0.0.1', port: b!.port }],
    tls: loadTlsMaterial(otherDir, 'a'),
  });
  await intruder.start();
  try {
    const got: string[] = [];
    b!.onFrame((from, frame) => got.push(`${from}:${Buffer.from(frame)}`));
    intruder.send('b', new Uint8Array(Buffer.from('forged')));
    a!.send('b', new Uint8Array(Buffer.from('real')));
    await until(() => got.length >= 1, 'the real frame');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got, ['a:real']);
  } finally {
    await Promise.all([a!.close(), b!.close(), intruder.close()]);
  }
});

test('an oversize frame header closes the link without buffering, and the node keeps serving', async () => {
  const [a, b] = await mesh(['a', 'b']);
  try {
    const material = loadTlsMaterial(dir, 'a');
    const socket = connect({ host: '127.0.0.1', port: b!.port, ...material, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    socket.write(encodeFrameHeader(0xffffffff));
    await closed;
    const got: string[] = [];
    b!.onFrame((_from, frame) => got.push(Buffer.from(frame).toString()));
    a!.send('b', new Uint8Array(Buffer.from('still here')));
    await until(() => got.length === 1, 'a frame after the bad link');
    assert.equal(got, ['still here']);
  } finally {
    await Promise.all([a!.close(), b!.close()]);
  }
});

test('frames queued while a peer is down arrive when it comes back', async () => {
  const [a, b] = await mesh(['a', 'b']);
  const port = b!.port;
  await b!.close();
  for (let i = 0; i < 10; i++) a!.send('b', new Uint8Array(Buffer.from(`q${i}`)));
  const again = new TlsTransport({
    self: 'b',
    peers: [{ id: 'a', host: '127.0.0.1', port: a!.port }],
    listenPort: port,
    tls: loadTlsMaterial(dir, 'b'),
  });
  const got: string[] = [];
  again.onFrame((_from, frame) => got.push(Buffer.from(frame).toString()));
  await again.start();
  try {
    await until(() => got.length === 10, 'the queued frames', 15_000);
    assert.equal(got, Array.from({ length: 10 }, (_, i) => `q${i}`));
  } finally {
    await Promise.all([a!.close(), again.close()]);
  }
});

test('a client dials a replica, sends a request and gets the reply on its own link', async () => {
  const server = new TlsTransport({
    self: 'a',
    peers: [],
    tls: loadTlsMaterial(dir, 'a'),
    acceptClient: (cert) => (roleOf(cert) === 'operator' ? identityOf(cert) : undefined),
  });
  await server.start();
  server.onFrame((from, frame) => server.send(from, new Uint8Array(Buffer.from(`reply to ${from}: ${Buffer.from(frame)}`))));
  const client = new TlsTransport({
    self: 'client-1',
    listen: false,
    peers: [{ id: 'a', host: '127.0.0.1', port: server.port }],
    tls: loadTlsMaterial(dir, 'client-1'),
  });
  const got: string[] = [];
  client.onFrame((from, frame) => got.push(`${from}|${Buffer.from(frame)}`));
  await client.start();
  try {
    client.send('a', new Uint8Array(Buffer.from('hello')));
    await until(() => got.length === 1, 'the reply');
    assert.equal(got, ['a|reply to client-1: hello']);
    assert.equal(server.connectedClients(), ['client-1']);
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
});

test('a client certificate of a role the node does not accept is refused', async () => {
  const server = new TlsTransport({ self: 'a', peers: [], tls: loadTlsMaterial(dir, 'a'), acceptClient: (cert) => (roleOf(cert) === 'admin' ? identityOf(cert) : undefined) });
  await server.start();
  const got: string[] = [];
  server.onFrame((from) => got.push(from));
  const client = new TlsTransport({ self: 'client-1', listen: false, peers: [{ id: 'a', host: '127.0.0.1', port: server.port }], tls: loadTlsMaterial(dir, 'client-1') });
  await client.start();
  try {
    client.send('a', new Uint8Array([1]));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got, []);
    assert.equal(server.connectedClients(), []);
  } finally {
    await Promise.all([client.close(), server.close()]);
  }
});

test('a revocation list ends the links of a revoked replica both ways and refuses its dials; the rest keep talking', async () => {
  const revDir = mkdtempSync(join(tmpdir(), 'baksa-tls-revoke-'));
  await initCa(revDir, { name: 'revoking-cluster' });
  for (const name of ['r1', 'r2', 'r3']) await issueCertificate(revDir, { name, role: 'replica' });
  const [r1, r2, r3] = await mesh(['r1', 'r2', 'r3'], revDir);
  try {
    const got: string[] = [];
    r1!.onFrame((from, frame) => got.push(`${from}:${Buffer.from(frame)}`));
    await until(() => r1!.connectedPeers().length === 2 && r3!.connectedPeers().length === 2, 'the full mesh');
    const { revoked } = await revokeCertificate(revDir, { name: 'r3', reason: 'key-compromise' });
    // What RevocationWatch gives its targets when ca.crl changes; r3 itself never learns it.
    for (const t of [r1!, r2!]) t.revocationsChanged(readCrl(revDir), new Set([revoked.serialNumber]));
    await until(() => !r1!.connectedPeers().includes('r3') && !r3!.connectedPeers().includes('r1'), 'the links to and from r3 ended');
    await new Promise((r) => setTimeout(r, 300)); // r3 dials again meanwhile, and is refused
    r3!.send('r1', new Uint8Array(Buffer.from('from a revoked node')));
    r2!.send('r1', new Uint8Array(Buffer.from('still here')));
    await until(() => got.includes('r2:still here'), 'the frame of the node that was not revoked');
    await new Promise((r) => setTimeout(r, 300));
    assert.not.ok(got.some((g) => g.startsWith('r3:')), 'nothing of r3 got through');
    assert.not.ok(r1!.connectedPeers().includes('r3'));
    assert.ok(r1!.connectedPeers().includes('r2'));
  } finally {
    await Promise.all([r1!.close(), r2!.close(), r3!.close()]);
    rmSync(revDir, { recursive: true, force: true });
  }
});

test.after(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(otherDir, { recursive: true, force: true });
});

test.run();
