/**
 * The catalog schema (STATE/catalog.db). Append migrations; never edit a shipped one.
 *
 * - snapshots: one row per committed snapshot; `root_chunks` are the chunk ids of its encrypted manifest.
 * - chunks: every chunk stored (plaintext length, sealed length, RS geometry). A chunk row is written only
 *   after its shards are committed in the shard store, so a row always means "restorable".
 * - shards: where each shard of a chunk is (`location` is 'local' on a lone gateway; peers later).
 * - files: the source state seen by the last backup (size, mtime, inode, chunk list) for incremental runs.
 *   Its chunks are live for prune, like those of every snapshot manifest (reachability, no refcounts).
 * - meta: small key/value state (last backup, counters for the heartbeat).
 * - sealed_hashes (2): SHA-256 of each chunk's sealed object, computed once when migration first offers the
 *   chunk to the cloud; a re-run asks the cloud about thousands of chunks without reading their shards again.
 *   The sealed object of a chunk never changes (a repair rebuilds the same bytes), so the value never goes stale.
 * - snapshots.profile (3): the profile the snapshot was taken with, as agent.json names it (name or path);
 *   migration orders by its priority class. NULL for snapshots from before: they migrate as `normal`.
 * - files.head (4) and files.tail (5): keyed hashes of a file's first and last 4 KiB, how an incremental
 *   run tells a grown log from a file rewritten as it grew (backup/file-reader.ts). NULL in older rows:
 *   those check the first and the last chunk instead.
 * - files.inline (6): the bytes of a small file kept in the manifest instead of as chunks
 *   (manifest/model.ts), so an unchanged one is not read again; its `chunks` list is empty.
 * - files_staged (7): file states a running backup has seen change, set aside so its memory stays bounded
 *   (a tree of many small files holds their bytes). The snapshot's commit moves them into `files` in
 *   its transaction; a run that does not commit leaves them, and the next run clears them first.
 */
export const catalogMigrations: readonly string[] = [
  `
  CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    time_ms INTEGER NOT NULL,
    type TEXT NOT NULL,
    host TEXT NOT NULL,
    paths TEXT NOT NULL,
    root_chunks TEXT NOT NULL,
    file_count INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    bytes_new INTEGER NOT NULL,
    stored_new INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    skipped INTEGER NOT NULL
  );
  CREATE INDEX snapshots_by_time ON snapshots(time_ms);
  CREATE TABLE chunks (
    id TEXT PRIMARY KEY,
    length INTEGER NOT NULL,
    sealed_length INTEGER NOT NULL,
    k INTEGER NOT NULL,
    m INTEGER NOT NULL,
    shard_bytes INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE shards (
    chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    shard_id TEXT NOT NULL,
    location TEXT NOT NULL,
    PRIMARY KEY (chunk_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX shards_by_shard ON shards(shard_id);
  CREATE TABLE files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    inode TEXT NOT NULL,
    chunks BLOB NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  CREATE TABLE sealed_hashes (
    id TEXT PRIMARY KEY REFERENCES chunks(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  `
  ALTER TABLE snapshots ADD COLUMN profile TEXT;
  `,
  `
  ALTER TABLE files ADD COLUMN head TEXT;
  `,
  `
  ALTER TABLE files ADD COLUMN tail TEXT;
  `,
  `
  ALTER TABLE files ADD COLUMN inline BLOB;
  `,
  `
  CREATE TABLE files_staged (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns TEXT NOT NULL,
    inode TEXT NOT NULL,
    chunks BLOB NOT NULL,
    head TEXT,
    tail TEXT,
    inline BLOB
  ) WITHOUT ROWID;
  `,
];
