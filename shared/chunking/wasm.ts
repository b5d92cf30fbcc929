/**
 * The WebAssembly cut-point search, loaded on first use and cached for the life of the process. It finds
 * exactly the boundaries of kernel.ts (about 2-3x faster, since V8 cannot make the TypeScript loop tight
 * enough).
 *
 * Loading, first that works: the prebuilt gear.wasm (build-wasm.mjs at `npm install`; it carries the
 * SHA-256 of its gear.wat and is skipped when the gear.wat beside it differs), then gear.wat assembled
 * in-process with wabt (~100 ms, ~10 MB: what every process paid before the prebuild), then the
 * TypeScript kernel (no wabt, no .wat, or no WebAssembly). BAKSA_CHUNKING_WASM_PATH names the gear.wasm
 * to try first (packaging, tests).
 *
 * The kernel hashes bytes in its own memory, so the wrapper copies at most WINDOW_BYTES at a time
 * into it; bytes before position min of a chunk are never hashed and so never copied. One instance
 * serves every chunker: a call is synchronous and leaves nothing behind in the scratch memory.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GEAR } from './gear.ts';
import type { FindCut } from './kernel.ts';

const GEAR_BYTES = 1024;
const WINDOW_BYTES = 256 * 1024;
const PAGE_BYTES = 65536;

// The part of the WebAssembly API used here (the project's lib and @types/node 20 do not declare it).
export type WasmModule = object;
interface WasmApi {
  Module: (new (bytes: Uint8Array) => WasmModule) & { customSections(module: WasmModule, name: string): ArrayBuffer[] };
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  h: { value: number };
  scan: (p: number, normal: number, q: number, h: number, maskS: number, maskL: number) => number;
}

let loading: Promise<FindCut | undefined> | undefined;
let loaded: FindCut | undefined;
let loadedFrom: 'prebuilt' | 'wat' | undefined;
let loadError: unknown;

/** The custom section of gear.wasm holding the SHA-256 of its gear.wat (build-wasm.mjs writes it). */
export const SOURCE_HASH_SECTION = 'baksa-source-sha256';

/**
 * Directories that may hold gear.wasm and gear.wat: next to this file, and the source tree when this
 * runs compiled from dist/. The environment's override comes first.
 */
function wasmCandidates(): Array<{ wasm: string; wat: string | undefined }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const out: Array<{ wasm: string; wat: string | undefined }> = [];
  const override = process.env.BAKSA_CHUNKING_WASM_PATH;
  if (override !== undefined && override !== '') out.push({ wasm: override, wat: undefined });
  for (const dir of [here, join(here, '../../../shared/chunking')]) out.push({ wasm: join(dir, 'gear.wasm'), wat: join(dir, 'gear.wat') });
  return out;
}

async function readOrUndefined(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch {
    return undefined;
  }
}

/**
 * The prebuilt kernel module, if one is found whose recorded source hash matches the gear.wat beside it
 * (with no gear.wat beside it, as in a package without sources, the build is taken as it is).
 */
export async function loadPrebuiltModule(candidates = wasmCandidates()): Promise<WasmModule | undefined> {
  if (!wasmApi) return undefined;
  for (const c of candidates) {
    const bytes = await readOrUndefined(c.wasm);
    if (bytes === undefined) continue;
    let module: WasmModule;
    try {
      module = new wasmApi.Module(bytes);
    } catch {
      continue; // torn or foreign file: try the next, or the .wat
    }
    const wat = c.wat === undefined ? undefined : await readOrUndefined(c.wat);
    if (wat !== undefined) {
      const recorded = wasmApi.Module.customSections(module, SOURCE_HASH_SECTION);
      const actual = createHash('sha256').update(wat).digest();
      if (recorded.length !== 1 || !actual.equals(Buffer.from(recorded[0]!))) continue; // stale build
    }
    return module;
  }
  return undefined;
}

/** Assembles gear.wat into a module (wabt is loaded only here). */
export async function buildWasmModule(): Promise<WasmModule> {
  if (!wasmApi) throw new Error('this runtime has no WebAssembly');
  const { default: wabtInit } = await import('wabt');
  let source: string | undefined;
  for (const c of wasmCandidates()) source ??= (await readOrUndefined(c.wat ?? ''))?.toString('utf8');
  if (source === undefined) throw new Error('gear.wat not found next to the chunker or in the source tree');
  const wabt = await wabtInit();
  const parsed = wabt.parseWat('gear.wat', source);
  try {
    parsed.validate();
    return new wasmApi.Module(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
}

/** Binds an instance of the kernel module to the FindCut signature. */
export function wasmFindCut(module: WasmModule): FindCut {
  if (!wasmApi) throw new Error('this runtime has no WebAssembly');
  const { memory, h: hashOut, scan } = new wasmApi.Instance(module, {}).exports as KernelExports;
  const pagesNeeded = Math.ceil((GEAR_BYTES + WINDOW_BYTES) / PAGE_BYTES);
  const pagesHave = memory.buffer.byteLength / PAGE_BYTES;
  if (pagesNeeded > pagesHave) memory.grow(pagesNeeded - pagesHave);
  const table = new DataView(memory.buffer, 0, GEAR_BYTES);
  for (let b = 0; b < 256; b++) table.setUint32(b * 4, GEAR[b]!, true); // wasm memory is little-endian
  const bytes = new Uint8Array(memory.buffer);

  return function findCutWasm(buf, from, end, before, state, params) {
    const start = from - before;
    const hashFrom = start + params.minBytes;
    const normal = start + params.avgBytes;
    const stop = start + params.maxBytes;
    const until = end < stop ? end : stop;
    const { maskS, maskL } = params;
    let i = from > hashFrom ? from : hashFrom;
    let h = state.h | 0;
    while (i < until) {
      const n = until - i < WINDOW_BYTES ? until - i : WINDOW_BYTES;
      bytes.set(buf.subarray(i, i + n), GEAR_BYTES);
      const normalAt = normal - i < 0 ? 0 : normal - i > n ? n : normal - i;
      const cut = scan(GEAR_BYTES, GEAR_BYTES + normalAt, GEAR_BYTES + n, h, maskS, maskL);
      if (cut !== 0) return i + (cut - GEAR_BYTES);
      h = hashOut.value;
      i += n;
    }
    if (stop <= end) return stop;
    state.h = h;
    return -1;
  };
}

/** Loads the kernel once per process; resolves undefined (and keeps the reason) if it cannot. */
export function loadWasmFindCut(): Promise<FindCut | undefined> {
  loading ??= (async () => {
    const prebuilt = await loadPrebuiltModule();
    loadedFrom = prebuilt ? 'prebuilt' : 'wat';
    return prebuilt ?? (await buildWasmModule());
  })()
    .then((module) => (loaded = wasmFindCut(module)))
    .catch((error: unknown) => {
      loadError = error;
      return undefined;
    });
  return loading;
}

/** The kernel if loadWasmFindCut has finished building it, else undefined. */
export function wasmFindCutIfLoaded(): FindCut | undefined {
  return loaded;
}

/** Where the loaded kernel came from: the prebuilt gear.wasm or gear.wat compiled in-process. */
export function wasmKernelSource(): 'prebuilt' | 'wat' | undefined {
  return loaded === undefined ? undefined : loadedFrom;
}

/** Why the kernel could not be built, if it could not. */
export function wasmLoadError(): unknown {
  return loadError;
}
