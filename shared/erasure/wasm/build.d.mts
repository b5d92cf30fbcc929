/** Compiles WAT text to a validated wasm binary with SIMD enabled (see build.mjs). */
export function compileWat(watText: string, wabtModule?: () => Promise<unknown>): Promise<Uint8Array>;
