// PKI files, names and roles (DESIGN §8: cluster CA, pki init / pki issue --role).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import {
  ROLES, certificateInfo, hostNameProblem, identityOf, initCa, issueCertificate, loadTlsMaterial, roleOf, showCertificate,
} from '../../../shared/crypto/pki.ts';
import { parseSubjectAltName } from '../../../shared/crypto/pki-identity.ts';

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), '2baksa-pki-'));
  dirs.push(dir);
  return dir;
}

async function rejects(promise: Promise<unknown>, code: string): Promise<BaksaError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, code);
    return error as BaksaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

test('initCa writes a self-signed CA with a 0600 key and refuses to overwrite it', async () => {
  const dir = join(tempDir(), 'pki');
  const ca = await initCa(dir, { name: 'site ca', days: 30 });
  assert.is(statSync(ca.keyPath).mode & 0o777, 0o600);
  assert.is(statSync(dir).mode & 0o777, 0o700);
  const cert = new X509Certificate(readFileSync(ca.certPath));
  assert.ok(cert.ca);
  assert.ok(cert.checkIssued(cert));
  assert.is(cert.fingerprint256, ca.fingerprint256);
  assert.ok(Math.abs(ca.notAfter.getTime() - Date.now() - 30 * 86_400_000) < 3_600_000);
  const error = await rejects(initCa(dir), 'PKI_CA_EXISTS');
  assert.match(error.hint ?? '', /--force/);
  assert.is(readFileSync(ca.certPath, 'utf8'), ca.certPem, 'the refused init left the CA alone');
  const again = await initCa(dir, { force: true });
  assert.is.not(again.fingerprint256, ca.fingerprint256);
});

test('issueCertificate: subject, SANs, role URI, usages, signed by the CA', async () => {
  const dir = tempDir();
  const ca = await initCa(dir);
  const issued = await issueCertificate(dir, {
    name: 'gw-07.site-a.example', role: 'agent', dnsNames: ['gw-07'], ipAddresses: ['10.1.2.3'],
  });
  assert.is(statSync(issued.keyPath).mode & 0o777, 0o600);
  assert.is(issued.certPath, join(dir, 'gw-07.site-a.example.crt'));
  const cert = new X509Certificate(issued.certPem);
  assert.ok(cert.checkIssued(new X509Certificate(ca.certPem)));
  assert.ok(cert.verify(new X509Certificate(ca.certPem).publicKey));
  assert.not.ok(cert.ca);
  assert.is(cert.subject, 'CN=gw-07.site-a.example\nOU=agent');
  assert.equal(cert.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.ok(cert.checkHost('gw-07.site-a.example'));
  assert.ok(cert.checkHost('localhost'));
  assert.ok(cert.checkHost('gw-07'));
  assert.ok(cert.checkIP('127.0.0.1'));
  assert.ok(cert.checkIP('10.1.2.3'));
  assert.match(cert.subjectAltName ?? '', /URI:urn:2baksa:role:agent/);
  assert.is(roleOf(cert), 'agent');
  assert.is(identityOf(cert), 'gw-07.site-a.example');
  assert.is(issued.role, 'agent');
  const material = loadTlsMaterial(dir, 'gw-07.site-a.example');
  assert.is(material.ca, ca.certPem);
  assert.is(material.cert, issued.certPem);
  assert.ok(new X509Certificate(material.cert).checkPrivateKey(
    (await import('node:crypto')).createPrivateKey(material.key)));
});

test('every role round-trips through a certificate', async () => {
  const dir = tempDir();
  await initCa(dir);
  for (const role of ROLES) {
    const issued = await issueCertificate(dir, { name: `n-${role}`, role });
    const info = showCertificate(dir, `n-${role}`);
    assert.is(info.role, role);
    assert.is(info.identity, `n-${role}`);
    assert.is(info.fingerprint256, issued.fingerprint256);
    assert.ok(info.dnsNames.includes('localhost'));
    assert.ok(info.ipAddresses.includes('127.0.0.1'));
  }
});

test('issue refuses bad names, roles, days, addresses, the CA file name, and an existing certificate', async () => {
  const dir = tempDir();
  await initCa(dir);
  await rejects(issueCertificate(dir, { name: 'bad_name', role: 'agent' }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: '../etc/passwd', role: 'agent' }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: 'ca', role: 'agent' }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: 'ok', role: 'root' as never }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: 'ok', role: 'agent', days: 0 }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: 'ok', role: 'agent', ipAddresses: ['10.0.0.300'] }), 'CONFIG_INVALID');
  await rejects(issueCertificate(dir, { name: 'ok', role: 'agent', dnsNames: ['-x'] }), 'CONFIG_INVALID');
  const first = await issueCertificate(dir, { name: 'ok', role: 'agent' });
  await rejects(issueCertificate(dir, { name: 'ok', role: 'admin' }), 'PKI_CERT_EXISTS');
  const renewed = await issueCertificate(dir, { name: 'ok', role: 'admin', force: true });
  assert.is.not(renewed.fingerprint256, first.fingerprint256);
  assert.is(showCertificate(dir, 'ok').role, 'admin');
});

test('issue without a CA, with a mismatched CA key, or with an expired CA fails clearly', async () => {
  const empty = tempDir();
  await rejects(issueCertificate(empty, { name: 'a', role: 'agent' }), 'PKI_FILE_MISSING');
  const a = tempDir();
  const b = tempDir();
  await initCa(a);
  await initCa(b);
  writeFileSync(join(a, 'ca.key'), readFileSync(join(b, 'ca.key')));
  await rejects(issueCertificate(a, { name: 'a', role: 'agent' }), 'PKI_CA_MISMATCH');
  const old = tempDir();
  await initCa(old, { days: 1, now: new Date(Date.now() - 3 * 86_400_000) });
  await rejects(issueCertificate(old, { name: 'a', role: 'agent' }), 'PKI_CA_EXPIRED');
  assert.throws(() => loadTlsMaterial(empty, 'a'), (e: unknown) => e instanceof BaksaError && e.code === 'PKI_FILE_MISSING');
});

test('a leaf never outlives its CA', async () => {
  const dir = tempDir();
  const ca = await initCa(dir, { days: 10 });
  const leaf = await issueCertificate(dir, { name: 'long', role: 'replica', days: 1000 });
  assert.ok(leaf.notAfter.getTime() <= ca.notAfter.getTime());
});

test('host name rules (RFC 1034)', () => {
  for (const ok of ['a', 'gw-07', 'node1.dc.example', 'A1-b2.C3', 'x'.repeat(63), `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`]) {
    assert.is(hostNameProblem(ok), undefined, ok);
  }
  for (const bad of ['', 'a..b', '.a', 'a.', '-a', 'a-', 'a_b', 'a b', 'x'.repeat(64), `${'a.'.repeat(127)}ab`, '127.0.0.1', 'é.example', 'a/b']) {
    assert.type(hostNameProblem(bad), 'string', bad);
  }
});

test('roleOf and identityOf read peer certificates and refuse unknown or ambiguous roles', () => {
  const peer = (san: string | undefined, cn?: unknown) => ({ subject: { CN: cn }, subjectaltname: san }) as never;
  assert.is(roleOf(peer('DNS:a, URI:urn:2baksa:role:auditor, IP Address:127.0.0.1')), 'auditor');
  assert.is(roleOf(peer('DNS:a, URI:urn:2baksa:role:root')), undefined);
  assert.is(roleOf(peer('URI:urn:2baksa:role:agent, URI:urn:2baksa:role:admin')), undefined);
  assert.is(roleOf(peer('URI:urn:2baksa:role:agent, URI:urn:2baksa:role:agent')), 'agent');
  assert.is(roleOf(peer('DNS:"x, URI:urn:2baksa:role:admin"')), undefined, 'a quoted value cannot inject an entry');
  assert.is(roleOf(peer(undefined)), undefined);
  assert.is(roleOf({} as never), undefined);
  assert.is(roleOf(undefined), undefined);
  assert.is(identityOf(peer('', 'node-1')), 'node-1');
  assert.is(identityOf(peer('', ['a', 'b'])), undefined);
  assert.is(identityOf({} as never), undefined);
  assert.equal(parseSubjectAltName('DNS:a, URI:"u,v", IP Address:::1'), [
    { type: 'DNS', value: 'a' }, { type: 'URI', value: 'u,v' }, { type: 'IP Address', value: '::1' },
  ]);
});

test('certificateInfo refuses bytes that are not a certificate', () => {
  assert.throws(() => certificateInfo('not a cert'), (e: unknown) => e instanceof BaksaError && e.code === 'PKI_CERT_INVALID');
});

test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

test.run();
