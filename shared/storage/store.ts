/**
 * The shard store contract. Every implementation (the filesystem store, the in-memory store used by
 * tests and the simulator, and any later backend) passes the contract suite in
 * test/unit/storage/contract.ts.
 *
 * A shard is immutable bytes named by their SHA-256. Two-phase use (DESIGN §5): `putStaged` writes a
 * shard durably into a transaction's staging area (Prepare); `commit` makes every staged shard of the
 * transaction visible (Commit, after the ledger block); `abort` drops staged data no block committed.
 * Once `commit` has started, the transaction can only go forward: a crash midway is finished when the
 * store opens again, and `abort` refuses it.
 */

export interface StagedTransaction {
  txId: string;
  /** Ids of the shards staged so far, sorted. */
  shardIds: string[];
  bytes: number;
  /** When the transaction last staged a shard (ms since the epoch); callers roll back after a timeout. */
  modifiedMs: number;
}

export interface VolumeSpace {
  /** Stable id of the volume (kept in the volume's own metadata file). */
  id: string;
  path: string;
  /** Committed shards and their bytes on this volume. */
  shards: number;
  usedBytes: number;
  /** Free space for this user and total size of the file system holding the volume. */
  freeBytes: number;
  totalBytes: number;
}

export interface ShardStore {
  /** Stages `data` in transaction `txId` durably and returns its id. Staging the same bytes twice is fine. */
  putStaged(txId: string, data: Uint8Array): Promise<string>;
  /** Makes every staged shard of `txId` committed. Idempotent; a commit of an unknown tx does nothing. */
  commit(txId: string): Promise<void>;
  /** Drops the staged shards of `txId`. Idempotent. Refuses (TX_COMMITTING) once commit has started. */
  abort(txId: string): Promise<void>;
  /** Stores `data` committed at once (no transaction) and returns its id. */
  put(data: Uint8Array): Promise<string>;
  /** The committed shard, hash-verified. SHARD_MISSING / SHARD_CORRUPT / SHARD_ID_INVALID otherwise. */
  get(id: string): Promise<Uint8Array>;
  /** Whether a committed shard with this id is stored (its bytes are not read). */
  has(id: string): Promise<boolean>;
  /** Removes a committed shard; true when something was removed. */
  delete(id: string): Promise<boolean>;
  /** Every committed shard id, each once, in no particular order. */
  list(): AsyncIterable<string>;
  /** Transactions with staged shards that are not committing. */
  stagedTransactions(): Promise<StagedTransaction[]>;
  /** Space per volume. */
  space(): Promise<VolumeSpace[]>;
  close(): Promise<void>;
}

/** 16 MiB: a 4 MiB chunk max split into at least one data shard, with room for encryption overhead. */
export const SHARD_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;
