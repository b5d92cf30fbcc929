// The prebuilt kernel (build-wasm.mjs at `npm install`): the build writes a gear.wasm that finds the
// same boundaries as the TypeScript kernel; the loader skips a build whose recorded source hash does not
// match the gear.wat beside it (so an edited .wat is never shadowed), skips a damaged file, and takes a
// build with no .wat beside it (a package without sources) as it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cutPoints } from '../../../shared/chunking/index.ts';
import { findCutTs } from '../../../shared/chunking/kernel.ts';
import { resolveChunkerOptions } from '../../../shared/chunking/options.ts';
import { loadPrebuiltModule, wasmFindCut } from '../../../shared/chunking/wasm.ts';
import { logLines, xorshiftBytes } from './data.ts';

const srcDir = fileURLToPath(new URL('../../../shared/chunking/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'baksa-gear-'));
const wasm = join(dir, 'gear.wasm');
const wat = join(dir, 'gear.wat');

test('the install step builds gear.wasm (exit 0) and it finds the same cuts as the TypeScript kernel', async () => {
  const out = execFileSync(process.execPath, [join(srcDir, 'build-wasm.mjs'), '--out', dir], { encoding: 'utf8' });
  assert.match(out, /built .*gear\.wasm/);
  copyFileSync(join(srcDir, 'gear.wat'), wat);
  const module = await loadPrebuiltModule([{ wasm, wat }]);
  assert.ok(module, 'the fresh build is accepted');
  const findCut = wasmFindCut(module!);
  const params = resolveChunkerOptions({ minBytes: 4096, avgBytes: 16384, maxBytes: 65536 });
  for (const data of [xorshiftBytes(3 << 20, 99), logLines(2 << 20, 5)]) {
    const cuts: number[] = [];
    let start = 0;
    while (start < data.length) {
      const cut = findCut(data, start, data.length, 0, { h: 0 }, params);
      start = cut < 0 ? data.length : cut;
      cuts.push(start);
    }
    assert.ok(cuts.length > 10);
    assert.equal(cuts, cutPoints(data, params, 'ts'));
    assert.is(findCut(data, 0, data.length, 0, { h: 0 }, params), findCutTs(data, 0, data.length, 0, { h: 0 }, params));
  }
});

test('a build of another gear.wat is skipped; with no gear.wat beside it, a build is taken as it is', async () => {
  writeFileSync(wat, `${readFileSync(join(srcDir, 'gear.wat'), 'utf8')}\n;; edited\n`);
  assert.is(await loadPrebuiltModule([{ wasm, wat }]), undefined);
  assert.ok(await loadPrebuiltModule([{ wasm, wat: join(dir, 'no-such.wat') }]));
  assert.ok(await loadPrebuiltModule([{ wasm, wat: undefined }]));
});

test('a damaged or missing gear.wasm is skipped, and the next candidate is tried', async () => {
  const bad = join(dir, 'bad.wasm');
  writeFileSync(bad, readFileSync(wasm).subarray(0, 40));
  copyFileSync(join(srcDir, 'gear.wat'), wat);
  assert.is(await loadPrebuiltModule([{ wasm: bad, wat: undefined }]), undefined);
  assert.is(await loadPrebuiltModule([{ wasm: join(dir, 'missing.wasm'), wat: undefined }]), undefined);
  assert.ok(await loadPrebuiltModule([{ wasm: bad, wat: undefined }, { wasm, wat }]));
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

test.run();
