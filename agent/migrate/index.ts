// Migration to the cloud (offer, upload what is missing, record, keep the receipt) and restore from it.
export { Pacer, insideWindow, migrate, priorityClassesOf } from './migrate.ts';
export type { MigrateOptions, MigrateProgress, MigratePhase, MigrateSummary, SnapshotMigration } from './migrate.ts';
export { CloudClient, FailoverTransport, clusterNodeUrls, gatewayConnectOptions, serverList, CLOUD_BATCH_MAX, FETCH_BATCH_BYTES_MAX, FETCH_BATCH_CHUNKS_MAX, UPLOAD_BATCH_BYTES_MAX, UPLOAD_BATCH_CHUNKS_MAX, batches, sizedGroups } from './cloud-client.ts';
export type { ApiTransport, ChunkInfo, ChunkOffer, CloudSnapshot, CloudTarget, SnapshotReceipt, SnapshotRecordBody } from './cloud-client.ts';
export { CloudChunkReader } from './cloud-reader.ts';
export type { CloudChunkReaderOptions } from './cloud-reader.ts';
export { runCloudRestore, openCloudSource, listCloudSnapshots } from './cloud-restore.ts';
export type { CloudRestorable, CloudSource } from './cloud-restore.ts';
export { collectChunkIds, migrationOrder, pendingSnapshots, receiptKey, megabytesPerSecond, findByRef } from './plan.ts';
