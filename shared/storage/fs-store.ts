/**
 * The filesystem shard store over one or more volumes (see volume.ts for the layout and fs-commit.ts
 * for commit and crash recovery).
 *
 * Placement: a new shard goes to the first volume, in weighted-rendezvous order for its id (weights =
 * file system sizes), that keeps `volumeReserveBytes` free after the write. `get`/`has` look in the same
 * order, so the first look usually hits, and still find shards on any volume.
 *
 * Concurrency: a per-transaction lock (putStaged shared; commit/abort exclusive) and a store lock
 * (every operation shared; the one-time space count and close exclusive). One process per volume.
 */
import { access, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { configError } from '../errors.ts';
import { SharedExclusiveLock } from '../db/lock.ts';
import { shardCorrupt, shardMissing, shardTooLarge, storageFull, storeClosed, txCommitting, volumeError } from './errors.ts';
import { finishCommit, hasCommitMarker, markCommitting, moveIntoCommitted, recover, removeStaging, volumesStaging, type RecoveryReport } from './fs-commit.ts';
import { fsyncDir, writeFileDurable, writeSynced } from './fsutil.ts';
import { checkShardId, checkTxId, isShardId, isTxId, shardIdOf } from './ids.ts';
import { rankVolumes } from './placement.ts';
import { SHARD_BYTES_MAX_DEFAULT, type ShardStore, type StagedTransaction, type VolumeSpace } from './store.ts';
import { COMMIT_MARKER, Volume } from './volume.ts';

export interface FsShardStoreOptions {
  /** Volume directories (at least one). */
  volumes: readonly string[];
  /** Create missing volume directories (default true). */
  create?: boolean;
  /** Largest shard accepted. */
  shardBytesMax?: number;
  /** Free space each volume keeps; a write that would eat into it goes to another volume or fails DISK_FULL. */
  volumeReserveBytes?: number;
  /** Directory fsyncs issued at once during a commit. */
  fsyncParallelMax?: number;
}

export const defaultFsShardStoreOptions = {
  create: true,
  shardBytesMax: SHARD_BYTES_MAX_DEFAULT,
  volumeReserveBytes: 64 * 1024 * 1024,
  fsyncParallelMax: 16,
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
  private counts: Counts | undefined;
  private closed = false;

  private constructor(volumes: Volume[], options: Required<Omit<FsShardStoreOptions, 'volumes'>>, recovery: RecoveryReport) {
    this.volumes = volumes;
    this.options = options;
    this.recovery = recovery;
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

  async putStaged(txId: string, data: Uint8Array): Promise<string> {
    checkTxId(txId);
    this.checkSize(data);
    return this.shared(() =>
      this.withTxLock(txId, false, async () => {
        const id = shardIdOf(data);
        const volume = await this.chooseVolume(id, data.length);
        const dir = volume.txDir(txId);
        try {
          // A marker exists only if a commit of this tx failed midway (I/O error): it only goes forward now.
          for (const v of this.volumes) if (await hasCommitMarker(v, txId)) throw txCommitting(txId);
          await volume.ensureDir(dir, volume.stagingDir);
          await writeFileDurable(join(dir, id), join(dir, volume.tempName(id)), data, dir);
        } catch (err) {
          throw volumeError(err, volume.path, `staging shard ${id}`);
        }
        return id;
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
          await markCommitting(volumes, txId);
          await finishCommit(volumes, txId, this.countHook(), this.options.fsyncParallelMax);
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
        for (const v of volumes) if (await hasCommitMarker(v, txId)) throw txCommitting(txId);
        await removeStaging(volumes, txId).catch((err: unknown) => {
          throw this.fsError(err, `aborting transaction ${txId}`);
        });
      }),
    );
  }

  async put(data: Uint8Array): Promise<string> {
    this.checkSize(data);
    return this.shared(async () => {
      const id = shardIdOf(data);
      const volume = await this.chooseVolume(id, data.length);
      try {
        // The temp name needs no fsync of tmp/: a crash leaves at worst a temp file, removed on open.
        const temp = join(volume.tmpDir, volume.tempName(id));
        await writeSynced(temp, data);
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

  async has(id: string): Promise<boolean> {
    checkShardId(id);
    return this.shared(async () => {
      for (const volume of this.ranked(id)) if (await exists(volume.shardPath(id))) return true;
      return false;
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
    for (const volume of this.ranked(id)) {
      const { freeBytes } = await volume.space();
      if (freeBytes - bytes >= this.options.volumeReserveBytes) return volume;
    }
    throw storageFull(this.volumes.map((v) => v.path), bytes);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

const HEX2 = /^[0-9a-f]{2}$/;

/** Every committed shard file of a volume (names that are not shard ids are skipped). */
async function* walkCommitted(volume: Volume, withSize: boolean): AsyncGenerator<{ id: string; bytes: number }> {
  const list = async (dir: string) => readdir(dir).catch((err: unknown) => (isMissing(err) ? [] : Promise.reject(err)));
  for (const a of (await list(volume.committedDir)).sort()) {
    if (!HEX2.test(a)) continue;
    const dir = join(volume.committedDir, a);
    for (const name of await list(dir)) {
      if (!isShardId(name) || !name.startsWith(a)) continue;
      let bytes = 0;
      if (withSize) {
        try {
          bytes = (await stat(join(dir, name))).size;
        } catch (err) {
          if (isMissing(err)) continue;
          throw err;
        }
      }
      yield { id: name, bytes };
    }
  }
}
