/**
 * Group commit of staged shards. `putStaged` writes a shard file (temp name, then rename) with no fsync
 * on its way and notes it here; `syncStaged` and `commit` later fsync every file of the transaction
 * that is not known durable, all at once (in parallel), then the directories once. A transaction costs
 * a handful of directory fsyncs, not two fsyncs per shard, and no writer ever waits for one of them.
 *
 * Write-behind: meanwhile at most `backgroundFsyncMax` fsyncs of noted files run in the background, so
 * the disk works while the caller computes the next shards and a sync finds little left to do. They
 * only ever mark a file durable (by generation: a file staged again after its fsync started is not);
 * an error of one is kept and thrown by the next sync of its transaction (a failed fsync may have
 * dropped data for good, so it is never retried into silence).
 *
 * What this process has not synced itself (a transaction staged before a restart, a dir it did not
 * make) is taken as unsynced and synced again: the bookkeeping can only cause extra fsyncs, never
 * fewer. Callers hold the transaction's lock exclusively around `sync*` (no putStaged runs meanwhile).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isShardId } from './ids.ts';
import { forEachLimited, fsyncDir, fsyncFile } from './fsutil.ts';
import type { Volume } from './volume.ts';

interface TxOnVolume {
  volume: Volume;
  /** The tx dir exists (made or seen by this process). */
  dirReady: boolean;
  /** staging/ was fsynced after the tx dir existed: the dir's own name is durable. */
  parentSynced: boolean;
  /** The tx dir was fsynced after its last new name: the shard names are durable. */
  dirSynced: boolean;
  /** Shard files fsynced since they were last written. */
  synced: Set<string>;
  /** Times each file was (re)written: a background fsync counts only for the generation it started on. */
  generation: Map<string, number>;
  /** Background fsyncs running for this tx. */
  running: Set<Promise<void>>;
  /** The first background fsync error (thrown by the next sync of the tx). */
  error: unknown;
}

interface BackgroundJob {
  entry: TxOnVolume;
  txId: string;
  name: string;
  generation: number;
}

const isMissing = (err: unknown) => (err as { code?: unknown }).code === 'ENOENT';

export class StagingSync {
  /** fsyncs of staged files and of staging directories made so far (tests and benchmarks read them). */
  readonly counts = { files: 0, dirs: 0, filesInBackground: 0 };
  private readonly txs = new Map<string, Map<Volume, TxOnVolume>>();
  private readonly queue: BackgroundJob[] = [];
  private running = 0;

  constructor(
    private readonly fsyncParallelMax: number,
    private readonly backgroundFsyncMax = 0,
  ) {}

  /** Makes the tx's staging dir on `volume` (no fsync: the sync of the tx does that). */
  async ensureTxDir(volume: Volume, txId: string): Promise<string> {
    const entry = this.entry(volume, txId);
    const dir = volume.txDir(txId);
    if (entry.dirReady) return dir;
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    entry.dirReady = true;
    return dir;
  }

  /** A shard file `name` was (re)written into the tx dir on `volume`: it and the dir need a sync. */
  noteStaged(volume: Volume, txId: string, name: string): void {
    const entry = this.entry(volume, txId);
    entry.synced.delete(name); // staging the same bytes again renamed a new, unsynced file over it
    const generation = (entry.generation.get(name) ?? 0) + 1;
    entry.generation.set(name, generation);
    entry.dirSynced = false;
    if (this.backgroundFsyncMax > 0) {
      this.queue.push({ entry, txId, name, generation });
      this.pump();
    }
  }

  /**
   * fsyncs every shard file of the tx on each of `volumes` that is not known durable, and staging/
   * where the tx dir's name may not be; all in parallel. Not the tx dirs themselves (see syncStaged).
   */
  async syncFiles(volumes: readonly Volume[], txId: string): Promise<void> {
    await this.settleBackground(txId);
    const jobs: Array<() => Promise<void>> = [];
    const done: Array<() => void> = [];
    for (const volume of volumes) {
      const entry = this.entry(volume, txId);
      const dir = volume.txDir(txId);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for (const name of names) {
        if (!isShardId(name) || entry.synced.has(name)) continue;
        jobs.push(() => fsyncFile(join(dir, name)).then(() => void this.counts.files++));
        done.push(() => entry.synced.add(name));
      }
      if (!entry.parentSynced) {
        jobs.push(() => fsyncDir(volume.stagingDir).then(() => void this.counts.dirs++));
        done.push(() => (entry.parentSynced = true));
      }
    }
    await forEachLimited(jobs, this.fsyncParallelMax, (job) => job());
    for (const mark of done) mark();
  }

  /** syncFiles, then an fsync of each tx dir whose names are not known durable: all staged shards durable. */
  async syncStaged(volumes: readonly Volume[], txId: string): Promise<void> {
    await this.syncFiles(volumes, txId);
    await Promise.all(
      volumes.map(async (volume) => {
        const entry = this.entry(volume, txId);
        if (entry.dirSynced) return;
        await fsyncDir(volume.txDir(txId));
        this.counts.dirs++;
        entry.dirSynced = true;
      }),
    );
  }

  /** Drops the bookkeeping of a tx (after commit or abort removed its staging); its queued fsyncs too. */
  async forget(txId: string): Promise<void> {
    await this.settleBackground(txId).catch(() => undefined);
    this.txs.delete(txId);
  }

  /** Takes the tx's queued fsyncs off the queue, waits for its running ones, and throws their first error. */
  private async settleBackground(txId: string): Promise<void> {
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.txId === txId) this.queue.splice(i, 1);
    const entries = [...(this.txs.get(txId)?.values() ?? [])];
    await Promise.all(entries.flatMap((e) => [...e.running]));
    // Sticky: after a failed fsync the kernel may have dropped the bytes and a second fsync may succeed
    // anyway, so the tx can never be synced again in this process (abort it; recovery re-checks it).
    for (const e of entries) if (e.error !== undefined) throw e.error;
  }

  private pump(): void {
    while (this.running < this.backgroundFsyncMax && this.queue.length > 0) {
      const job = this.queue.shift()!;
      const { entry, name, generation } = job;
      if (entry.synced.has(name) || entry.generation.get(name) !== generation) continue;
      this.running++;
      const p: Promise<void> = fsyncFile(join(entry.volume.txDir(job.txId), name))
        .then(
          () => {
            this.counts.files++;
            this.counts.filesInBackground++;
            if (entry.generation.get(name) === generation) entry.synced.add(name);
          },
          (err: unknown) => {
            entry.error ??= err;
          },
        )
        .finally(() => {
          entry.running.delete(p);
          this.running--;
          this.pump();
        });
      entry.running.add(p);
    }
  }

  private entry(volume: Volume, txId: string): TxOnVolume {
    let byVolume = this.txs.get(txId);
    if (byVolume === undefined) this.txs.set(txId, (byVolume = new Map()));
    let entry = byVolume.get(volume);
    if (entry === undefined) {
      entry = {
        volume, dirReady: false, parentSynced: false, dirSynced: false, synced: new Set(), generation: new Map(), running: new Set(), error: undefined,
      };
      byVolume.set(volume, entry);
    }
    return entry;
  }
}
