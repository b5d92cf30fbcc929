#!/usr/bin/env node
// Builds the WebAssembly SIMD Reed–Solomon kernel (rs.wat → rs.wasm) with the `wabt` package.
// Runs at `npm install` (the "prepare" script) and `npm run build`. It never fails the install:
// on any problem it logs one line and exits 0, and the erasure code serves from its pure
// TypeScript kernel (or builds the kernel in-process later). `--out DIR` writes elsewhere.
import { realpathSync } from 'node:fs';
import { readFile, writeFile, rename, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Compiles WAT text to a validated wasm binary (SIMD enabled). Shared with the runtime loader. */
export async function compileWat(watText, wabtModule) {
  const wabt = await (wabtModule ?? (await import('wabt')).default)();
  const features = { simd: true };
  const module = wabt.parseWat('rs.wat', watText, features);
  try {
    module.resolveNames();
    module.validate(features);
    return module.toBinary({ log: false, write_debug_names: false }).buffer;
  } finally {
    module.destroy();
  }
}

async function main() {
  const outIndex = process.argv.indexOf('--out');
  const outDir = outIndex > 0 ? process.argv[outIndex + 1] : here;
  const started = Date.now();
  const wat = await readFile(join(here, 'rs.wat'), 'utf8');
  const binary = await compileWat(wat);
  await mkdir(outDir, { recursive: true });
  const target = join(outDir, 'rs.wasm');
  const temp = `${target}.${process.pid}.tmp`;
  await writeFile(temp, binary);
  await rename(temp, target);
  console.log(`erasure: built ${target} (${binary.length} bytes) in ${Date.now() - started} ms`);
}

function isMain() {
  try {
    return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isMain()) {
  const giveUp = (why) => {
    console.warn(`erasure: could not build the SIMD kernel (${why}); the TypeScript kernel will serve`);
    process.exit(0);
  };
  // A build takes well under a second; never let a hang hold up `npm install`.
  const timer = setTimeout(() => giveUp('timed out after 60 s'), 60_000);
  timer.unref();
  main().then(
    () => clearTimeout(timer),
    (err) => giveUp(err?.message ?? String(err)),
  );
}
