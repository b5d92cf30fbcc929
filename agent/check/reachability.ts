/**
 * Mark phase shared by prune and check: every chunk a snapshot manifest references (its root chunks and
 * every file's chunks) or the files table references is marked live in a temp table of the catalog.
 */
import type { Catalog, SnapshotRecord } from '../catalog/index.ts';
import type { ChunkReader } from '../chunks/index.ts';
import { openManifest } from '../manifest/index.ts';

const MARK_BATCH = 2000;

export interface MarkResult {
  /** Snapshots whose manifest could not be read or decoded. */
  unreadable: Array<{ snapshot: SnapshotRecord; error: string }>;
  entries: number;
}

export async function markReachable(catalog: Catalog, reader: ChunkReader, snapshots: readonly SnapshotRecord[]): Promise<MarkResult> {
  const result: MarkResult = { unreadable: [], entries: 0 };
  await catalog.beginMark();
  for (const snapshot of snapshots) {
    await catalog.markLive(snapshot.rootChunks);
    try {
      const manifest = await openManifest(reader, snapshot.rootChunks);
      let batch: string[] = [];
      for await (const entry of manifest.entries) {
        result.entries++;
        for (const c of entry.chunks ?? []) batch.push(c.id);
        if (batch.length >= MARK_BATCH) {
          await catalog.markLive(batch);
          batch = [];
        }
      }
      await catalog.markLive(batch);
    } catch (error) {
      result.unreadable.push({ snapshot, error: error instanceof Error ? error.message : String(error) });
    }
  }
  await catalog.forEachFileChunks((ids) => catalog.markLive(ids));
  return result;
}
