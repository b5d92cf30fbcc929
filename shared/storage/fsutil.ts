/**
 * File primitives: write-temp, fsync, rename, fsync-dir; a write without fsync (staging, whose fsync
 * comes later for a whole transaction at once); fsync of a file or directory by path; reads.
 *
 * The hot ones (a shard store writes, fsyncs and reads thousands of files a backup) use file
 * descriptors through the callback API, not fs/promises' FileHandles: a FileHandle is an object with
 * its own close tracking and a promise per call (a 280 MB first backup's main thread: 2,106 ms busy
 * with FileHandles, 2,039 ms with descriptors).
 */
import { access, rename, unlink, type FileHandle } from 'node:fs/promises';
import { close, constants, fsync, open, read, write } from 'node:fs';
import { promisify } from 'node:util';

const openFd = promisify(open);
const closeFd = promisify(close);
const fsyncFd = promisify(fsync);
const writeFd = promisify(write);
const readFd = promisify(read);

/** Opens `path`, runs `fn` with the descriptor, and closes it whatever happens. */
async function withFd<T>(path: string, flags: number | string, fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = await openFd(path, flags);
  try {
    return await fn(fd);
  } finally {
    await closeFd(fd);
  }
}

/** fsync a directory so the names created, renamed or removed in it survive power loss. */
export async function fsyncDir(path: string): Promise<void> {
  await withFd(path, constants.O_RDONLY | constants.O_DIRECTORY, fsyncFd);
}

/** fsync the file at `path` (its data and the metadata needed to read it back). */
export async function fsyncFile(path: string): Promise<void> {
  await withFd(path, constants.O_RDONLY, fsyncFd);
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
  let fd: number | undefined;
  try {
    fd = await openFd(temp, 'wx');
    let offset = 0;
    while (offset < data.length) offset += (await writeFd(fd, data, offset, data.length - offset, null)).bytesWritten;
    if (sync) await fsyncFd(fd);
  } catch (err) {
    if (fd !== undefined) await closeFd(fd).catch(() => undefined);
    fd = undefined;
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await closeFd(fd);
}

/**
 * Writes all of `data` through `fh`, at `position` (null: the file's own offset, as for appends). One
 * write may take fewer bytes than it was given (a disk filling up, a signal) and FileHandle.write does
 * not go on by itself: a single call left a short file that looked written.
 */
export async function writeFully(fh: Pick<FileHandle, 'write'>, data: Uint8Array, position: number | null = null): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position === null ? null : position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`a write took ${bytesWritten} of ${data.length - done} bytes`), { code: 'EIO', syscall: 'write' });
    done += bytesWritten;
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
  return withFd(path, 'r', async (fd) => {
    let at = 0;
    while (at < target.length) {
      const { bytesRead: got } = await readFd(fd, target, at, target.length - at, at);
      if (got === 0) break;
      at += got;
    }
    return at;
  });
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
