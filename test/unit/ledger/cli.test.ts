// `2baksa ledger verify | show` end to end: the real launcher on the golden fixtures (DESIGN §1 auditor;
// §7 "every command prints a table for people, and JSON for scripts").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const fixtures = join(root, 'test/fixtures/ledger');

function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['cli/2baksa.mjs', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('verify a good ledger directory: exit 0, height, blocks, signers', async () => {
  const r = await run('ledger', 'verify', join(fixtures, 'good'));
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok\s+true$/m);
  assert.match(r.stdout, /^height\s+4$/m);
  assert.match(r.stdout, /^blocks\s+5$/m);
  assert.match(r.stdout, /^signers\s+node-1, node-2, node-3, node-4$/m);
});

test('verify --json on the block log file itself', async () => {
  const r = await run('ledger', 'verify', join(fixtures, 'good', 'blocks.log'), '--json');
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.is(out.ok, true);
  assert.is(out.height, 4);
  assert.is(out.blocks, 5);
  assert.equal(out.signers, ['node-1', 'node-2', 'node-3', 'node-4']);
  assert.is(out.quorum, 3);
});

test('a bad ledger: exit 1, naming the first bad height and why', async () => {
  const r = await run('ledger', 'verify', join(fixtures, 'no-quorum'), '--json');
  assert.is(r.code, 1);
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.is(out.ok, false);
  assert.is(out.badHeight, 3);
  assert.is(out.reason, 'NO_QUORUM');
  const table = await run('ledger', 'verify', join(fixtures, 'tampered-record'));
  assert.is(table.code, 1);
  assert.match(table.stderr, /bad at height 2: .*\[BAD_MERKLE_ROOT\]/);
});

test('a torn tail passes with a warning, and fails under --strict', async () => {
  const r = await run('ledger', 'verify', join(fixtures, 'torn-tail'));
  assert.is(r.code, 0);
  assert.match(r.stderr, /torn write/);
  const strict = await run('ledger', 'verify', join(fixtures, 'torn-tail'), '--strict', '--json');
  assert.is(strict.code, 1);
  assert.is((JSON.parse(strict.stdout) as { tornTailBytes: number }).tornTailBytes, 37);
});

test('usage errors are not chain failures', async () => {
  const missing = await run('ledger', 'verify', join(fixtures, 'does-not-exist'));
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /LEDGER_NOT_FOUND/);
  const noArg = await run('ledger', 'verify');
  assert.is(noArg.code, 2);
  const notLedger = await run('ledger', 'verify', join(fixtures, 'make.ts'), '--validators', join(fixtures, 'good', 'validators.json'));
  assert.is(notLedger.code, 4);
  assert.match(notLedger.stderr, /LEDGER_FORMAT/);
  const noLedgerDir = await run('ledger', 'verify', join(root, 'test', 'fixtures'));
  assert.is(noLedgerDir.code, 2);
  assert.match(noLedgerDir.stderr, /no ledger in .*fixtures \(no blocks\.log there, nor in edge\/ledger\/ under it\)/);
});

test("an agent's state directory stands for its site ledger (STATE/edge/ledger)", async () => {
  const state = mkdtempSync(join(tmpdir(), 'baksa-ledger-state-'));
  try {
    mkdirSync(join(state, 'edge'), { recursive: true });
    cpSync(join(fixtures, 'good'), join(state, 'edge', 'ledger'), { recursive: true });
    const r = await run('ledger', 'verify', state, '--json');
    assert.is(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ok: boolean; height: number; path: string };
    assert.equal([out.ok, out.height], [true, 4]);
    assert.is(out.path, join(state, 'edge', 'ledger', 'blocks.log'));
  } finally {
    rmSync(state, { recursive: true, force: true });
  }
});

test('show lists blocks and prints one block with its records', async () => {
  const list = await run('ledger', 'show', join(fixtures, 'good'), '--json');
  assert.is(list.code, 0, list.stderr);
  const rows = JSON.parse(list.stdout) as { height: number; records: number; signers: string[] }[];
  assert.equal(rows.map((r) => r.height), [0, 1, 2, 3, 4]);
  assert.equal(rows.map((r) => r.records), [1, 2, 3, 1, 2]);
  const one = await run('ledger', 'show', join(fixtures, 'good'), '--height', '2', '--json');
  assert.is(one.code, 0, one.stderr);
  const block = JSON.parse(one.stdout) as { height: number; records: { account: string; txId: string }[]; hash: string };
  assert.is(block.height, 2);
  assert.is(block.records.length, 3);
  assert.match(block.records[0]!.txId, /^[0-9a-f]{32}$/);
  assert.is(rows.length, 5);
  const table = await run('ledger', 'show', join(fixtures, 'good'));
  assert.match(table.stdout, /^HEIGHT\s+TIME\s+RECORDS\s+SIGNERS\s+HASH$/m);
  const far = await run('ledger', 'show', join(fixtures, 'good'), '--height', '9');
  assert.is(far.code, 2);
  assert.match(far.stderr, /BLOCK_NOT_FOUND/);
});

test.run();
