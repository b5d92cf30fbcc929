// The agent catalog (STATE/catalog.db): snapshots, chunks, shard locations, file states, meta.
export { Catalog } from './catalog.ts';
export type { SnapshotRecord, SnapshotType, ChunkRecord, ShardRecord, FileState } from './catalog.ts';
export { packChunkList, unpackChunkList } from './chunk-list.ts';
export type { ChunkRef } from './chunk-list.ts';
export { catalogMigrations } from './schema.ts';
