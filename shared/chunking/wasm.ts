/**
 * The WebAssembly cut-point search: gear.wat, assembled in-process with wabt on first use and cached
 * for the life of the process. It finds exactly the boundaries of kernel.ts (about 2-3x faster, since
 * V8 cannot make the TypeScript loop tight enough), and the TypeScript kernel stays the fallback when
 * wabt or the .wat file is missing or WebAssembly is unavailable.
 *
 * The kernel hashes bytes in its own memory, so the wrapper copies at most WINDOW_BYTES at a time
 * into it; bytes before position min of a chunk are never hashed and so never copied. One instance
 * serves every chunker: a call is synchronous and leaves nothing behind in the scratch memory.
 */
import { readFile } from 'node:fs/promises';
import { GEAR } from './gear.ts';
import type { FindCut } from './kernel.ts';

const GEAR_BYTES = 1024;
const WINDOW_BYTES = 256 * 1024;
const PAGE_BYTES = 65536;

// The part of the WebAssembly API used here (the project's lib and @types/node 20 do not declare it).
export type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
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
let loadError: unknown;

/** Assembles gear.wat into a module (wabt is loaded only here). */
export async function buildWasmModule(): Promise<WasmModule> {
  if (!wasmApi) throw new Error('this runtime has no WebAssembly');
  const { default: wabtInit } = await import('wabt');
  const source = await readFile(new URL('./gear.wat', import.meta.url), 'utf8');
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

/** Builds the kernel once per process; resolves undefined (and keeps the reason) if it cannot. */
export function loadWasmFindCut(): Promise<FindCut | undefined> {
  loading ??= buildWasmModule()
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

/** Why the kernel could not be built, if it could not. */
export function wasmLoadError(): unknown {
  return loadError;
}
