/**
 * shared/storage: the content-addressed shard store. `ShardStore` is the contract; `FsShardStore` keeps
 * shards on one or more volume directories with crash-safe staging and commit; `MemoryShardStore` is
 * the in-memory twin for tests and simulation.
 */
export type { GetIntoOptions, ShardStore, StagedTransaction, VolumeSpace } from './store.ts';
export { SHARD_BYTES_MAX_DEFAULT } from './store.ts';
export { FsShardStore, defaultFsShardStoreOptions, type FsShardStoreOptions } from './fs-store.ts';
export { MemoryShardStore, defaultMemoryShardStoreOptions, type MemoryShardStoreOptions } from './memory-store.ts';
export { shardIdOf, isShardId, isTxId, checkShardId, checkTxId, SHARD_ID_HEX_CHARS, TX_ID_CHARS_MAX } from './ids.ts';
export { StorageErrorCode } from './errors.ts';
export { rankVolumes, type WeightedVolume } from './placement.ts';
export type { RecoveryReport } from './fs-commit.ts';
