// Mutual TLS 1.3 with certificates from the cluster CA (DESIGN §8: every link is TLS 1.3 with mutual
// certificates; the certificate's role feeds RBAC). Real sockets on 127.0.0.1, port 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  authenticatedPeer, identityOf, initCa, issueCertificate, loadTlsMaterial, revokeCertificate, roleOf, tlsClientOptions, tlsServerOptions,
  type Role, type TlsMaterial,
} from '../../../shared/crypto/pki.ts';

const root = mkdtempSync(join(tmpdir(), '2baksa-tls-'));
const ours = join(root, 'ours');
const theirs = join(root, 'theirs');

async function material(dir: string, name: string, role: Role): Promise<TlsMaterial> {
  await issueCertificate(dir, { name, role });
  return loadTlsMaterial(dir, name);
}

interface ServerLog {
  peers: { identity: string | undefined; role: Role | undefined; protocol: string | null }[];
  data: string[];
}

async function startServer(m: TlsMaterial): Promise<{ server: tls.Server; port: number; log: ServerLog }> {
  const log: ServerLog = { peers: [], data: [] };
  const server = tls.createServer(tlsServerOptions(m), (socket) => {
    const peer = authenticatedPeer(socket);
    log.peers.push({ identity: peer?.identity, role: peer?.role, protocol: socket.getProtocol() });
    socket.on('data', (d) => {
      log.data.push(String(d));
      socket.end(`echo:${String(d)}`);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, log };
}

interface ClientOutcome {
  secure: boolean;
  reply: string;
  error: string | undefined;
  serverIdentity: string | undefined;
  serverRole: Role | undefined;
}

function talk(port: number, options: tls.ConnectionOptions, message = 'hello'): Promise<ClientOutcome> {
  return new Promise((resolve) => {
    const outcome: ClientOutcome = { secure: false, reply: '', error: undefined, serverIdentity: undefined, serverRole: undefined };
    const socket = tls.connect({ ...options, host: '127.0.0.1', port }, () => {
      outcome.secure = true;
      outcome.serverIdentity = identityOf(socket.getPeerCertificate());
      outcome.serverRole = roleOf(socket.getPeerCertificate());
      socket.write(message);
    });
    socket.on('data', (d) => (outcome.reply += String(d)));
    socket.on('error', (e: NodeJS.ErrnoException) => (outcome.error = e.code ?? e.message));
    socket.on('close', () => resolve(outcome));
  });
}

function close(server: tls.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

let server: tls.Server;
let port: number;
let log: ServerLog;
let agent: TlsMaterial;
let stranger: TlsMaterial;
let foreignServer: TlsMaterial;

test.before(async () => {
  await initCa(ours);
  await initCa(theirs);
  const replica = await material(ours, 'replica-1.dc.example', 'replica');
  agent = await material(ours, 'gw-1.site-a', 'agent');
  stranger = await material(theirs, 'gw-1.site-a', 'admin');
  foreignServer = await material(theirs, 'replica-1.dc.example', 'replica');
  ({ server, port, log } = await startServer(replica));
});

test.after.each(() => {
  log.peers.length = 0;
  log.data.length = 0;
});

test('mutual TLS 1.3 handshake: bytes flow and each side sees the other role', async () => {
  const outcome = await talk(port, tlsClientOptions(agent));
  assert.is(outcome.error, undefined);
  assert.ok(outcome.secure);
  assert.is(outcome.reply, 'echo:hello');
  assert.is(outcome.serverIdentity, 'replica-1.dc.example');
  assert.is(outcome.serverRole, 'replica');
  assert.equal(log.peers, [{ identity: 'gw-1.site-a', role: 'agent', protocol: 'TLSv1.3' }]);
  assert.equal(log.data, ['hello']);
});

test('servername checks the server name when dialling an address', async () => {
  const ok = await talk(port, tlsClientOptions(agent, { servername: 'replica-1.dc.example' }));
  assert.is(ok.reply, 'echo:hello');
  const wrong = await talk(port, tlsClientOptions(agent, { servername: 'replica-2.dc.example' }));
  assert.not.ok(wrong.secure);
  assert.is(wrong.error, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal(log.data, ['hello'], 'only the right name got through');
});

test('a client certificate from another CA is refused: the server never sees its data', async () => {
  const outcome = await talk(port, tlsClientOptions({ ...stranger, ca: agent.ca }), 'secret');
  assert.is(outcome.reply, '');
  // TLS 1.3: the client finishes its side of the handshake before the server checks its certificate,
  // so the client may see "secure" and write; the server then drops the socket unread.
  assert.equal(log.peers, []);
  assert.equal(log.data, []);
});

test('a client without a certificate is refused', async () => {
  const { cert: _c, key: _k, ...anonymous } = tlsClientOptions(agent);
  const outcome = await talk(port, anonymous, 'secret');
  assert.is(outcome.reply, '');
  assert.equal(log.data, []);
  assert.equal(log.peers, []);
});

test('a TLS 1.2 client is refused', async () => {
  const outcome = await talk(port, { ...tlsClientOptions(agent), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, 'secret');
  assert.not.ok(outcome.secure);
  assert.is(outcome.reply, '');
  assert.equal(log.data, []);
});

test('a server with a certificate from another CA is refused by the client', async () => {
  const other = await startServer({ ...foreignServer, ca: agent.ca });
  try {
    const outcome = await talk(other.port, tlsClientOptions(agent), 'secret');
    assert.not.ok(outcome.secure);
    assert.is(outcome.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.equal(other.log.data, []);
  } finally {
    await close(other.server);
  }
});

test('a revoked client certificate is refused, the others still get through; a revoked server too', async () => {
  const lost = await material(ours, 'gw-9.site-a', 'agent');
  await issueCertificate(ours, { name: 'replica-9.dc.example', role: 'replica' });
  await revokeCertificate(ours, { name: 'gw-9.site-a', reason: 'key-compromise' });
  await revokeCertificate(ours, { name: 'replica-9.dc.example' });
  const checking = await startServer(loadTlsMaterial(ours, 'replica-1.dc.example')); // loads ca.crl
  const revokedServer = await startServer(loadTlsMaterial(ours, 'replica-9.dc.example'));
  try {
    assert.ok(loadTlsMaterial(ours, 'replica-1.dc.example').crl?.includes('BEGIN X509 CRL'));
    const refused = await talk(checking.port, tlsClientOptions(lost), 'secret');
    assert.is(refused.reply, '');
    assert.equal(checking.log.data, [], 'the server never read the revoked client');
    const ok = await talk(checking.port, tlsClientOptions(agent));
    assert.is(ok.reply, 'echo:hello');
    const toRevoked = await talk(revokedServer.port, tlsClientOptions(loadTlsMaterial(ours, 'gw-1.site-a')), 'secret');
    assert.not.ok(toRevoked.secure);
    assert.is(toRevoked.error, 'CERT_REVOKED');
    assert.equal(revokedServer.log.data, []);
  } finally {
    await close(checking.server);
    await close(revokedServer.server);
  }
});

test.after(async () => {
  await close(server);
  rmSync(root, { recursive: true, force: true });
});

test.run();
