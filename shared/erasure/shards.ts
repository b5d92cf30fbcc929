/**
 * Cutting a byte string into k equal data shards and joining them back.
 *
 * Shard size is ceil(length / k) rounded up to a multiple of 4 (the TS kernel then works in 32-bit
 * words), the last shard is zero-padded, and the original length has to be kept beside the shards
 * (the manifest does) to strip the padding on the way back.
 */
import { BaksaError, ExitCode } from '../errors.ts';
import { ErasureErrorCode, geometryInvalid, shardCount, shardSize } from './errors.ts';
import { totalShardsMax } from './reed-solomon.ts';

/** Bytes per shard for `length` bytes of data over k data shards. */
export function shardBytesFor(length: number, dataShards: number): number {
  return (Math.ceil(length / dataShards) + 3) & ~3;
}

/** k + m shards of equal size as views of one buffer, for `length` bytes of data (see `allocShards`). */
export interface ShardLayout {
  buffer: Uint8Array;
  shards: Uint8Array[];
  shardBytes: number;
}

/**
 * The shard buffer for `length` bytes of data, to be written in place (e.g. by `sealInto`) instead of
 * copied in by `splitIntoShards`. Its first `length` bytes are NOT initialised: the caller fills all of
 * them; the padding after them is zeroed, and so are the parity shards.
 */
export function allocShards(length: number, dataShards: number, parityShards = 0): ShardLayout {
  if (!Number.isInteger(dataShards) || dataShards < 1 || !Number.isInteger(parityShards) || parityShards < 0 ||
    dataShards + parityShards > totalShardsMax) {
    throw geometryInvalid(dataShards, parityShards, 'not a valid geometry');
  }
  const size = shardBytesFor(length, dataShards);
  const total = dataShards + parityShards;
  const raw = Buffer.allocUnsafeSlow(size * total);
  const buffer = new Uint8Array(raw.buffer, raw.byteOffset, raw.length);
  buffer.fill(0, length);
  const shards: Uint8Array[] = [];
  for (let i = 0; i < total; i++) shards.push(buffer.subarray(i * size, (i + 1) * size));
  return { buffer, shards, shardBytes: size };
}

/**
 * Copies `data` into k data shards followed by `parityShards` zeroed parity shards, all views of one
 * new buffer, ready for `ReedSolomon.encode`.
 */
export function splitIntoShards(data: Uint8Array, dataShards: number, parityShards = 0): Uint8Array[] {
  if (!Number.isInteger(dataShards) || dataShards < 1 || !Number.isInteger(parityShards) || parityShards < 0 ||
    dataShards + parityShards > totalShardsMax) {
    throw geometryInvalid(dataShards, parityShards, 'not a valid geometry');
  }
  const size = shardBytesFor(data.length, dataShards);
  const total = dataShards + parityShards;
  const buffer = new Uint8Array(size * total);
  buffer.set(data);
  const shards: Uint8Array[] = [];
  for (let i = 0; i < total; i++) shards.push(buffer.subarray(i * size, (i + 1) * size));
  return shards;
}

/** The first `length` bytes of the k data shards laid end to end (extra shards are ignored). */
export function joinShards(shards: readonly Uint8Array[], dataShards: number, length: number): Uint8Array {
  if (shards.length < dataShards) throw shardCount(dataShards, shards.length);
  const size = shards[0]?.length ?? 0;
  for (let i = 0; i < dataShards; i++) {
    if (shards[i]!.length !== size) throw shardSize(i, size, shards[i]!.length);
  }
  if (!Number.isInteger(length) || length < 0 || length > size * dataShards) {
    throw new BaksaError(ErasureErrorCode.shardSize, `${dataShards} shards of ${size} bytes cannot hold ${length} bytes`, {
      hint: 'the recorded length does not belong to these shards; check the manifest entry',
      exitCode: ExitCode.data,
      details: { dataShards, shardBytes: size, length },
    });
  }
  const out = new Uint8Array(length);
  for (let i = 0, at = 0; at < length; i++, at += size) {
    out.set(shards[i]!.subarray(0, Math.min(size, length - at)), at);
  }
  return out;
}
