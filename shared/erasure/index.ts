/**
 * Reed–Solomon erasure coding of chunk ciphertext into shards (DESIGN §3 step 5).
 *
 *   const rs = await ReedSolomon.create(4, 2);            // or new ReedSolomon(4, 2)
 *   const shards = splitIntoShards(ciphertext, 4, 2);      // 4 data + 2 zeroed parity shards
 *   rs.encode(shards);                                     // fills the parity in place
 *   const back = rs.reconstruct([null, s1, s2, null, s4, s5], { dataOnly: true });
 *   joinShards(back, 4, ciphertext.length);
 */
export {
  ReedSolomon,
  defaultReedSolomonOptions,
  reedSolomonFor,
  totalShardsMax,
  type KernelChoice,
  type MaybeShard,
  type ReconstructOptions,
  type ReedSolomonOptions,
} from './reed-solomon.ts';
export { allocShards, joinShards, shardBytesFor, splitIntoShards, type ShardLayout } from './shards.ts';
export { ErasureErrorCode } from './errors.ts';
export type { KernelName } from './coding-matrix.ts';
export { loadSimdKernel, simdSupported } from './kernel-simd.ts';
