/**
 * The filesystem shard store over one or more volumes (see volume.ts for the layout and fs-commit.ts
 * for commit and crash recovery).
 *
 * Placement: a new shard goes to the first volume, in weighted-rendezvous order for its id (weights =
 * file system sizes), that keeps `volumeReserveBytes` free after the write. `get`/`has` look in the same
 * order, so the first look usually hits, and still find shards on any volume.
 *
 * Durability (store.ts has the contract): `putStaged` writes without waiting for any fsync;
 * `syncStaged` and `commit` fsync what the write-behind has not yet, all at once (staging.ts); `put` is
 * durable on its own. No write pays a statfs: the free space check uses the volume's cached figure
 * (volume.ts), refreshed every `spaceCheckMs` or `spaceCheckBytes` written, and always before a write
 * is refused.
 *
 * Concurrency: a per-transaction lock (putStaged shared; syncStaged/commit/abort exclusive) and a store
 * lock (every operation shared; the one-time space count and close exclusive). One process per volume.
 */
import { readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { configError } from '../errors.ts';
import { SharedExclusiveLock } from '../db/lock.ts';
import { shardCorrupt, shardMissing, shardTooLarge, storageFull, storeClosed, txCommitting, volumeError } from './errors.ts';
import { finishCommit, hasCommitMarker, markCommitting, moveIntoCommitted, recover, removeStaging, volumesStaging, type RecoveryReport } from './fs-commit.ts';
import { exists, forEachLimited, fsyncDir, readExactly, writeSynced, writeUnsynced } from './fsutil.ts';
import { checkShardId, checkTxId, isShardId, isTxId, shardIdOf } from './ids.ts';
import { rankVolumes } from './placement.ts';
import { StagingSync } from './staging.ts';
import { SHARD_BYTES_MAX_DEFAULT, type GetIntoOptions, type ShardStore, type StagedTransaction, type VolumeSpace } from './store.ts';
import { COMMIT_MARKER, Volume, walkCommitted } from './volume.ts';

export interface FsShardStoreOptions {
  /** Volume directories (at least one). */
  volumes: readonly string[];
  /** Create missing volume directories (default true). */
  create?: boolean;
  /** Largest shard accepted. */
  shardBytesMax?: number;
  /** Free space each volume keeps; a write that would eat into it goes to another volume or fails DISK_FULL. */
  volumeReserveBytes?: number;
  /** fsyncs (and the renames of a commit) issued at once during a sync or commit. */
  fsyncParallelMax?: number;
  /**
   * fsyncs of staged files run in the background between syncs (write-behind; 0 turns it off). They
   * queue on the libuv pool behind compression, so each takes ~20 ms to come round: 8 at once kept
   * up with a 256 MB backup on 2 cores (2 left ~85 % of the files to the commit).
   */
  backgroundFsyncMax?: number;
  /** The cached free space of a volume is refreshed (statfs) when older than this. */
  spaceCheckMs?: number;
  /** … or when this many bytes were written to the volume since. */
  spaceCheckBytes?: number;
}

export const defaultFsShardStoreOptions = {
  create: true,
  shardBytesMax: SHARD_BYTES_MAX_DEFAULT,
  volumeReserveBytes: 64 * 1024 * 1024,
  fsyncParallelMax: 16,
  backgroundFsyncMax: 8,
  spaceCheckMs: 1000,
  spaceCheckBytes: 64 * 1024 * 1024,
} as const satisfies Omit<Required<FsShardStoreOptions>, 'volumes'>;

type Counts = Map<Volume, { shards: number; bytes: number }>;

const isMissing = (err: unknown) => (err as { code?: unknown }).code === 'ENOENT';

export class FsShardStore implements ShardStore {
  readonly volumes: readonly Volume[];
  /** What opening found and repaired. */
  readonly recovery: RecoveryReport;
  private readonly options: Required<Omit<FsShardStoreOptions, 'volumes'>>;
  private readonly storeLock = new SharedExclusiveLock();
  private readonly txLocks = new Map<string, { lock: SharedExclusiveLock; users: number }>();
  private readonly staging: StagingSync;
  /** Transactions whose commit has started in this process (a marker may be on disk). */
  private readonly committing = new Set<string>();
  private counts: Counts | undefined;
  private closed = false;

  private constructor(volumes: Volume[], options: Required<Omit<FsShardStoreOptions, 'volumes'>>, recovery: RecoveryReport) {
    this.volumes = volumes;
    this.options = options;
    this.recovery = recovery;
    this.staging = new StagingSync(options.fsyncParallelMax, options.backgroundFsyncMax);
  }

  /** Opens the volumes, removes leftovers of interrupted writes and finishes interrupted commits. */
  static async open(options: FsShardStoreOptions): Promise<FsShardStore> {
    const opts = { ...defaultFsShardStoreOptions, ...options };
    if (options.volumes.length === 0) throw configError('storage.volumes', 'at least one volume directory is needed');
    if (!(opts.shardBytesMax > 0)) throw configError('storage.shardBytesMax', 'must be a positive number of bytes');
    const volumes: Volume[] = [];
    for (const path of options.volumes) {
      const v = await Volume.open(path, opts.create);
      const twin = volumes.find((o) => o.id === v.id);
      if (twin !== undefined) throw configError('storage.volumes', `${path} is the same volume as ${twin.path} (id ${v.id})`);
      volumes.push(v);
    }
    const recovery = await recover(volumes, opts.fsyncParallelMax);
    const { volumes: _omit, ...rest } = opts;
    return new FsShardStore(volumes, rest, recovery);
  }

  /** fsyncs of staged files and staging directories so far (group commit at work: tests, benchmarks). */
  get stagingSyncCounts(): { files: number; dirs: number; filesInBackground: number } {
    return { ...this.staging.counts };
  }

  async putStaged(txId: string, data: Uint8Array, knownId?: string): Promise<string> {
    checkTxId(txId);
    this.checkSize(data);
    if (knownId !== undefined) checkShardId(knownId);
    return this.shared(() =>
      this.withTxLock(txId, false, async () => {
        const id = knownId ?? shardIdOf(data);
        const volume = await this.chooseVolume(id, data.length);
        try {
          // A commit that failed midway (I/O error) left a marker: the tx only goes forward now. (Markers
          // of earlier processes were finished by recovery at open: no stat per shard is needed.)
          if (this.committing.has(txId)) throw txCommitting(txId);
          const dir = await this.staging.ensureTxDir(volume, txId);
          const temp = join(dir, volume.tempName(id));
          await writeUnsynced(temp, data);
          await rename(temp, join(dir, id)).catch(async (err: unknown) => {
            await unlink(temp).catch(() => undefined);
            throw err;
          });
          volume.noteWritten(data.length);
          this.staging.noteStaged(volume, txId, id);
        } catch (err) {
          throw volumeError(err, volume.path, `staging shard ${id}`);
        }
        return id;
      }),
    );
  }

  async syncStaged(txId: string): Promise<void> {
    checkTxId(txId);
    await this.shared(() =>
      this.withTxLock(txId, true, async () => {
        try {
          await this.staging.syncStaged(await volumesStaging(this.volumes, txId), txId);
        } catch (err) {
          throw this.fsError(err, `syncing transaction ${txId}`);
        }
      }),
    );
  }

  async commit(txId: string): Promise<void> {
    checkTxId(txId);
    await this.shared(() =>
      this.withTxLock(txId, true, async () => {
        try {
          const volumes = await volumesStaging(this.volumes, txId);
          if (volumes.length === 0) return;
          await this.staging.syncFiles(volumes, txId); // step 0 (nothing left to sync on a retry)
          this.committing.add(txId);
          await markCommitting(volumes, txId);
          await finishCommit(volumes, txId, this.countHook(), this.options.fsyncParallelMax);
          this.committing.delete(txId);
          await this.staging.forget(txId);
        } catch (err) {
          throw this.fsError(err, `committing transaction ${txId}`);
        }
      }),
    );
  }

  async abort(txId: string): Promise<void> {
    checkTxId(txId);
    await this.shared(() =>
      this.withTxLock(txId, true, async () => {
        const volumes = await volumesStaging(this.volumes, txId);
        if (this.committing.has(txId)) throw txCommitting(txId);
        for (const v of volumes) if (await hasCommitMarker(v, txId)) throw txCommitting(txId);
        await this.staging.forget(txId); // no write-behind fsync left on the files about to go
        await removeStaging(volumes, txId).catch((err: unknown) => {
          throw this.fsError(err, `aborting transaction ${txId}`);
        });
      }),
    );
  }

  async put(data: Uint8Array, knownId?: string): Promise<string> {
    this.checkSize(data);
    if (knownId !== undefined) checkShardId(knownId);
    return this.shared(async () => {
      const id = knownId ?? shardIdOf(data);
      const volume = await this.chooseVolume(id, data.length);
      try {
        // The temp name needs no fsync of tmp/: a crash leaves at worst a temp file, removed on open.
        const temp = join(volume.tmpDir, volume.tempName(id));
        await writeSynced(temp, data);
        volume.noteWritten(data.length);
        await fsyncDir(await moveIntoCommitted(volume, temp, id, this.countHook()));
      } catch (err) {
        throw volumeError(err, volume.path, `storing shard ${id}`);
      }
      return id;
    });
  }

  async get(id: string): Promise<Uint8Array> {
    checkShardId(id);
    return this.shared(async () => {
      let corrupt: { volume: string; actual: string } | undefined;
      for (const volume of this.ranked(id)) {
        let data: Buffer;
        try {
          data = await readFile(volume.shardPath(id));
        } catch (err) {
          if (isMissing(err)) continue;
          throw volumeError(err, volume.path, `reading shard ${id}`);
        }
        const actual = shardIdOf(data);
        if (actual === id) return data;
        corrupt ??= { volume: volume.path, actual };
      }
      if (corrupt !== undefined) throw shardCorrupt(id, corrupt.volume, corrupt.actual);
      throw shardMissing(id);
    });
  }

  /** Looks in each transaction's staging directory on every volume: a miss costs a directory listing per volume. */
  async getStaged(id: string): Promise<Uint8Array> {
    checkShardId(id);
    return this.shared(async () => {
      let corrupt: { volume: string; actual: string } | undefined;
      for (const volume of this.ranked(id)) {
        let txs: string[];
        try {
          txs = (await readdir(volume.stagingDir)).filter(isTxId);
        } catch (err) {
          if (isMissing(err)) continue;
          throw volumeError(err, volume.path, 'listing staged transactions');
        }
        for (const txId of txs) {
          let data: Buffer;
          try {
            data = await readFile(join(volume.txDir(txId), id));
          } catch (err) {
            if (isMissing(err)) continue; // not in this transaction, or it was committed or aborted meanwhile
            throw volumeError(err, volume.path, `reading staged shard ${id}`);
          }
          const actual = shardIdOf(data);
          if (actual === id) return data;
          corrupt ??= { volume: volume.path, actual };
        }
      }
      if (corrupt !== undefined) throw shardCorrupt(id, corrupt.volume, corrupt.actual);
      throw shardMissing(id);
    });
  }

  async getInto(id: string, target: Uint8Array, options: GetIntoOptions = {}): Promise<void> {
    checkShardId(id);
    const verify = options.verify !== false;
    return this.shared(async () => {
      let corrupt: { volume: string; actual: string } | undefined;
      for (const volume of this.ranked(id)) {
        let got: number;
        try {
          got = await readExactly(volume.shardPath(id), target);
        } catch (err) {
          if (isMissing(err)) continue;
          throw volumeError(err, volume.path, `reading shard ${id}`);
        }
        // A file of another size hashes differently over target.length bytes: one check covers both.
        const actual = got !== target.length ? `a shard of ${got} bytes, not ${target.length}` : verify ? shardIdOf(target) : id;
        if (actual === id) return;
        corrupt ??= { volume: volume.path, actual };
      }
      if (corrupt !== undefined) throw shardCorrupt(id, corrupt.volume, corrupt.actual);
      throw shardMissing(id);
    });
  }

  async has(id: string): Promise<boolean> {
    checkShardId(id);
    return this.shared(async () => {
      for (const volume of this.ranked(id)) if (await exists(volume.shardPath(id))) return true;
      return false;
    });
  }

  /** The shard's size and when its file was last written (ms since the epoch); undefined when not held. */
  async shardInfo(id: string): Promise<{ bytes: number; modifiedMs: number } | undefined> {
    checkShardId(id);
    return this.shared(async () => {
      for (const volume of this.ranked(id)) {
        try {
          const st = await stat(volume.shardPath(id));
          return { bytes: st.size, modifiedMs: st.mtimeMs };
        } catch (err) {
          if (!isMissing(err)) throw volumeError(err, volume.path, `reading shard ${id}`);
        }
      }
      return undefined;
    });
  }

  async delete(id: string): Promise<boolean> {
    checkShardId(id);
    return this.shared(async () => {
      let removed = false;
      for (const volume of this.volumes) {
        const path = volume.shardPath(id);
        try {
          const { size } = await stat(path);
          await unlink(path);
          await fsyncDir(volume.shardDir(id));
          this.countHook()?.(volume, -1, -size);
          removed = true;
        } catch (err) {
          if (!isMissing(err)) throw volumeError(err, volume.path, `deleting shard ${id}`);
        }
      }
      return removed;
    });
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    for (const id of ids) checkShardId(id);
    return this.shared(async () => {
      let removed = 0;
      const dirs = new Map<string, Volume>();
      for (const id of ids) {
        let found = false;
        for (const volume of this.volumes) {
          const path = volume.shardPath(id);
          try {
            const { size } = await stat(path);
            await unlink(path);
            dirs.set(volume.shardDir(id), volume);
            this.countHook()?.(volume, -1, -size);
            found = true;
          } catch (err) {
            if (!isMissing(err)) throw volumeError(err, volume.path, `deleting shard ${id}`);
          }
        }
        if (found) removed++;
      }
      await forEachLimited([...dirs], 8, async ([dir, volume]) => {
        try {
          await fsyncDir(dir);
        } catch (err) {
          throw volumeError(err, volume.path, `syncing ${dir}`);
        }
      });
      return removed;
    });
  }

  async *list(): AsyncIterable<string> {
    this.checkOpen();
    for (let i = 0; i < this.volumes.length; i++) {
      const earlier = this.volumes.slice(0, i);
      for await (const { id } of walkCommitted(this.volumes[i]!, false)) {
        let seen = false;
        for (const v of earlier) if (await exists(v.shardPath(id))) seen = true;
        if (!seen) yield id;
      }
    }
  }

  async stagedTransactions(): Promise<StagedTransaction[]> {
    return this.shared(async () => {
      const txs = new Map<string, { ids: Set<string>; bytes: number; modifiedMs: number; committing: boolean }>();
      for (const volume of this.volumes) {
        for (const txId of await readdir(volume.stagingDir)) {
          if (!isTxId(txId)) continue;
          const entry = txs.get(txId) ?? { ids: new Set<string>(), bytes: 0, modifiedMs: 0, committing: false };
          txs.set(txId, entry);
          try {
            const dir = volume.txDir(txId);
            entry.modifiedMs = Math.max(entry.modifiedMs, (await stat(dir)).mtimeMs);
            for (const name of await readdir(dir)) {
              if (name === COMMIT_MARKER) entry.committing = true;
              if (!isShardId(name) || entry.ids.has(name)) continue;
              const s = await stat(join(dir, name));
              entry.ids.add(name);
              entry.bytes += s.size;
              entry.modifiedMs = Math.max(entry.modifiedMs, s.mtimeMs);
            }
          } catch (err) {
            if (!isMissing(err)) throw err; // a tx that finished meanwhile
          }
        }
      }
      return [...txs.entries()]
        .filter(([, e]) => !e.committing && e.ids.size > 0)
        .map(([txId, e]) => ({ txId, shardIds: [...e.ids].sort(), bytes: e.bytes, modifiedMs: Math.floor(e.modifiedMs) }))
        .sort((a, b) => (a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : 0));
    });
  }

  /** Space per volume. The first call counts the committed shards (a directory walk); later calls are cheap. */
  async space(): Promise<VolumeSpace[]> {
    this.checkOpen();
    if (this.counts === undefined) {
      await this.storeLock.with(true, async () => {
        if (this.counts !== undefined) return;
        const counts: Counts = new Map();
        for (const v of this.volumes) {
          const c = { shards: 0, bytes: 0 };
          for await (const { bytes } of walkCommitted(v, true)) {
            c.shards++;
            c.bytes += bytes;
          }
          counts.set(v, c);
        }
        this.counts = counts;
      });
    }
    return this.shared(() =>
      Promise.all(
        this.volumes.map(async (v) => {
          const c = this.counts?.get(v) ?? { shards: 0, bytes: 0 };
          return { id: v.id, path: v.path, shards: c.shards, usedBytes: c.bytes, ...(await v.space()) };
        }),
      ),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.storeLock.with(true, async () => {
      this.closed = true;
    });
  }

  private checkOpen(): void {
    if (this.closed) throw storeClosed();
  }

  private checkSize(data: Uint8Array): void {
    if (data.length > this.options.shardBytesMax) throw shardTooLarge(data.length, this.options.shardBytesMax);
  }

  private shared<T>(fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    return this.storeLock.with(false, () => {
      this.checkOpen();
      return fn();
    });
  }

  private async withTxLock<T>(txId: string, exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    let entry = this.txLocks.get(txId);
    if (entry === undefined) {
      entry = { lock: new SharedExclusiveLock(), users: 0 };
      this.txLocks.set(txId, entry);
    }
    entry.users++;
    try {
      return await entry.lock.with(exclusive, fn);
    } finally {
      if (--entry.users === 0) this.txLocks.delete(txId);
    }
  }

  private countHook() {
    const counts = this.counts;
    if (counts === undefined) return undefined;
    return (volume: Volume, shards: number, bytes: number) => {
      const c = counts.get(volume);
      if (c === undefined) return;
      c.shards += shards;
      c.bytes += bytes;
    };
  }

  /** An fs error mapped to an operating error of the volume it happened on. */
  private fsError(err: unknown, what: string): unknown {
    const path = (err as { path?: unknown } | null)?.path;
    const volume = typeof path === 'string' ? this.volumes.find((v) => path.startsWith(v.path + '/')) : undefined;
    return volumeError(err, volume?.path ?? this.volumes.map((v) => v.path).join(', '), what);
  }

  private ranked(id: string): Volume[] {
    const weights = this.volumes.map((v) => ({ id: v.id, weight: v.totalBytesAtOpen }));
    return rankVolumes(weights, id).map((i) => this.volumes[i]!);
  }

  private async chooseVolume(id: string, bytes: number): Promise<Volume> {
    const { spaceCheckMs, spaceCheckBytes, volumeReserveBytes } = this.options;
    const ranked = this.ranked(id);
    // Cached figures first; a fresh statfs of every volume before giving up (the cache errs low).
    for (const fresh of [false, true]) {
      for (const volume of ranked) {
        const freeBytes = await volume.freeBytesEstimate(spaceCheckMs, spaceCheckBytes, fresh);
        if (freeBytes - bytes >= volumeReserveBytes) return volume;
      }
    }
    throw storageFull(this.volumes.map((v) => v.path), bytes);
  }
}
