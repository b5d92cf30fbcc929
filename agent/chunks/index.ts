// Chunks in the local shard store: the sealed-object codec, the writer (dedup, compress, encrypt, RS,
// stage, checkpoint) and the reader (fetch, verify, rebuild, decrypt).
export { sealChunk, openChunk, compress, chunkIdHex, chunkCorrupt, CHUNK_FORMAT, CHUNK_HEADER_BYTES } from './codec.ts';
export type { CompressionOptions } from './codec.ts';
export { ChunkWriter, defaultChunkWriterOptions } from './writer.ts';
export type { ChunkWriterOptions, ChunkWriterStats, AddedChunk, ChunkBackend } from './writer.ts';
export { ChunkReader, reedSolomon, chunkUnrecoverable } from './reader.ts';
export { sealAndStage, shardsOf } from './seal-store.ts';
export type { StoredChunk } from './seal-store.ts';
export { ChunkSealPool, sealersFor } from './seal-pool.ts';
export type { ShardProblem, FetchedShards, ChunkSource, ShardFetch } from './reader.ts';
