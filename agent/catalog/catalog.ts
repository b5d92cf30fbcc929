/**
 * The agent catalog over sqlite3 (WAL, synchronous=FULL): snapshots, chunks and their shard locations,
 * the per-file state for incremental backups, and small meta values. All writes that belong together run in
 * one transaction, so a crash leaves either the old or the new state.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { Database, migrate } from '../../shared/db/index.ts';
import { catalogMigrations } from './schema.ts';
import { packChunkList, unpackChunkList, type ChunkRef } from './chunk-list.ts';

export type SnapshotType = 'snapshot' | 'lazy';

export interface SnapshotRecord {
  id: string;
  timeMs: number;
  type: SnapshotType;
  host: string;
  paths: string[];
  /** Chunk ids of the encrypted manifest, in order. */
  rootChunks: string[];
  fileCount: number;
  /** Logical bytes of the files in the snapshot. */
  bytes: number;
  /** Plaintext bytes of chunks this snapshot stored for the first time. */
  bytesNew: number;
  /** Bytes written to the shard store for those chunks (data shards, without parity). */
  storedNew: number;
  durationMs: number;
  /** Files skipped (unreadable, changing while read). */
  skipped: number;
  /** The profile it was taken with, as agent.json names it; absent for snapshots of older catalogs. */
  profile?: string;
}

export interface ShardRecord {
  idx: number;
  shardId: string;
  location: string;
}

export interface ChunkRecord {
  id: string;
  length: number;
  sealedLength: number;
  k: number;
  m: number;
  shardBytes: number;
  createdMs: number;
  shards: ShardRecord[];
}

export interface FileState {
  path: string;
  size: number;
  mtimeNs: string;
  inode: string;
  chunks: ChunkRef[];
  /**
   * The keyed hash (a chunk id) of the file's first HEAD_BYTES bytes, or all of it when shorter: how
   * an incremental run tells a grown log from a file rewritten as it grew. Absent in rows written
   * before it was kept.
   */
  head?: string;
  /** The keyed hash of its last TAIL_BYTES bytes (all of it when shorter); absent in older rows. */
  tail?: string;
  /** A small file's bytes, kept in the manifest instead of as chunks (`chunks` is then empty). */
  inline?: Uint8Array;
}

interface FileRow {
  path: string;
  size: number;
  mtime_ns: string;
  inode: string;
  chunks: Buffer;
  head: string | null;
  tail: string | null;
  inline: Buffer | null;
}

function fileStateOf(row: FileRow): FileState {
  return {
    path: row.path,
    size: row.size,
    mtimeNs: row.mtime_ns,
    inode: row.inode,
    chunks: unpackChunkList(row.chunks),
    ...(row.head !== null ? { head: row.head } : {}),
    ...(row.tail !== null ? { tail: row.tail } : {}),
    ...(row.inline !== null ? { inline: row.inline } : {}),
  };
}

/** The files (and files_staged) columns of a state, in table order. */
function fileRowOf(f: FileState): unknown[] {
  return [f.path, f.size, f.mtimeNs, f.inode, packChunkList(f.chunks), f.head ?? null, f.tail ?? null, f.inline ?? null];
}

interface SnapshotRow {
  id: string;
  time_ms: number;
  type: SnapshotType;
  host: string;
  paths: string;
  root_chunks: string;
  file_count: number;
  bytes: number;
  bytes_new: number;
  stored_new: number;
  duration_ms: number;
  skipped: number;
  profile: string | null;
}

interface ChunkRow {
  id: string;
  length: number;
  sealed_length: number;
  k: number;
  m: number;
  shard_bytes: number;
  created_ms: number;
}

/** Rows per multi-row INSERT (well under sqlite's 32766 bound parameters). */
const ROWS_PER_INSERT = 200;

function snapshotOf(r: SnapshotRow): SnapshotRecord {
  return {
    id: r.id,
    timeMs: r.time_ms,
    type: r.type,
    host: r.host,
    paths: JSON.parse(r.paths) as string[],
    rootChunks: JSON.parse(r.root_chunks) as string[],
    fileCount: r.file_count,
    bytes: r.bytes,
    bytesNew: r.bytes_new,
    storedNew: r.stored_new,
    durationMs: r.duration_ms,
    skipped: r.skipped,
    ...(r.profile !== null ? { profile: r.profile } : {}),
  };
}

async function insertRows(db: Database, head: string, width: number, rows: readonly unknown[][]): Promise<void> {
  const tuple = `(${new Array(width).fill('?').join(',')})`;
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const part = rows.slice(i, i + ROWS_PER_INSERT);
    await db.run(`${head} VALUES ${part.map(() => tuple).join(',')}`, part.flat());
  }
}

export class Catalog {
  readonly db: Database;

  private constructor(db: Database) {
    this.db = db;
  }

  static async open(path: string, options: { durable?: boolean } = {}): Promise<Catalog> {
    const db = await Database.open(path, { durable: options.durable ?? true });
    try {
      await migrate(db, catalogMigrations);
    } catch (error) {
      await db.close().catch(() => undefined);
      throw error;
    }
    return new Catalog(db);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  // ---- chunks ----

  async hasChunk(id: string): Promise<boolean> {
    return (await this.db.get('SELECT 1 AS x FROM chunks WHERE id = ?', [id])) !== undefined;
  }

  async getChunk(id: string): Promise<ChunkRecord | undefined> {
    const row = await this.db.get<ChunkRow>('SELECT * FROM chunks WHERE id = ?', [id]);
    if (!row) return undefined;
    const shards = await this.db.all<{ idx: number; shard_id: string; location: string }>(
      'SELECT idx, shard_id, location FROM shards WHERE chunk_id = ? ORDER BY idx',
      [id],
    );
    return this.chunkOf(row, shards.map((s) => ({ idx: s.idx, shardId: s.shard_id, location: s.location })));
  }

  /** Chunks in id order after `afterId`, with their shards; for walking the whole store in pages. */
  async chunkPage(afterId: string, limit: number): Promise<ChunkRecord[]> {
    const rows = await this.db.all<ChunkRow>('SELECT * FROM chunks WHERE id > ? ORDER BY id LIMIT ?', [afterId, limit]);
    if (rows.length === 0) return [];
    const last = rows[rows.length - 1]!.id;
    const shards = await this.db.all<{ chunk_id: string; idx: number; shard_id: string; location: string }>(
      'SELECT chunk_id, idx, shard_id, location FROM shards WHERE chunk_id > ? AND chunk_id <= ? ORDER BY chunk_id, idx',
      [afterId, last],
    );
    const byChunk = new Map<string, ShardRecord[]>();
    for (const s of shards) {
      let list = byChunk.get(s.chunk_id);
      if (!list) byChunk.set(s.chunk_id, (list = []));
      list.push({ idx: s.idx, shardId: s.shard_id, location: s.location });
    }
    return rows.map((r) => this.chunkOf(r, byChunk.get(r.id) ?? []));
  }

  /** Records chunks whose shards are committed. Known ids are left as they are. */
  async addChunks(records: readonly ChunkRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.db.transaction(async (tx) => {
      await insertRows(
        tx,
        'INSERT OR IGNORE INTO chunks (id, length, sealed_length, k, m, shard_bytes, created_ms)',
        7,
        records.map((r) => [r.id, r.length, r.sealedLength, r.k, r.m, r.shardBytes, r.createdMs]),
      );
      await insertRows(
        tx,
        'INSERT OR IGNORE INTO shards (chunk_id, idx, shard_id, location)',
        4,
        records.flatMap((r) => r.shards.map((s) => [r.id, s.idx, s.shardId, s.location])),
      );
    });
  }

  /** Every chunk id, in pages (to build the dedup filter). */
  async forEachChunkId(fn: (ids: string[]) => void, pageRows = 20_000): Promise<number> {
    let after = '';
    let total = 0;
    for (;;) {
      const rows = await this.db.all<{ id: string }>('SELECT id FROM chunks WHERE id > ? ORDER BY id LIMIT ?', [after, pageRows]);
      if (rows.length === 0) return total;
      fn(rows.map((r) => r.id));
      total += rows.length;
      after = rows[rows.length - 1]!.id;
    }
  }

  async chunkCount(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM chunks'))?.n ?? 0;
  }

  /** Replaces a chunk's geometry and every shard record (a repair re-encoded it elsewhere), atomically. */
  async relayoutChunk(record: ChunkRecord): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.run('UPDATE chunks SET sealed_length = ?, k = ?, m = ?, shard_bytes = ? WHERE id = ?', [record.sealedLength, record.k, record.m, record.shardBytes, record.id]);
      await tx.run('DELETE FROM shards WHERE chunk_id = ?', [record.id]);
      await insertRows(tx, 'INSERT INTO shards (chunk_id, idx, shard_id, location)', 4, record.shards.map((s) => [record.id, s.idx, s.shardId, s.location]));
    });
  }

  async setShard(chunkId: string, shard: ShardRecord): Promise<void> {
    await this.db.run('INSERT OR REPLACE INTO shards (chunk_id, idx, shard_id, location) VALUES (?, ?, ?, ?)', [
      chunkId,
      shard.idx,
      shard.shardId,
      shard.location,
    ]);
  }

  async chunkStats(): Promise<{ chunks: number; bytes: number; sealedBytes: number; dataShardBytes: number; shards: number; shardBytes: number }> {
    const c = await this.db.get<{ n: number; b: number | null; s: number | null; d: number | null }>(
      'SELECT COUNT(*) AS n, SUM(length) AS b, SUM(sealed_length) AS s, SUM(shard_bytes * k) AS d FROM chunks',
    );
    const s = await this.db.get<{ n: number; b: number | null }>(
      'SELECT COUNT(*) AS n, SUM(c.shard_bytes) AS b FROM shards s JOIN chunks c ON c.id = s.chunk_id',
    );
    return { chunks: c?.n ?? 0, bytes: c?.b ?? 0, sealedBytes: c?.s ?? 0, dataShardBytes: c?.d ?? 0, shards: s?.n ?? 0, shardBytes: s?.b ?? 0 };
  }

  /** Deletes chunk rows (their shard rows go with them); returns the shard ids they had. */
  async deleteChunks(ids: readonly string[]): Promise<string[]> {
    const shardIds: string[] = [];
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) {
        const part = ids.slice(i, i + ROWS_PER_INSERT);
        const marks = part.map(() => '?').join(',');
        const rows = await tx.all<{ shard_id: string }>(`SELECT shard_id FROM shards WHERE chunk_id IN (${marks})`, part);
        for (const r of rows) shardIds.push(r.shard_id);
        await tx.run(`DELETE FROM chunks WHERE id IN (${marks})`, part);
      }
    });
    return shardIds;
  }

  /** The shards of `ids` no chunk row names any more (content-addressed shards may be shared). */
  async unreferencedShards(ids: readonly string[]): Promise<string[]> {
    const named = new Set<string>();
    for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) {
      const part = ids.slice(i, i + ROWS_PER_INSERT);
      const rows = await this.db.all<{ shard_id: string }>(`SELECT DISTINCT shard_id FROM shards WHERE shard_id IN (${part.map(() => '?').join(',')})`, part);
      for (const r of rows) named.add(r.shard_id);
    }
    return ids.filter((id) => !named.has(id));
  }

  /** The ids of `listing` (a shard store's) that no chunk row names, looked up a page at a time. */
  async *unreferencedOf(listing: AsyncIterable<string>, pageSize = 1000): AsyncGenerator<string> {
    let page: string[] = [];
    for await (const id of listing) {
      page.push(id);
      if (page.length < pageSize) continue;
      yield* await this.unreferencedShards(page);
      page = [];
    }
    yield* await this.unreferencedShards(page);
  }

  // ---- snapshots and files ----

  /**
   * Sets aside file states of a running backup (`files_staged`) until its snapshot commits them, so
   * the run need not hold them all in memory. Not part of any snapshot until then.
   */
  async stageFiles(changed: readonly FileState[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await insertRows(tx, 'INSERT OR REPLACE INTO files_staged (path, size, mtime_ns, inode, chunks, head, tail, inline)', 8, changed.map(fileRowOf));
    });
  }

  /** Forgets the states a backup set aside and never committed (one that crashed or was stopped). */
  async clearStagedFiles(): Promise<void> {
    await this.db.run('DELETE FROM files_staged');
  }

  /**
   * Commits a snapshot together with the file states it saw: upserts `changed` and every staged state
   * (`stageFiles`), removes `removed`. One transaction: the files table always matches some
   * committed snapshot.
   */
  async commitSnapshot(s: SnapshotRecord, changed: readonly FileState[], removed: readonly string[], meta: Record<string, string> = {}): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [key, value] of Object.entries(meta)) await tx.run('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', [key, value]);
      await tx.run(
        `INSERT INTO snapshots (id, time_ms, type, host, paths, root_chunks, file_count, bytes, bytes_new, stored_new, duration_ms, skipped, profile)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [s.id, s.timeMs, s.type, s.host, JSON.stringify(s.paths), JSON.stringify(s.rootChunks), s.fileCount, s.bytes, s.bytesNew, s.storedNew, s.durationMs, s.skipped, s.profile ?? null],
      );
      await insertRows(
        tx,
        'INSERT OR REPLACE INTO files (path, size, mtime_ns, inode, chunks, head, tail, inline)',
        8,
        changed.map(fileRowOf),
      );
      await tx.run(
        'INSERT OR REPLACE INTO files (path, size, mtime_ns, inode, chunks, head, tail, inline) SELECT path, size, mtime_ns, inode, chunks, head, tail, inline FROM files_staged',
      );
      await tx.run('DELETE FROM files_staged');
      for (let i = 0; i < removed.length; i += ROWS_PER_INSERT) {
        const part = removed.slice(i, i + ROWS_PER_INSERT);
        await tx.run(`DELETE FROM files WHERE path IN (${part.map(() => '?').join(',')})`, part);
      }
    });
  }

  async listSnapshots(): Promise<SnapshotRecord[]> {
    const rows = await this.db.all<SnapshotRow>('SELECT * FROM snapshots ORDER BY time_ms, id');
    return rows.map(snapshotOf);
  }

  /** A snapshot by id, unique id prefix, or `latest`. Throws SNAPSHOT_NOT_FOUND / SNAPSHOT_AMBIGUOUS. */
  async findSnapshot(ref: string): Promise<SnapshotRecord> {
    const rows =
      ref === 'latest'
        ? await this.db.all<SnapshotRow>('SELECT * FROM snapshots ORDER BY time_ms DESC, id DESC LIMIT 1')
        : /^[0-9a-f]{1,64}$/.test(ref)
          ? await this.db.all<SnapshotRow>('SELECT * FROM snapshots WHERE id >= ? AND id < ? LIMIT 2', [ref, `${ref}g`])
          : [];
    if (rows.length === 0) {
      throw new BaksaError('SNAPSHOT_NOT_FOUND', `no snapshot ${ref === 'latest' ? 'exists yet' : `matches "${ref}"`}`, {
        hint: ref === 'latest' ? 'run `2baksa backup` first' : 'list them with `2baksa snapshots`',
        exitCode: ExitCode.usage,
      });
    }
    if (rows.length > 1) {
      throw new BaksaError('SNAPSHOT_AMBIGUOUS', `more than one snapshot starts with "${ref}"`, {
        hint: 'give more characters of the id (see `2baksa snapshots`)',
        exitCode: ExitCode.usage,
      });
    }
    return snapshotOf(rows[0]!);
  }

  async deleteSnapshots(ids: readonly string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const id of ids) await tx.run('DELETE FROM snapshots WHERE id = ?', [id]);
    });
  }

  async getFile(path: string): Promise<FileState | undefined> {
    return (await this.getFiles([path])).get(path);
  }

  /** The rows of these paths (a few hundred queries' worth in one), by path; a path without a row is absent. */
  async getFiles(paths: readonly string[]): Promise<Map<string, FileState>> {
    const found = new Map<string, FileState>();
    for (let i = 0; i < paths.length; i += ROWS_PER_INSERT) {
      const part = paths.slice(i, i + ROWS_PER_INSERT);
      const rows = await this.db.all<FileRow>(`SELECT * FROM files WHERE path IN (${part.map(() => '?').join(',')})`, part);
      for (const row of rows) found.set(row.path, fileStateOf(row));
    }
    return found;
  }

  async filePaths(): Promise<string[]> {
    return (await this.db.all<{ path: string }>('SELECT path FROM files')).map((r) => r.path);
  }

  /** Calls `fn` with the chunk ids of every file row, in pages (prune marks them live). */
  async forEachFileChunks(fn: (ids: string[]) => Promise<void>, pageRows = 500): Promise<void> {
    let after = '';
    for (;;) {
      const rows = await this.db.all<{ path: string; chunks: Buffer }>(
        'SELECT path, chunks FROM files WHERE path > ? ORDER BY path LIMIT ?',
        [after, pageRows],
      );
      if (rows.length === 0) return;
      await fn(rows.flatMap((r) => unpackChunkList(r.chunks).map((c) => c.id)));
      after = rows[rows.length - 1]!.path;
    }
  }

  // ---- reachability (prune) and structure (check) ----

  /** Starts a mark phase: an empty temp table of live chunk ids on this connection. */
  async beginMark(): Promise<void> {
    await this.db.exec('DROP TABLE IF EXISTS temp.live; CREATE TEMP TABLE live (id TEXT PRIMARY KEY) WITHOUT ROWID');
  }

  async markLive(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction(async (tx) => {
      await insertRows(tx, 'INSERT OR IGNORE INTO temp.live (id)', 1, ids.map((id) => [id]));
    });
  }

  /** Chunk ids that are not marked live. */
  async unmarkedChunks(): Promise<string[]> {
    return (await this.db.all<{ id: string }>('SELECT id FROM chunks WHERE id NOT IN (SELECT id FROM temp.live)')).map((r) => r.id);
  }

  /** Live ids with no chunk row (a reference to a chunk the catalog does not hold). */
  async markedButMissing(limit = 1000): Promise<string[]> {
    return (await this.db.all<{ id: string }>('SELECT id FROM temp.live WHERE id NOT IN (SELECT id FROM chunks) LIMIT ?', [limit])).map((r) => r.id);
  }

  async endMark(): Promise<void> {
    await this.db.exec('DROP TABLE IF EXISTS temp.live');
  }

  /** Chunks with fewer shard rows than k + m (under k: unrecoverable here). */
  async chunksShortOfShards(): Promise<Array<{ id: string; k: number; m: number; shards: number }>> {
    return this.db.all<{ id: string; k: number; m: number; shards: number }>(
      `SELECT c.id, c.k, c.m, COUNT(s.idx) AS shards FROM chunks c LEFT JOIN shards s ON s.chunk_id = c.id
       GROUP BY c.id HAVING COUNT(s.idx) < c.k + c.m`,
    );
  }

  // ---- sealed-object hashes (migration) ----

  /** Plaintext and sealed lengths of the chunks of `ids` the catalog holds. */
  async chunkLengths(ids: readonly string[]): Promise<Map<string, { length: number; sealedLength: number }>> {
    const out = new Map<string, { length: number; sealedLength: number }>();
    for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) {
      const part = ids.slice(i, i + ROWS_PER_INSERT);
      const rows = await this.db.all<{ id: string; length: number; sealed_length: number }>(
        `SELECT id, length, sealed_length FROM chunks WHERE id IN (${part.map(() => '?').join(',')})`,
        part,
      );
      for (const r of rows) out.set(r.id, { length: r.length, sealedLength: r.sealed_length });
    }
    return out;
  }

  /** The recorded SHA-256 (hex) of the sealed objects of `ids` that have one. */
  async sealedHashes(ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += ROWS_PER_INSERT) {
      const part = ids.slice(i, i + ROWS_PER_INSERT);
      const rows = await this.db.all<{ id: string; sha256: string }>(
        `SELECT id, sha256 FROM sealed_hashes WHERE id IN (${part.map(() => '?').join(',')})`,
        part,
      );
      for (const r of rows) out.set(r.id, r.sha256);
    }
    return out;
  }

  /** Records sealed-object hashes; a chunk deleted meanwhile is skipped (its row would dangle). */
  async setSealedHashes(hashes: ReadonlyMap<string, string>): Promise<void> {
    if (hashes.size === 0) return;
    await this.db.transaction(async (tx) => {
      for (const [id, sha256] of hashes) {
        await tx.run('INSERT OR REPLACE INTO sealed_hashes (id, sha256) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM chunks WHERE id = ?)', [id, sha256, id]);
      }
    });
  }

  // ---- meta ----

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.db.get<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]))?.value;
  }

  /** Meta keys that start with `prefix`. */
  async metaKeys(prefix: string): Promise<string[]> {
    const rows = await this.db.all<{ key: string }>('SELECT key FROM meta WHERE substr(key, 1, ?) = ?', [prefix.length, prefix]);
    return rows.map((r) => r.key);
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db.run('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)', [key, value]);
  }

  private chunkOf(r: ChunkRow, shards: ShardRecord[]): ChunkRecord {
    return {
      id: r.id,
      length: r.length,
      sealedLength: r.sealed_length,
      k: r.k,
      m: r.m,
      shardBytes: r.shard_bytes,
      createdMs: r.created_ms,
      shards,
    };
  }
}
