/**
 * Durable file primitives: write-temp, fsync, rename, fsync-dir; and fsync of a directory.
 */
import { open, rename, unlink } from 'node:fs/promises';
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

/** Writes `data` to `temp` and fsyncs it (the temp file is removed if anything fails). */
export async function writeSynced(temp: string, data: Uint8Array): Promise<void> {
  let handle;
  try {
    handle = await open(temp, 'wx');
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    await handle.sync();
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
