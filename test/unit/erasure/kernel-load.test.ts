// Building and loading the SIMD kernel: build.mjs writes a valid rs.wasm, and when rs.wasm is
// missing the coder falls back to TS with one log line, or builds it in-process from rs.wat.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ReedSolomon, simdSupported } from '../../../shared/erasure/index.ts';
import { compileWat } from '../../../shared/erasure/wasm/build.mjs';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const wasmDir = join(root, 'shared/erasure/wasm');

test('build.mjs builds rs.wasm from rs.wat, identical to an in-process compile', async () => {
  const out = mkdtempSync(join(tmpdir(), 'baksa-rs-'));
  try {
    const run = spawnSync(process.execPath, [join(wasmDir, 'build.mjs'), '--out', out], { encoding: 'utf8' });
    assert.is(run.status, 0, run.stderr);
    assert.match(run.stdout, /built .*rs\.wasm/);
    const built = readFileSync(join(out, 'rs.wasm'));
    const again = await compileWat(readFileSync(join(wasmDir, 'rs.wat'), 'utf8'));
    assert.equal(new Uint8Array(built), again);
    assert.equal([...built.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('compileWat refuses broken WAT (build.mjs would log and let the TS kernel serve)', async () => {
  let failed = false;
  try {
    await compileWat('(module (func (result v128) i32.const 0))');
  } catch {
    failed = true;
  }
  assert.ok(failed);
});

test('missing rs.wasm: auto falls back to TS with one log line, simd refuses, create builds it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-rs-'));
  const wasmPath = join(dir, 'rs.wasm');
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test/unit/erasure/fixtures/fallback.ts')], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, BAKSA_ERASURE_WASM_PATH: wasmPath, BAKSA_LOG_LEVEL: 'info' },
    });
    assert.is(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
    assert.is(result.first, 'ts');
    assert.is(result.second, 'ts');
    assert.is(result.simdError, 'ERASURE_KERNEL_UNAVAILABLE');
    assert.is(run.stderr.split('\n').filter((l) => l.includes('erasure kernel')).length, 1, run.stderr);
    const shards = [Uint8Array.of(1, 2, 3, 4), Uint8Array.of(5, 6, 7, 8), new Uint8Array(4)];
    new ReedSolomon(2, 1, { kernel: 'ts' }).encode(shards);
    assert.equal(result.parity, [...shards[2]!]);
    assert.equal(result.parity, [9, 10, 11, 28]); // 3·a ^ 2·b: row [3, 2] of the 2+1 matrix
    if (simdSupported()) {
      assert.is(result.created, 'simd');
      assert.ok(existsSync(wasmPath), 'the in-process build is saved for the next process');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
