/**
 * Commit and recovery of staged transactions on the filesystem store.
 *
 * Commit of a transaction (its shards may sit in the staging of several volumes):
 *   0. fsync every staged file not synced yet (staging.ts: all at once), so no marker can precede data;
 *   1. write the COMMITTING marker into the tx's staging dir on every volume, fsync those dirs:
 *      from here on the transaction only goes forward;
 *   2. move each staged shard to committed/ab/<id> (link then unlink, or rename over an older copy);
 *   3. fsync every committed directory that received a shard;
 *   4. remove the tx's staging dirs (no fsync needed: if a crash undoes the removal, the marker comes
 *      back with it and recovery repeats the no-op commit).
 * A crash anywhere leaves either no marker (the tx is still merely staged: the caller commits or aborts
 * it) or a marker on at least one volume, and `recover` (run on open) repeats steps 2–4 for that tx on
 * every volume. Steps 2–4 are idempotent.
 *
 * Staged files are written without fsync, so after a power loss an unsynced one may hold torn bytes
 * under its real name. Recovery hash-checks the shards of every transaction without a marker and
 * removes the bad ones (a marked transaction was fully synced before its marker was written).
 */
import { link, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isShardId, isTxId, shardIdOf } from './ids.ts';
import { forEachLimited, fsyncDir } from './fsutil.ts';
import { COMMIT_MARKER, TEMP_SUFFIX, type Volume } from './volume.ts';

/** Receives +1 shard / +bytes when a shard id becomes newly present on a volume. */
export type CountHook = (volume: Volume, shards: number, bytes: number) => void;

export interface RecoveryReport {
  /** Temp files of interrupted writes that were removed. */
  tempFilesRemoved: number;
  /** Transactions whose interrupted commit was finished. */
  commitsFinished: string[];
  /** Staging directories with no shard in them that were removed. */
  emptyStagingRemoved: number;
  /** Staged shard files whose bytes did not match their name (torn by a power loss), removed. */
  tornStagedRemoved: number;
}

const isMissing = (err: unknown) => (err as { code?: unknown }).code === 'ENOENT';

async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isMissing(err)) return [];
    throw err;
  }
}

/** Volumes that hold a staging directory for `txId`. */
export async function volumesStaging(volumes: readonly Volume[], txId: string): Promise<Volume[]> {
  const found: Volume[] = [];
  for (const v of volumes) {
    try {
      if ((await stat(v.txDir(txId))).isDirectory()) found.push(v);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }
  return found;
}

/** Step 1: the decision to commit, made durable. */
export async function markCommitting(volumes: readonly Volume[], txId: string): Promise<void> {
  await Promise.all(
    volumes.map(async (v) => {
      await writeFile(join(v.txDir(txId), COMMIT_MARKER), '');
      await fsyncDir(v.txDir(txId));
    }),
  );
}

export async function hasCommitMarker(volume: Volume, txId: string): Promise<boolean> {
  try {
    await stat(join(volume.txDir(txId), COMMIT_MARKER));
    return true;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}

/**
 * Puts the file `src` (a shard named `id` on `volume`) into the committed tree. Returns the directory
 * that now needs an fsync. A copy already committed is replaced, which also heals a rotted copy.
 */
export async function moveIntoCommitted(volume: Volume, src: string, id: string, count: CountHook | undefined): Promise<string> {
  const dir = await volume.ensureShardDir(id);
  const dest = join(dir, id);
  if (count === undefined) {
    // Nobody counts: one rename, over an older copy if there is one. ENOENT: a previous run moved it.
    try {
      await rename(src, dest);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    return dir;
  }
  const bytes = (await stat(src)).size;
  try {
    await link(src, dest); // fails with EEXIST when the shard is already there: exactly one winner counts
    count?.(volume, 1, bytes);
    await unlink(src);
    return dir;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'EEXIST') {
      await rename(src, dest);
      return dir;
    }
    if (code === 'ENOENT') {
      // src gone: a previous run of this commit already moved it (link done, unlink done).
      return dir;
    }
    // File systems without hard links: stat then rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'ENOSYS') throw err;
  }
  let existed = true;
  try {
    await stat(dest);
  } catch (err) {
    if (!isMissing(err)) throw err;
    existed = false;
  }
  await rename(src, dest);
  if (!existed) count?.(volume, 1, bytes);
  return dir;
}

/** Steps 2–4 for `txId` on `volumes`. */
export async function finishCommit(volumes: readonly Volume[], txId: string, count: CountHook | undefined, fsyncParallelMax: number): Promise<void> {
  const dirty = new Set<string>();
  const moves: Array<{ volume: Volume; dir: string; name: string }> = [];
  for (const volume of volumes) {
    const dir = volume.txDir(txId);
    for (const name of await listOrEmpty(dir)) if (isShardId(name)) moves.push({ volume, dir, name });
  }
  // The moves are independent (distinct names per volume; the marker already fixed the outcome).
  await forEachLimited(moves, fsyncParallelMax, async (m) => {
    dirty.add(await moveIntoCommitted(m.volume, join(m.dir, m.name), m.name, count));
  });
  await forEachLimited([...dirty], fsyncParallelMax, fsyncDir);
  for (const v of volumes) await rm(v.txDir(txId), { recursive: true, force: true });
}

/**
 * Removes the staging of `txId` everywhere (abort). Not fsynced: if a crash undoes the removal, the tx
 * shows up staged again and is rolled back again.
 */
export async function removeStaging(volumes: readonly Volume[], txId: string): Promise<void> {
  for (const v of volumes) await rm(v.txDir(txId), { recursive: true, force: true });
}

/**
 * Run on open: removes temp files of interrupted writes and empty staging dirs, and finishes every
 * commit that had started (a marker on any volume rolls the tx forward on all volumes).
 */
export async function recover(volumes: readonly Volume[], fsyncParallelMax: number): Promise<RecoveryReport> {
  const report: RecoveryReport = { tempFilesRemoved: 0, commitsFinished: [], emptyStagingRemoved: 0, tornStagedRemoved: 0 };
  const committing = new Set<string>();
  for (const v of volumes) {
    for (const name of await listOrEmpty(v.tmpDir)) {
      await rm(join(v.tmpDir, name), { recursive: true, force: true });
      report.tempFilesRemoved++;
    }
    for (const txId of await listOrEmpty(v.stagingDir)) {
      if (!isTxId(txId)) continue; // not ours: leave it alone
      const dir = v.txDir(txId);
      const names = await listOrEmpty(dir);
      const marker = names.includes(COMMIT_MARKER);
      let shards = 0;
      for (const name of names) {
        if (name.endsWith(TEMP_SUFFIX)) {
          await removeIfThere(join(dir, name));
          report.tempFilesRemoved++;
        } else if (isShardId(name)) {
          if (!marker && !(await holdsShard(join(dir, name), name))) {
            await removeIfThere(join(dir, name));
            report.tornStagedRemoved++;
          } else shards++;
        }
      }
      if (marker) committing.add(txId);
      else if (shards === 0) {
        await rm(dir, { recursive: true, force: true });
        report.emptyStagingRemoved++;
      }
    }
    if (report.tempFilesRemoved + report.emptyStagingRemoved + report.tornStagedRemoved > 0) {
      await fsyncDir(v.stagingDir);
      await fsyncDir(v.tmpDir);
    }
  }
  for (const txId of [...committing].sort()) {
    await finishCommit(await volumesStaging(volumes, txId), txId, undefined, fsyncParallelMax);
    report.commitsFinished.push(txId);
  }
  return report;
}

async function removeIfThere(path: string): Promise<void> {
  await unlink(path).catch((err: unknown) => {
    if (!isMissing(err)) throw err;
  });
}

/** Whether the file at `path` holds exactly the shard `id` (a missing file does not). */
async function holdsShard(path: string, id: string): Promise<boolean> {
  try {
    return shardIdOf(await readFile(path)) === id;
  } catch (err) {
    if (isMissing(err)) return false;
    throw err;
  }
}
