/** Custom section of gear.wasm that holds the SHA-256 of the gear.wat it was built from (see build-wasm.mjs). */
export const SOURCE_HASH_SECTION: string;
export function sourceHash(watText: string): Uint8Array;
export function withCustomSection(binary: Uint8Array, name: string, payload: Uint8Array): Uint8Array;
/** Compiles gear.wat text to a validated wasm binary carrying the hash of its source. */
export function compileGearWat(watText: string, wabtModule?: () => Promise<unknown>): Promise<Uint8Array>;
