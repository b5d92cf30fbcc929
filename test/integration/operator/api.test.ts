// DESIGN §8 (mutual TLS 1.3, RBAC from the certificate role) and the REST API of the 2baksa protocol.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request as httpsRequest } from 'node:https';
import { ROLES, issueCertificate, loadTlsMaterial, readCrl, revokeCertificate, tlsClientOptions, type Role } from '../../../shared/crypto/pki.ts';
import { BaksaError } from '../../../shared/errors.ts';
import { applyOrThrow } from '../../../aggregator/accounts/index.ts';
import type { RouteSpec } from '../../../aggregator/api/index.ts';
import { CLIENTS, startFixture, type Fixture } from './pki-fixture.ts';

const T0 = 1_700_000_000_000;
let fx: Fixture;
const byRole = new Map<Role, string>(Object.entries(CLIENTS).map(([name, role]) => [role, name]));

async function status(name: string, method: string, path: string, body?: unknown): Promise<{ status: number; code?: string; body: unknown }> {
  try {
    const r = await fx.client(name).request(method, path, body);
    return { status: r.status, body: r.body };
  } catch (e) {
    if (!(e instanceof BaksaError)) throw e;
    const map: Record<string, number> = { FORBIDDEN: 403, BAD_REQUEST: 400 };
    return { status: map[e.code] ?? -1, code: e.code, body: e };
  }
}

test.before(async () => {
  fx = await startFixture();
  const db = fx.db;
  for (const name of ['gw1.example', 'gw2.example']) {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name, number: null, softBytes: null, hardBytes: null });
  }
  await applyOrThrow(db, { type: 'CreateGroup', name: 'site-a', admin: 'ops-a@example.org', softBytes: null, hardBytes: null, atMs: T0 });
  for (const role of ROLES) {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T0, name: `tmp-${role}.example`, number: null, softBytes: null, hardBytes: null });
    await applyOrThrow(db, { type: 'CreateGroup', name: `tmp-${role}`, admin: 'x@example.org', softBytes: null, hardBytes: null, atMs: T0 });
  }
});

test.after(async () => {
  await fx.close();
});

function pathFor(route: RouteSpec, role: Role): string {
  const destructive = route.method === 'DELETE';
  return route.url
    .replace(':account', destructive && !route.url.includes('members') ? `tmp-${role}.example` : 'gw1.example')
    .replace(':group', destructive && !route.url.includes('members') ? `tmp-${role}` : 'site-a')
    .replace(':objectId', 'a'.repeat(64))
    .replace(':job', '0'.repeat(32))
    .replace(':height', '0')
    .replace(':index', '0')
    .concat(route.url === '/v1/reports/space' ? '?by=account' : '');
}

function bodyFor(route: RouteSpec): unknown {
  if (route.rawBody) return new TextEncoder().encode('hello');
  if (route.method === 'GET' || route.method === 'DELETE') return undefined;
  return route.schema?.body ? {} : undefined;
}

test('every endpoint: the roles allowed get through RBAC, every other role gets 403', async () => {
  let checked = 0;
  for (const route of fx.server.routes) {
    for (const role of ROLES) {
      const name = byRole.get(role)!;
      const r = await status(name, route.method, pathFor(route, role), bodyFor(route));
      if (route.roles.includes(role)) {
        assert.is.not(r.status, 403, `${role} may ${route.method} ${route.url} (got ${r.code})`);
      } else {
        assert.is(r.status, 403, `${role} must be refused ${route.method} ${route.url}`);
        assert.is(r.code, 'FORBIDDEN');
      }
      checked++;
    }
  }
  assert.ok(checked >= 25 * ROLES.length);
});

test('an agent acts only for its own account', async () => {
  const own = await fx.client('gw1.example').request('POST', '/v1/accounts/gw1.example/backups', new TextEncoder().encode('mine'));
  assert.ok(own.status === 201 || own.status === 200);
  const other = await status('gw1.example', 'POST', '/v1/accounts/gw2.example/backups', new TextEncoder().encode('not mine'));
  assert.is(other.status, 403);
  const list = await status('gw1.example', 'GET', '/v1/accounts/gw2.example/backups');
  assert.is(list.status, 403);
});

test('bad bodies are 400 naming the field', async () => {
  const cases: [string, string, unknown, string][] = [
    ['POST', '/v1/accounts', { name: 5 }, 'name'],
    ['POST', '/v1/accounts', { softBytes: 1 }, 'name'],
    ['POST', '/v1/accounts', { name: 'x.example', softBytes: -1 }, 'softBytes'],
    ['POST', '/v1/accounts', { name: 'x.example', colour: 'red' }, 'colour'],
    ['POST', '/v1/accounts', { name: 'not a name' }, 'name'],
    ['POST', '/v1/accounts', { name: 'y.example', softBytes: 10, hardBytes: 5 }, 'limits'],
    ['PUT', '/v1/accounts/gw1.example/limits', { softBytes: 1 }, 'hardBytes'],
    ['PUT', '/v1/accounts/gw1.example/enabled', { enabled: 'yes' }, 'enabled'],
    ['PATCH', '/v1/accounts/gw1.example', { heartbeatIntervalS: 0 }, 'heartbeatIntervalS'],
    ['POST', '/v1/groups', { name: 'g' }, 'admin'],
    ['PATCH', '/v1/groups/site-a', { softBytes: 'lots' }, 'softBytes'],
    ['PATCH', '/v1/groups/site-a', {}, 'body'],
    ['PUT', '/v1/accounts/gw1.example/name', { name: 7 }, 'name'],
    ['POST', '/v1/accounts/gw1.example/housekeep', { aggressive: 'very' }, 'aggressive'],
    ['POST', '/v1/accounts/gw1.example/check', { fix: 1 }, 'fix'],
    ['GET', '/v1/reports/space?by=planet', undefined, 'by'],
    ['GET', '/v1/ledger/blocks?from=-1', undefined, 'from'],
  ];
  for (const [method, path, body, field] of cases) {
    const name = path.includes('ledger') || path.includes('reports') ? 'auditor-1' : 'admin-1';
    try {
      await fx.client(name).request(method, path, body);
      assert.unreachable(`${method} ${path} ${JSON.stringify(body)} must fail`);
    } catch (e) {
      assert.instance(e, BaksaError);
      const err = e as BaksaError;
      assert.ok(['BAD_REQUEST', 'INVALID_ARGUMENT', 'LIMITS_INVALID', 'CONFIG_INVALID'].includes(err.code), `${path}: ${err.code}`);
      assert.ok(err.message.includes(field), `${method} ${path}: "${err.message}" names ${field}`);
    }
  }
});

test('a backup must be a byte stream', async () => {
  try {
    await fx.client('operator-1').request('POST', '/v1/accounts/gw1.example/backups', { not: 'bytes' });
    assert.unreachable();
  } catch (e) {
    assert.is((e as BaksaError).code, 'UNSUPPORTED_MEDIA_TYPE');
  }
});

test('a client certificate from another CA is refused at the TLS handshake', async () => {
  const material = loadTlsMaterial(fx.otherPki, 'admin-1');
  // trust our server's CA, but present a certificate from the other CA
  const opts = { ...tlsClientOptions({ ...material, ca: loadTlsMaterial(fx.pki, 'admin-1').ca }) };
  const outcome = await new Promise<string>((resolve) => {
    const req = httpsRequest(`${fx.url}/v1/accounts`, { ...opts, method: 'GET', agent: false }, (res) => {
      res.resume();
      resolve(`http ${res.statusCode}`);
    });
    req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.end();
  });
  assert.match(outcome, /^error /, `refused at TLS, got ${outcome}`);
  // and without any client certificate
  const none = await new Promise<string>((resolve) => {
    const req = httpsRequest(`${fx.url}/v1/accounts`, { ca: material.ca, method: 'GET', agent: false, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(`http ${res.statusCode}`);
    });
    req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    req.end();
  });
  assert.match(none, /^error /);
});

test('admin manages accounts and groups through the API; the auditor reads reports', async () => {
  const admin = fx.client('admin-1');
  const created = await admin.request<{ number: number; numberHex: string }>('POST', '/v1/accounts', { name: 'api.example', number: '0x7f', softBytes: 1000, hardBytes: 2000 });
  assert.is(created.status, 201);
  assert.is(created.body.numberHex, '0x0000007f');
  const info = await admin.request<{ name: string; groups: string[] }>('GET', '/v1/accounts/0x7f');
  assert.is(info.body.name, 'api.example');
  await admin.request('PUT', '/v1/groups/site-a/members/api.example');
  const group = await admin.request<{ members: { name: string }[] }>('GET', '/v1/groups/site-a');
  assert.ok(group.body.members.some((m) => m.name === 'api.example'));
  const dup = await status('admin-1', 'POST', '/v1/accounts', { name: 'api.example' });
  assert.is((dup.body as BaksaError).code, 'ACCOUNT_EXISTS');
  const board = await fx.client('auditor-1').request<{ accounts: { account: string; state: string }[] }>('GET', '/v1/reports/heartbeats');
  assert.ok(board.body.accounts.some((a) => a.account === 'api.example' && a.state === 'unregistered'));
});

test('a group hard limit refuses a backup with 507 QUOTA_EXCEEDED naming the group', async () => {
  const admin = fx.client('admin-1');
  await admin.request('POST', '/v1/groups', { name: 'tight', admin: 'tight-admin@example.org', hardBytes: 10 });
  await admin.request('PUT', '/v1/groups/tight/members/gw2.example');
  try {
    await fx.client('operator-1').request('POST', '/v1/accounts/gw2.example/backups', new TextEncoder().encode('more than ten bytes'));
    assert.unreachable();
  } catch (e) {
    const err = e as BaksaError;
    assert.is(err.code, 'QUOTA_EXCEEDED');
    assert.match(err.message, /group "tight"/);
    assert.is(err.details?.group, 'tight');
    assert.is(err.details?.limitBytes, 10);
  }
  // a backup within the limit passes, and the stream path (no Content-Length) is checked after storing
  const ok = await fx.client('operator-1').request<{ state: string; bytes: number }>('POST', '/v1/accounts/gw2.example/backups', new TextEncoder().encode('tiny'));
  assert.is(ok.body.state, 'stored');
  const { Readable } = await import('node:stream');
  try {
    await fx.client('operator-1').request('POST', '/v1/accounts/gw2.example/backups', Readable.from([Buffer.from('also more than ten bytes')]));
    assert.unreachable();
  } catch (e) {
    assert.is((e as BaksaError).code, 'QUOTA_EXCEEDED');
  }
});

test('backup, job status and restore round-trip; the OpenAPI document lists every route; metrics count requests', async () => {
  const op = fx.client('operator-1');
  const data = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
  const job = await op.request<{ id: string; objectId: string; bytes: number }>('POST', '/v1/accounts/gw1.example/backups', data);
  assert.is(job.body.bytes, data.length);
  const status1 = await op.request<{ state: string }>('GET', `/v1/jobs/${job.body.id}`);
  assert.is(status1.body.state, 'stored');
  const back = await new Promise<Buffer>((resolve, reject) => {
    const material = loadTlsMaterial(fx.pki, 'operator-1');
    const req = httpsRequest(`${fx.url}/v1/accounts/gw1.example/backups/${job.body.objectId}`, { ...tlsClientOptions(material), agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    });
    req.on('error', reject);
    req.end();
  });
  assert.ok(Buffer.from(data).equals(back));
  const again = await op.request<{ deduplicated: boolean }>('POST', '/v1/accounts/gw1.example/backups', data);
  assert.is(again.status, 200);
  assert.is(again.body.deduplicated, true);
  const doc = await fx.client('auditor-1').request<{ openapi: string; paths: Record<string, Record<string, { 'x-roles': string[] }>> }>('GET', '/openapi.json');
  assert.is(doc.body.openapi, '3.1.0');
  for (const r of fx.server.routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    assert.ok(doc.body.paths[path]?.[r.method.toLowerCase()], `${r.method} ${path} documented`);
    assert.equal(doc.body.paths[path]![r.method.toLowerCase()]!['x-roles'], [...r.roles]);
  }
  const metrics = await fx.client('admin-1').request<string>('GET', '/metrics');
  assert.match(metrics.body, /baksa_api_requests_total\{route="\/v1\/accounts\/:account\/backups",method="POST",status="201"\}/);
  assert.match(metrics.body, /status="403"/);
});

test('auditors read ledger blocks, verified inclusion proofs and a full verification', async () => {
  const aud = fx.client('auditor-1');
  const tip = await aud.request<{ height: number; blocks: number; quorum: number }>('GET', '/v1/ledger');
  assert.ok(tip.body.blocks > 0);
  assert.is(tip.body.height, tip.body.blocks - 1);
  const page = await aud.request<{ blocks: { height: number; hash: string }[] }>('GET', '/v1/ledger/blocks?from=0&limit=2');
  assert.equal(page.body.blocks.map((b) => b.height), [0, 1].slice(0, Math.min(2, tip.body.blocks)));
  const block = await aud.request<{ height: number; records: { account: string }[]; qc: unknown[] }>('GET', '/v1/ledger/blocks/0');
  assert.is(block.body.height, 0);
  assert.ok(block.body.qc.length >= tip.body.quorum);
  if (block.body.records.length > 0) {
    const proof = await aud.request<{ verified: boolean; proof: { path: string[] } }>('GET', '/v1/ledger/blocks/0/proofs/0');
    assert.is(proof.body.verified, true);
  }
  const verdict = await aud.request<{ ok: boolean; blocks: number }>('GET', '/v1/ledger/verify');
  assert.is(verdict.body.ok, true);
  assert.is(verdict.body.blocks, tip.body.blocks);
  const missing = await status('auditor-1', 'GET', `/v1/ledger/blocks/${tip.body.blocks + 5}`);
  assert.is(missing.code, 'BLOCK_NOT_FOUND');
});

test('a certificate the CA revokes loses its open connection and is refused at the next handshake', async () => {
  await issueCertificate(fx.pki, { name: 'admin-lost', role: 'admin' });
  const lost = fx.client('admin-lost');
  assert.is((await lost.request('GET', '/v1/accounts')).status, 200, 'a keep-alive connection is open');
  const { revoked } = await revokeCertificate(fx.pki, { name: 'admin-lost', reason: 'key-compromise' });
  fx.server.revocationsChanged(readCrl(fx.pki), new Set([revoked.serialNumber])); // what RevocationWatch does
  const again = await status('admin-lost', 'GET', '/v1/accounts');
  assert.is(again.status, -1, `refused, got ${JSON.stringify(again)}`);
  // The node closes such a connection without a TLS alert; the client tells it from a node that is down.
  assert.equal([again.code, (again.body as BaksaError).details?.certificateRefused], ['API_UNREACHABLE', true]);
  assert.match((again.body as BaksaError).hint ?? '', /revoked/);
  await lost.request('GET', '/v1/accounts').then(
    () => assert.unreachable('the revoked client still got an answer'),
    () => undefined,
  );
  assert.is((await status('admin-1', 'GET', '/v1/accounts')).status, 200, 'the others keep working');
});

test.run();
