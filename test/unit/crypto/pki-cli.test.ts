// `2baksa pki init | issue | show` end to end: the real launcher in a child process, a temp PKI dir.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), '2baksa-pki-cli-'));
const dir = join(work, 'pki');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string; json: () => Record<string, unknown> } {
  const r = spawnSync(process.execPath, ['cli/2baksa.mjs', ...args], { cwd: projectRoot, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}

test('pki init creates the CA, then refuses to overwrite it without --force', () => {
  const init = cli('pki', 'init', '--dir', dir, '--name', 'test-ca', '--days', '20', '--json');
  assert.is(init.code, 0, init.stderr);
  const out = init.json();
  assert.is(out.ca, 'test-ca');
  assert.is(out.cert, join(dir, 'ca.crt'));
  assert.is(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  const cert = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
  assert.is(cert.fingerprint256, out.fingerprint256);
  const again = cli('pki', 'init', '--dir', dir, '--json');
  assert.is(again.code, 1);
  assert.is((again.json().error as { code: string }).code, 'PKI_CA_EXISTS');
  assert.match(again.stderr, /--force/);
  assert.is(new X509Certificate(readFileSync(join(dir, 'ca.crt'))).fingerprint256, cert.fingerprint256);
});

test('pki issue writes a certificate the CA signed, with role and extra names', () => {
  const issue = cli('pki', 'issue', '--dir', dir, '--name', 'gw-3.site-b', '--role', 'agent', '--dns', 'gw-3', '--ip', '10.9.8.7', '--json');
  assert.is(issue.code, 0, issue.stderr);
  const out = issue.json();
  assert.is(out.role, 'agent');
  assert.equal(out.dnsNames, ['gw-3.site-b', 'localhost', 'gw-3']);
  assert.equal(out.ipAddresses, ['127.0.0.1', '::1', '10.9.8.7']);
  const cert = new X509Certificate(readFileSync(join(dir, 'gw-3.site-b.crt')));
  assert.ok(cert.verify(new X509Certificate(readFileSync(join(dir, 'ca.crt'))).publicKey));
  assert.is(statSync(join(dir, 'gw-3.site-b.key')).mode & 0o777, 0o600);
});

test('pki show prints subject, role, validity and fingerprint for people and scripts', () => {
  const json = cli('pki', 'show', '--dir', dir, '--name', 'gw-3.site-b', '--json');
  assert.is(json.code, 0, json.stderr);
  const out = json.json();
  assert.is(out.subject, 'CN=gw-3.site-b, OU=agent');
  assert.is(out.role, 'agent');
  assert.is(out.expired, false);
  assert.match(String(out.fingerprint256), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  const table = cli('pki', 'show', '--dir', dir, '--name', 'gw-3.site-b');
  assert.is(table.code, 0);
  assert.match(table.stdout, /^role\s+agent$/m);
  assert.match(table.stdout, /^notAfter\s+\d{4}-/m);
  const ca = cli('pki', 'show', '--dir', dir, '--name', 'ca', '--json');
  assert.is(ca.json().role, 'ca');
});

test('pki revoke lists a certificate in the signed ca.crl; revoked and show tell it; a tampered list is refused', () => {
  assert.is(cli('pki', 'issue', '--dir', dir, '--name', 'gw-lost.site-b', '--role', 'agent').code, 0);
  const serial = String(cli('pki', 'show', '--dir', dir, '--name', 'gw-lost.site-b', '--json').json().serialNumber);
  const none = cli('pki', 'revoked', '--dir', dir, '--json');
  assert.is(none.code, 0, none.stderr);
  assert.equal(JSON.parse(none.stdout), []);
  const revoke = cli('pki', 'revoke', '--dir', dir, '--name', 'gw-lost.site-b', '--reason', 'key-compromise', '--json');
  assert.is(revoke.code, 0, revoke.stderr);
  const out = revoke.json();
  assert.is(out.serialNumber, serial.toLowerCase().replace(/^0+/, ''));
  assert.is(out.alreadyRevoked, false);
  assert.is(out.crl, join(dir, 'ca.crl'));
  assert.is(cli('pki', 'revoke', '--dir', dir, '--name', 'gw-lost.site-b', '--json').json().alreadyRevoked, true);
  const listed = JSON.parse(cli('pki', 'revoked', '--dir', dir, '--json').stdout) as { serialNumber: string; reason: string }[];
  assert.equal(listed.map((r) => [r.serialNumber, r.reason]), [[out.serialNumber, 'key-compromise']]);
  assert.type(cli('pki', 'show', '--dir', dir, '--name', 'gw-lost.site-b', '--json').json().revoked, 'string');
  assert.is(cli('pki', 'show', '--dir', dir, '--name', 'gw-3.site-b', '--json').json().revoked, false);
  assert.match(readFileSync(join(dir, 'ca.crl'), 'utf8'), /^-----BEGIN X509 CRL-----/);
  // A list another key signed is not this CA's: refused, never read as "nothing revoked".
  const other = join(work, 'other-pki');
  assert.is(cli('pki', 'init', '--dir', other).code, 0);
  assert.is(cli('pki', 'issue', '--dir', other, '--name', 'x.example', '--role', 'agent').code, 0);
  assert.is(cli('pki', 'revoke', '--dir', other, '--name', 'x.example').code, 0);
  copyFileSync(join(other, 'ca.crl'), join(work, 'foreign.crl'));
  copyFileSync(join(dir, 'ca.crl'), join(work, 'ours.crl'));
  copyFileSync(join(work, 'foreign.crl'), join(dir, 'ca.crl'));
  const tampered = cli('pki', 'revoked', '--dir', dir, '--json');
  assert.is(tampered.code, 3);
  assert.is((tampered.json().error as { code: string }).code, 'PKI_CRL_INVALID');
  copyFileSync(join(work, 'ours.crl'), join(dir, 'ca.crl'));
  // The Nagios check of the directory warns before expiry (this CA was made for 20 days) and leaves
  // the revoked certificate out.
  const certs = cli('check-nagios', 'certs', '--dir', dir);
  assert.is(certs.code, 1, certs.stdout);
  assert.match(certs.stdout, /^CERTS WARNING - 2 certificates, the first to expire is ca in 19 days .* \| days_left=19;30:;7: certificates=2 expired=0 revoked=1$/m);
  assert.is(cli('check-nagios', 'certs', '--dir', dir, '-w', '10:', '-c', '5:').code, 0);
  assert.is(cli('check-nagios', 'certs', '--dir', join(work, 'nope')).code, 3);
});

test('bad input gets a clear error and the config exit code', () => {
  const role = cli('pki', 'issue', '--dir', dir, '--name', 'x1', '--role', 'root');
  assert.is(role.code, 3);
  assert.match(role.stderr, /role: "root" is not a role \[CONFIG_INVALID\]/);
  const name = cli('pki', 'issue', '--dir', dir, '--name', 'under_score', '--role', 'agent', '--json');
  assert.is(name.code, 3);
  assert.is((name.json().error as { code: string }).code, 'CONFIG_INVALID');
  const missing = cli('pki', 'issue', '--dir', join(work, 'nope'), '--name', 'x1', '--role', 'agent');
  assert.is(missing.code, 3);
  assert.match(missing.stderr, /pki init/);
  const reason = cli('pki', 'revoke', '--dir', dir, '--name', 'gw-3.site-b', '--reason', 'lost');
  assert.is(reason.code, 3);
  assert.match(reason.stderr, /reason: "lost" is not a reason/);
  const both = cli('pki', 'revoke', '--dir', dir, '--name', 'gw-3.site-b', '--serial', '12');
  assert.is(both.code, 3);
  assert.match(both.stderr, /--name or by --serial/);
  assert.match(cli('pki', 'revoke', '--dir', dir, '--name', 'ca').stderr, /cannot revoke itself/);
  assert.match(cli('pki', 'revoke', '--dir', dir, '--serial', 'xyz').stderr, /serial: "xyz" is not a serial number/);
  assert.equal(JSON.parse(cli('pki', 'revoked', '--dir', dir, '--json').stdout).length, 1, 'nothing refused was revoked');
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
