// Box Backup 1, 2, 4, 6 through the real `2baksa` command: accounts and groups on a database file and
// through the REST API, a hard group quota refusing a backup, report sums matching the stored bytes,
// script output (--json, --tsv) and the Nagios plugin convention.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaksaError } from '../../../shared/errors.ts';
import { main } from '../../../cli/main.ts';
import { GOOD_LEDGER, startFixture, type Fixture } from './pki-fixture.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
let fx: Fixture;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the command in this process through the CLI's own entry point (fast), capturing output and exit code. */
async function cli(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
  process.exitCode = undefined;
  try {
    await main(['node', '2baksa', ...args]);
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout: out.join(''), stderr: err.join('') };
}

/** Runs the real `2baksa` program in a child process. */
function spawnCli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['cli/2baksa.mjs', ...args], { cwd: root, env: { ...process.env, BAKSA_LOG_LEVEL: 'silent' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const db = () => ['--db', join(fx.dir, 'accounts.db')];
const server = () => ['--server', fx.url, '--tls-dir', fx.pki, '--cert-name', 'admin-1'];

function storedBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? storedBytes(p) : statSync(p).size;
  }
  return total;
}

test.before(async () => {
  fx = await startFixture();
});
test.after(async () => {
  await fx.close();
});

test('accounts and groups from the command line, on the database and through the API', async () => {
  const a = await spawnCli('accounts', 'create', '--name', 'GW1.Example', '--hard', '1M', '--json', ...db());
  assert.is(a.code, 0, a.stderr);
  assert.is(JSON.parse(a.stdout).numberHex, '0x00000001');
  const b = await cli('accounts', 'create', '--name', 'gw2.example', '--number', '0x2a', '--interval', '60', '--json', ...server());
  assert.is(b.code, 0, b.stderr);
  assert.is(JSON.parse(b.stdout).number, 0x2a);
  const g = await cli('groups', 'create', 'site-a', '--admin', 'ops-a@example.org', '--hard', '100K', ...db());
  assert.is(g.code, 0, g.stderr);
  for (const ref of ['gw1.example', '0x2a']) {
    const r = await cli('groups', 'add', 'site-a', ref, ...server());
    assert.is(r.code, 0, r.stderr);
  }
  const info = await cli('groups', 'info', 'site-a', '--json', ...db());
  assert.equal(JSON.parse(info.stdout).members.map((m: { name: string }) => m.name), ['gw1.example', 'gw2.example']);
  const list = await cli('accounts', 'list', '--tsv', ...server());
  assert.is(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.is(lines[0]!.split('\t')[0], 'NUMBER');
  assert.is(lines.length, 3);
});

test('bad values are refused with the flag named; unknown accounts with a clear error', async () => {
  const bad = await cli('accounts', 'create', '--name', 'x.example', '--soft', '10Q', ...db());
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--soft: "10Q" is not a size/);
  const name = await cli('accounts', 'create', '--name', 'not_a_host', ...db());
  assert.is(name.code, 2);
  assert.match(name.stderr, /name: /);
  const missing = await cli('accounts', 'info', 'nobody.example', '--json', ...server());
  assert.is.not(missing.code, 0);
  assert.is(JSON.parse(missing.stdout).error.code, 'ACCOUNT_NOT_FOUND');
  const confirm = await cli('accounts', 'delete', 'gw1.example', ...db());
  assert.is(confirm.code, 2);
  assert.match(confirm.stderr, /--yes/);
  for (const grace of ['2x', '-1', '400d']) {
    const sweep = await cli('aggregator', 'sweep', '--grace', grace, ...server());
    assert.is(sweep.code, 2, grace);
    assert.match(sweep.stderr, /--grace: ".*" is not a duration of at most a year/);
  }
});

test('a hard group quota refuses a backup; the space report sums match the stored bytes', async () => {
  const op = fx.client('operator-1');
  const sizes = [30 * 1024, 40 * 1024];
  for (const [i, n] of sizes.entries()) {
    const r = await op.request<{ state: string }>('POST', `/v1/accounts/${i === 0 ? 'gw1.example' : 'gw2.example'}/backups`, new Uint8Array(n).fill(i + 1));
    assert.is(r.body.state, 'stored');
  }
  try {
    await op.request('POST', '/v1/accounts/gw1.example/backups', new Uint8Array(50 * 1024).fill(9));
    assert.unreachable('the group is at 70 KiB of 100 KiB');
  } catch (e) {
    assert.is((e as BaksaError).code, 'QUOTA_EXCEEDED');
    assert.match((e as BaksaError).message, /group "site-a" is at its hard limit of 100\.0 KiB/);
    // A script tells it from a missing object: exit 5, as a full disk (try again once space is freed).
    assert.is((e as BaksaError).exitCode, 5);
    assert.match((e as BaksaError).hint ?? '', /groups setlimit site-a SOFT HARD/);
  }
  const total = sizes.reduce((x, y) => x + y, 0);
  // in-process runs capture stdout, so they run one after the other
  const accountsRun = await cli('report', 'space', '--by', 'account', '--json', ...server());
  const groupsRun = await cli('report', 'space', '--by', 'group', '--json', ...db());
  const volumesRun = await cli('report', 'space', '--by', 'volume', '--json', ...server());
  const clustersRun = await cli('report', 'space', '--by', 'cluster', '--json', ...server());
  const table = await cli('report', 'space', ...db()); // by account unless told
  const check = await cli('accounts', 'check', 'gw1.example', '--json', ...db());
  const byAccount = JSON.parse(accountsRun.stdout) as { usedBytes: number }[];
  assert.is(byAccount.reduce((s, r) => s + r.usedBytes, 0), total);
  const byGroup = JSON.parse(groupsRun.stdout) as { group: string; usedBytes: number; members: number }[];
  assert.equal(byGroup.map((g) => [g.group, g.usedBytes, g.members]), [['site-a', total, 2]]);
  const byVolume = JSON.parse(volumesRun.stdout) as { usedBytes: number; objects: number }[];
  assert.is(byVolume.reduce((s, v) => s + v.usedBytes, 0), total);
  assert.is(storedBytes(join(fx.sink.dir, 'objects')), total);
  const byCluster = JSON.parse(clustersRun.stdout) as { cluster: string; usedBytes: number; accountBytes: number }[];
  assert.equal(byCluster.map((c) => [c.cluster, c.usedBytes, c.accountBytes]), [['c1', total, total]]);
  assert.match(table.stdout, /^ACCOUNT\s+NUMBER\s+USED/);
  assert.is(JSON.parse(check.stdout).consistent, true);
});

test('--server with several nodes: a node that refuses the connection is passed over, for a change too', async () => {
  const both = ['--server', `https://127.0.0.1:1,${fx.url}`, '--tls-dir', fx.pki, '--cert-name', 'admin-1'];
  const made = await cli('accounts', 'create', '--name', 'gw7.example', '--json', ...both);
  assert.is(made.code, 0, made.stderr);
  const list = await cli('accounts', 'list', '--json', ...both);
  assert.is(list.code, 0, list.stderr);
  assert.ok((JSON.parse(list.stdout) as Array<{ name: string }>).some((a) => a.name === 'gw7.example'));
  const none = await cli('accounts', 'list', '--json', '--server', 'https://127.0.0.1:1,https://127.0.0.1:2', '--tls-dir', fx.pki, '--cert-name', 'admin-1');
  assert.is(none.code, 5);
  assert.match(none.stderr, /none of the 2 aggregator nodes answered GET/);
  assert.is((await cli('accounts', 'delete', 'gw7.example', '--yes', ...server())).code, 0);
});

test('Nagios checks: status line, perfdata and exit codes', async () => {
  const unknownRun = spawnCli('check-nagios', 'heartbeat', '--db', join(fx.dir, 'missing.db'));
  const hb = await cli('check-nagios', 'heartbeat', ...db());
  const ledger = await cli('check-nagios', 'ledger', '--dir', GOOD_LEDGER);
  const tampered = await cli('check-nagios', 'ledger', '--dir', fileURLToPath(new URL('../../fixtures/ledger/tampered-record', import.meta.url)));
  const unknown = await unknownRun;
  assert.is(hb.code, 0, hb.stdout + hb.stderr);
  assert.match(hb.stdout, /^HEARTBEAT OK - 2 accounts, 0 late \| accounts=2 late=0;0;4 /);
  // A group's limits are set as an account's are (`setlimit NAME SOFT HARD`); a soft limit above the hard one is refused.
  const inverted = await cli('groups', 'setlimit', 'site-a', '200K', '100K', ...db());
  assert.is(inverted.code, 2, inverted.stdout + inverted.stderr);
  assert.match(inverted.stderr, /LIMITS_INVALID/);
  const limited = await cli('groups', 'setlimit', 'site-a', '50K', '100K', '--json', ...db());
  assert.is(limited.code, 0, limited.stderr);
  assert.equal(JSON.parse(limited.stdout), { ...JSON.parse(limited.stdout), softBytes: 50 * 1024, hardBytes: 100 * 1024 });
  assert.is((await cli('groups', 'set', 'site-a', '--admin', 'ops-a2@example.org', ...db())).code, 0);
  const space = await cli('check-nagios', 'space', ...db());
  assert.is(space.code, 1, space.stdout);
  assert.match(space.stdout, /^SPACE WARNING - .*over soft limit: group site-a/);
  assert.is(ledger.code, 0, ledger.stdout);
  assert.match(ledger.stdout, /^LEDGER OK - \d+ blocks verified/);
  assert.is(tampered.code, 2, tampered.stdout);
  assert.match(tampered.stdout, /^LEDGER CRITICAL - verification failed/);
  assert.is(unknown.code, 3);
  assert.match(unknown.stdout, /^HEARTBEAT UNKNOWN - /);
});

test.run();
