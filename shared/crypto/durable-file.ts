/**
 * Crash-safe file writes for keys and certificates: write a temporary file next to the target, fsync it,
 * move it into place, then fsync the directory so the new name survives a power cut. A reader sees
 * either the old file or the new one, never a torn one.
 *
 * `exclusive` publishes with link(2) instead of rename(2): it fails with EEXIST when the target
 * exists, so "refuse to overwrite" holds even against a concurrent writer.
 */
import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface DurableWriteOptions {
  /** File mode of the new file (before umask is irrelevant: it is set explicitly with fchmod). */
  mode?: number;
  /** Fail with an EEXIST error instead of replacing an existing file. */
  exclusive?: boolean;
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeFileDurable(
  path: string,
  data: Uint8Array | string,
  options: DurableWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'wx', mode);
  try {
    try {
      await handle.chmod(mode);
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) {
      await link(tmp, path);
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await fsyncDir(dir);
}
