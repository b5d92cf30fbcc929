/**
 * The shard store contract. Every implementation (the filesystem store, the in-memory store used by
 * tests and the simulator, and any later backend) passes the contract suite in
 * test/unit/storage/contract.ts.
 *
 * A shard is immutable bytes named by their SHA-256. Two-phase use (DESIGN §5): `putStaged` writes a
 * shard into a transaction's staging area, `syncStaged` makes what a transaction staged durable
 * (Prepare: the participant answers PrepareResponse only after it), `commit` makes every staged shard
 * of the transaction durable and visible (Commit, after the ledger block), `abort` drops staged data
 * no block committed. Once `commit` has started, the transaction can only go forward: a crash midway
 * is finished when the store opens again, and `abort` refuses it.
 *
 * Durability contract (group commit: one transaction pays its fsyncs together, not one per shard):
 *  - `putStaged` resolving means the shard is staged and survives a crash of this process (SIGKILL),
 *    but NOT yet a power loss or kernel crash: after one, an unsynced staged shard may be missing, and
 *    one whose bytes were torn is dropped when the store opens (staged files are hash-checked then).
 *  - `syncStaged(txId)` resolving means every shard whose `putStaged(txId, …)` resolved before
 *    `syncStaged` was called survives power loss (staged, still invisible). Answer a PrepareResponse,
 *    or any other promise to a peer that the shards are held, only after it.
 *  - `commit(txId)` resolving means every shard of the transaction is committed and survives power loss
 *    (it syncs what was not synced yet, so a caller that never promised staging need not sync first).
 *  - `put` resolving means the shard is committed and survives power loss.
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

export interface GetIntoOptions {
  /** Hash-check the shard (default true). */
  verify?: boolean;
}

export interface ShardStore {
  /**
   * Stages `data` in transaction `txId` and returns its id; durable only after `syncStaged` or `commit`
   * (see the durability contract above). Staging the same bytes twice is fine. `id`: the SHA-256 of
   * `data` (hex) when the caller has just checked it (a 2PC target hashes every shard it receives), so
   * the store does not hash the bytes again; a wrong one is the caller's bug (reads still check it).
   */
  putStaged(txId: string, data: Uint8Array, id?: string): Promise<string>;
  /** Makes every shard staged in `txId` so far durable (power loss). A tx with nothing staged: no-op. */
  syncStaged(txId: string): Promise<void>;
  /** Makes every staged shard of `txId` committed, durably. Idempotent; a commit of an unknown tx does nothing. */
  commit(txId: string): Promise<void>;
  /** Drops the staged shards of `txId`. Idempotent. Refuses (TX_COMMITTING) once commit has started. */
  abort(txId: string): Promise<void>;
  /** Stores `data` committed at once (no transaction) and returns its id; `id` as for putStaged. */
  put(data: Uint8Array, id?: string): Promise<string>;
  /** The committed shard, hash-verified. SHARD_MISSING / SHARD_CORRUPT / SHARD_ID_INVALID otherwise. */
  get(id: string): Promise<Uint8Array>;
  /**
   * Reads the committed shard `id` into `target`, which must be exactly the shard's size, and
   * hash-verifies it there (a reader that knows the size gathers shards into one buffer without copies).
   * A shard of another size is SHARD_CORRUPT; otherwise as `get`. `target` holds garbage after an error.
   * With `verify: false` the bytes are not hashed (a file shorter than `target` is still SHARD_CORRUPT):
   * only for a reader whose own check covers every byte it uses and that reads again verified when that
   * check fails (a restore's chunk, authenticated by AES-GCM and its id; agent/chunks/reader.ts).
   */
  getInto(id: string, target: Uint8Array, options?: GetIntoOptions): Promise<void>;
  /**
   * A shard staged under `id` in any transaction not yet committed or aborted, hash-verified;
   * SHARD_MISSING when none holds it, SHARD_CORRUPT when every staged copy is damaged. For a member
   * that staged a shard whose transaction the cluster has decided but this member has not learned
   * yet: the bytes are the shard's (its id is their hash), so it can serve them before it commits.
   */
  getStaged(id: string): Promise<Uint8Array>;
  /** Whether a committed shard with this id is stored (its bytes are not read). */
  has(id: string): Promise<boolean>;
  /** Removes a committed shard; true when something was removed. */
  delete(id: string): Promise<boolean>;
  /** Removes many committed shards, each directory synced once at the end; how many were removed. */
  deleteMany(ids: readonly string[]): Promise<number>;
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
