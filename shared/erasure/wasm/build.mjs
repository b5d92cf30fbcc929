#!/usr/bin/env node
// Builds the WebAssembly SIMD Reed–Solomon kernel (rs.wat → rs.wasm) with the `wabt` package.
// Runs at `npm install` (the "prepare" script) and `npm run build`. It never fails the install:
// on any problem it logs one line and exits 0, and the erasure code serves from its pure
// TypeScript kernel (or builds the kernel in-process later). `--out DIR` writes elsewhere.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { outDirArg, runInstallStep, writeWasm } from '../../wasm-install.mjs';

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
  const started = Date.now();
  const wat = await readFile(join(here, 'rs.wat'), 'utf8');
  const binary = await compileWat(wat);
  const target = await writeWasm(outDirArg(here), 'rs.wasm', binary);
  console.log(`erasure: built ${target} (${binary.length} bytes) in ${Date.now() - started} ms`);
}

runInstallStep(import.meta.url, (why) => `erasure: could not build the SIMD kernel (${why}); the TypeScript kernel will serve`, main);
