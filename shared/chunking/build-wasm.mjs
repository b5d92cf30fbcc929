#!/usr/bin/env node
// Builds the FastCDC kernel (gear.wat → gear.wasm) with the `wabt` package, so a backup never pays
// wabt's start-up (~100 ms, ~10 MB) at run time. Runs at `npm install` (the "prepare" script) and
// `npm run build`, beside shared/erasure/wasm/build.mjs. It never fails the install: on any problem
// it logs one line and exits 0, and the chunker compiles gear.wat in-process (or runs its TypeScript
// kernel) as before. `--out DIR` writes elsewhere.
//
// The binary ends in a custom section `baksa-source-sha256` holding the SHA-256 of the gear.wat it
// was built from; the loader (wasm.ts) ignores a gear.wasm whose hash does not match the gear.wat
// beside it, so an edited .wat is never shadowed by a stale build.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { outDirArg, runInstallStep, writeWasm } from '../wasm-install.mjs';

const here = dirname(fileURLToPath(import.meta.url));

export const SOURCE_HASH_SECTION = 'baksa-source-sha256';

/** SHA-256 (raw 32 bytes) of the WAT text the binary comes from. */
export function sourceHash(watText) {
  return createHash('sha256').update(watText, 'utf8').digest();
}

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** `binary` with a custom section (id 0) appended: valid anywhere after the header. */
export function withCustomSection(binary, name, payload) {
  const nameBytes = Buffer.from(name, 'utf8');
  const body = Buffer.concat([Buffer.from(leb128(nameBytes.length)), nameBytes, Buffer.from(payload)]);
  return Buffer.concat([Buffer.from(binary), Buffer.from([0, ...leb128(body.length)]), body]);
}

/** Compiles gear.wat text to a validated binary carrying the hash of its source. */
export async function compileGearWat(watText, wabtModule) {
  const wabt = await (wabtModule ?? (await import('wabt')).default)();
  const module = wabt.parseWat('gear.wat', watText);
  try {
    module.resolveNames();
    module.validate();
    const { buffer } = module.toBinary({ log: false, write_debug_names: false });
    return withCustomSection(buffer, SOURCE_HASH_SECTION, sourceHash(watText));
  } finally {
    module.destroy();
  }
}

async function main() {
  const started = Date.now();
  const wat = await readFile(join(here, 'gear.wat'), 'utf8');
  const binary = await compileGearWat(wat);
  const target = await writeWasm(outDirArg(here), 'gear.wasm', binary);
  console.log(`chunking: built ${target} (${binary.length} bytes) in ${Date.now() - started} ms`);
}

runInstallStep(import.meta.url, (why) => `chunking: could not prebuild gear.wasm (${why}); the chunker will compile gear.wat when it runs`, main);
