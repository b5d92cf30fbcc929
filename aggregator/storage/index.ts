/**
 * aggregator/storage: the cluster's erasure-coded, rack-aware blob and object store. `ClusterStore`
 * writes each blob as one Reed–Solomon stripe over the storage nodes and heals what it reads; objects
 * are streamed as segments plus a manifest. Peers are the members as the store sees them: this node's
 * own shard store (`LocalShardPeer`) or another node's internal shard routes (`HttpShardPeer`).
 */
export {
  ClusterStore,
  defaultClusterStoreOptions,
  type BlobRead,
  type ClusterMember,
  type ClusterStoreOptions,
  type PutObjectOptions,
  type ScrubResult,
} from './cluster-store.ts';
export { putShardsGrouped, type PutOutcome, type ShardToStore } from './group-put.ts';
export { HttpShardPeer, LocalShardPeer, defaultHttpShardPeerOptions, defaultShardBatchLimits, type HttpShardPeerOptions, type LocalShardPeerOptions, type ShardPeer } from './peers.ts';
export { checkBlobRef, checkObjectRef, decodeManifest, encodeManifest, type BlobRef, type Manifest, type ObjectRef } from './refs.ts';
export { DATA_SHARDS_MAX_DEFAULT, defaultGeometry, type Geometry } from './geometry.ts';
export { ClusterStoreErrorCode, type ShardFailure } from './errors.ts';
