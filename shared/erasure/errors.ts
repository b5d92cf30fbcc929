/**
 * The erasure code's operating errors. Bad shards (wrong count, unequal sizes, too few left) are
 * refused before any byte is written, so a refused call never leaves half-coded output behind.
 */
import { BaksaError, ExitCode } from '../errors.ts';

export const ErasureErrorCode = {
  geometryInvalid: 'ERASURE_GEOMETRY_INVALID',
  shardCount: 'ERASURE_SHARD_COUNT',
  shardSize: 'ERASURE_SHARD_SIZE',
  shardInvalid: 'ERASURE_SHARD_INVALID',
  tooFewShards: 'ERASURE_TOO_FEW_SHARDS',
  kernelUnavailable: 'ERASURE_KERNEL_UNAVAILABLE',
} as const;

export function geometryInvalid(dataShards: number, parityShards: number, why: string): BaksaError {
  return new BaksaError(ErasureErrorCode.geometryInvalid, `Reed–Solomon ${dataShards}+${parityShards}: ${why}`, {
    hint: 'use whole numbers with data shards ≥ 1, parity shards ≥ 0 and data + parity ≤ 256',
    exitCode: ExitCode.config,
    details: { dataShards, parityShards },
  });
}

export function shardCount(expected: number, got: number): BaksaError {
  return new BaksaError(ErasureErrorCode.shardCount, `expected ${expected} shards, got ${got}`, {
    hint: 'pass one entry per shard of the geometry (null for a missing shard)',
    exitCode: ExitCode.data,
    details: { expected, got },
  });
}

export function shardSize(index: number, expected: number, got: number): BaksaError {
  return new BaksaError(ErasureErrorCode.shardSize, `shard ${index} has ${got} bytes, the others ${expected}`, {
    hint: 'every shard of one chunk has the same size; a shorter one is truncated or from another chunk',
    exitCode: ExitCode.data,
    details: { index, expected, got },
  });
}

export function shardInvalid(index: number, why: string): BaksaError {
  return new BaksaError(ErasureErrorCode.shardInvalid, `shard ${index}: ${why}`, {
    hint: 'give every shard its own Uint8Array (parity must not overlap any other shard)',
    exitCode: ExitCode.data,
    details: { index },
  });
}

export function tooFewShards(needed: number, present: number): BaksaError {
  return new BaksaError(ErasureErrorCode.tooFewShards, `${present} shards present, ${needed} needed to decode`, {
    hint: `fetch at least ${needed - present} more shard(s) of this chunk from other holders`,
    exitCode: ExitCode.unavailable,
    details: { needed, present },
  });
}

export function kernelUnavailable(why: string): BaksaError {
  return new BaksaError(ErasureErrorCode.kernelUnavailable, `the SIMD erasure kernel is unavailable: ${why}`, {
    hint: "run `npm run build`, create the coder with `await ReedSolomon.create(...)`, or use kernel 'auto' / 'ts'",
    exitCode: ExitCode.failure,
  });
}
