/**
 * The API's object sink on an aggregator node: objects are cut into segments, each erasure-coded
 * with the cluster's geometry and placed rack-aware over the nodes (aggregator/storage ClusterStore).
 * Where they went (the object's manifest reference) travels in the replicated `RecordObject`, so any
 * node can read any object back: it reads any k shards of each segment, verifies them, and heals the
 * ones it found missing or corrupt.
 *
 * An upload is written under a fresh key before its content hash (the object id) is known; the
 * layout remembers that key. An upload that is not recorded (a duplicate, or refused by a quota) is
 * discarded by the route; a crash in between leaves unreferenced shards, which cost space but never
 * correctness.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Database } from '../../shared/db/index.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { ObjectSink, PutOptions, StoredObjectInfo } from '../api/object-sink.ts';
import type { VolumeUsage } from '../reports/space.ts';
import type { ClusterStore, ObjectRef } from '../storage/index.ts';
import { chunkLayout } from '../api/routes-migration.ts';

/** What `RecordObject.layout` holds for a cluster object. */
export interface ClusterLayout {
  v: 1;
  key: string;
  ref: ObjectRef;
}

export function parseLayout(text: string | null | undefined): ClusterLayout | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as Partial<ClusterLayout>;
    return value.v === 1 && typeof value.key === 'string' && value.ref ? (value as ClusterLayout) : undefined;
  } catch {
    return undefined;
  }
}

export interface ClusterSinkOptions {
  cluster: string;
  node: string;
  logger: Logger;
}

export class ClusterObjectSink implements ObjectSink {
  constructor(
    private readonly db: Database,
    private readonly store: ClusterStore,
    private readonly local: ShardStore,
    private readonly options: ClusterSinkOptions,
  ) {}

  async put(account: number, data: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredObjectInfo> {
    const key = `${account.toString(16).padStart(8, '0')}/${randomBytes(12).toString('hex')}`;
    const ref = await this.store.putObject(key, data, { bytesMax: options.bytesMax });
    const layout: ClusterLayout = { v: 1, key, ref };
    return { objectId: ref.sha256, bytes: ref.length, existed: false, layout: JSON.stringify(layout) };
  }

  async layoutOf(account: number, objectId: string): Promise<ClusterLayout | undefined> {
    const row = await this.db.get<{ layout: string | null }>('SELECT layout FROM objects WHERE account = ? AND object_id = ?', [account, objectId]);
    return parseLayout(row?.layout);
  }

  async get(account: number, objectId: string): Promise<{ bytes: number; stream: Readable } | undefined> {
    const layout = await this.layoutOf(account, objectId);
    if (!layout) return undefined;
    return { bytes: layout.ref.length, stream: Readable.from(this.store.getObject(layout.key, layout.ref)) };
  }

  async delete(account: number, objectId: string, recorded?: string | null): Promise<boolean> {
    if (recorded !== undefined) {
      // A migrated chunk is one blob (routes-migration.ts ChunkLayout); anything else here is an object.
      const chunk = chunkLayout(recorded);
      if (chunk) {
        await this.store.deleteBlob(chunk.key, chunk.blob).catch((error: Error) => this.options.logger.warn({ err: error.message, key: chunk.key }, 'chunk shards not removed'));
        return true;
      }
      const layout = parseLayout(recorded);
      if (!layout) return false;
      await this.drop(layout);
      return true;
    }
    const layout = await this.layoutOf(account, objectId);
    if (!layout) return false;
    await this.drop(layout);
    return true;
  }

  async discard(_account: number, stored: StoredObjectInfo): Promise<void> {
    const layout = parseLayout(stored.layout);
    if (layout) await this.drop(layout);
  }

  private async drop(layout: ClusterLayout): Promise<void> {
    try {
      await this.store.deleteObject(layout.key, layout.ref);
    } catch (error) {
      this.options.logger.warn({ err: (error as Error).message, key: layout.key }, 'object shards not removed (they keep their space)');
    }
  }

  /** This node's own volumes (each node reports its own; the space report adds the rest from the database). */
  async volumes(): Promise<VolumeUsage[]> {
    const space = await this.local.space();
    return space.map((v) => ({
      cluster: this.options.cluster,
      node: this.options.node,
      volume: v.path,
      bytesUsed: v.usedBytes,
      bytesTotal: v.totalBytes ?? null,
      objects: v.shards,
    }));
  }
}
