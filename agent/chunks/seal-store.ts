/**
 * Seal-and-store: compress → encrypt → erasure-code → stage the shards. Sealing runs on this thread
 * (small gateways: one thread, least memory) or on a sealer thread (bigger ones: compressing, sealing,
 * encoding and hashing the shards leave the main thread, which keeps reading, chunking, hashing the
 * chunk ids and staging: both cores busy). Staging always runs here, in the caller's store.
 */
import type { DataKeys } from '../../shared/crypto/keys.ts';
import { shardBytesFor, type ReedSolomon } from '../../shared/erasure/index.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { LazySealPool } from './seal-pool.ts';
import { sealChunkShards, type CompressionOptions, type SealedParts } from './codec.ts';

export interface StoredChunk {
  shardIds: string[];
  shardBytes: number;
  sealedLength: number;
  /** The geometry, when the backend chose another than the writer's (an edge cluster short of members). */
  k?: number;
  m?: number;
}

/** k data shards (the sealed object, zero-padded) and m zeroed parity shards, views of one buffer. */
export function shardsOf(parts: SealedParts, k: number, m: number): Uint8Array[] {
  const size = shardBytesFor(parts.length, k);
  const buffer = new Uint8Array(size * (k + m));
  buffer.set(parts.header, 0);
  buffer.set(parts.sealed, parts.header.length);
  return Array.from({ length: k + m }, (_, i) => buffer.subarray(i * size, (i + 1) * size));
}

export async function sealAndStage(
  store: ShardStore,
  rs: ReedSolomon,
  keys: DataKeys,
  compression: CompressionOptions,
  txId: string,
  id: string,
  plain: Uint8Array,
  sealers?: LazySealPool,
): Promise<StoredChunk> {
  const k = rs.dataShards;
  const m = rs.parityShards;
  const sealed = await sealers?.seal(id, plain, k, m);
  if (sealed) {
    const shardIds = await Promise.all(sealed.shards.map((s, i) => store.putStaged(txId, s, sealed.shardIds[i])));
    return { shardIds, shardBytes: sealed.shardBytes, sealedLength: sealed.sealedLength };
  }
  const { shards, shardBytes, sealedLength } = await sealChunkShards(keys, id, plain, compression, k, m);
  if (m > 0) rs.encode(shards);
  const shardIds = await Promise.all(shards.map((s) => store.putStaged(txId, s)));
  return { shardIds, shardBytes, sealedLength };
}
