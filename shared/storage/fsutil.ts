/**
 * File primitives: write-temp, fsync, rename, fsync-dir; a write without fsync (staging, whose fsync
 * comes later for a whole transaction at once); fsync of a file or directory by path; reads.
 */
import { access, open, rename, unlink } from 'node:fs/promises';
import { constants } from 'node:fs';

/** fsync a directory so the names created, renamed or removed in it survive power loss. */
export async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync the file at `path` (its data and the metadata needed to read it back). */
export async function fsyncFile(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `temp` and fsyncs it (the temp file is removed if anything fails). */
export async function writeSynced(temp: string, data: Uint8Array): Promise<void> {
  await writeNew(temp, data, true);
}

/** Writes `data` to the new file `temp` without fsync (removed if anything fails). */
export async function writeUnsynced(temp: string, data: Uint8Array): Promise<void> {
  await writeNew(temp, data, false);
}

async function writeNew(temp: string, data: Uint8Array, sync: boolean): Promise<void> {
  let handle;
  try {
    handle = await open(temp, 'wx');
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    if (sync) await handle.sync();
  } catch (err) {
    await handle?.close().catch(() => undefined);
    handle = undefined;
    await unlink(temp).catch(() => undefined);
    throw err;
  } finally {
    await handle?.close();
  }
}

/** Write-temp, fsync, rename, fsync-dir. `temp` must be in the same directory as `path`. */
export async function writeFileDurable(path: string, temp: string, data: Uint8Array, dir: string): Promise<void> {
  await writeSynced(temp, data);
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** Runs `fn` over `items` with at most `limit` running at once. */
export async function forEachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Reads up to target.length bytes of the file at `path` into target: open, read(s), close, no fstat. */
export async function readExactly(path: string, target: Uint8Array): Promise<number> {
  const handle = await open(path, 'r');
  try {
    let at = 0;
    while (at < target.length) {
      const { bytesRead } = await handle.read(target, at, target.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at;
  } finally {
    await handle.close();
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
