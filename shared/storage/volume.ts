/**
 * One volume: a directory the shard store owns.
 *
 *   <volume>/volume.json             {"format":1,"id":"vol-…"}  (versions the layout; names the volume)
 *   <volume>/committed/ab/<id>       committed shards, fanned out over 256 directories by the first byte
 *   <volume>/staging/<txId>/<id>     shards staged by a transaction
 *   <volume>/staging/<txId>/COMMITTING  marker: commit has started, the tx only goes forward
 *   <volume>/tmp/                    temp files of `put` (removed on open)
 *
 * A shard file holds exactly the shard bytes, no header: the file name is the SHA-256 of the content,
 * so a torn or rotted file is detected by hashing it, and `sha256sum` can check a volume by hand.
 * Files only appear under their final name by rename once all their bytes are written, so a process
 * crash leaves temp files (which end in `.tmp` and are removed on open), never a short shard under a
 * real name. Committed files are fsynced before they get their name; staged files only when their
 * transaction is synced (staging.ts), so a power loss can tear an unsynced staged file, and recovery
 * drops such a file by its hash (fs-commit.ts).
 *
 * One level of 256 fan-out directories, all made when the volume is created: a first write into a new
 * directory would cost two more fsyncs (the new directory and its parent), which two levels (65,536
 * directories) would pay for most writes of a young store. ext4/XFS index large directories, so even
 * 20 M shards (80 k per directory) stay fast.
 *
 * Free space: writes check it against a cached statfs minus the bytes written since (a write never
 * pays a statfs of its own); the store refreshes the cache by age and by bytes written, and always
 * before it refuses a write for want of room.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, statfs } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BaksaError, ExitCode } from '../errors.ts';
import { StorageErrorCode, volumeError } from './errors.ts';
import { fsyncDir, writeFileDurable } from './fsutil.ts';
import { isShardId } from './ids.ts';

const isMissing = (err: unknown) => (err as { code?: unknown }).code === 'ENOENT';

export const VOLUME_FORMAT = 1;
export const VOLUME_META_FILE = 'volume.json';
export const COMMIT_MARKER = 'COMMITTING';
export const TEMP_SUFFIX = '.tmp';

interface VolumeMeta {
  format: number;
  id: string;
}

export class Volume {
  readonly path: string;
  readonly id: string;
  readonly committedDir: string;
  readonly stagingDir: string;
  readonly tmpDir: string;
  /** Size of the file system at open: the volume's weight for placement. */
  readonly totalBytesAtOpen: number;
  private readonly knownDirs = new Set<string>();
  private spaceCache: { freeBytes: number; atMs: number } | undefined;
  private writtenSinceStatfsBytes = 0;

  private constructor(path: string, id: string, totalBytes: number) {
    this.path = path;
    this.id = id;
    this.committedDir = join(path, 'committed');
    this.stagingDir = join(path, 'staging');
    this.tmpDir = join(path, 'tmp');
    this.totalBytesAtOpen = totalBytes;
  }

  /** Opens the volume at `path`, creating its directories and metadata when `create` allows. */
  static async open(pathIn: string, create: boolean): Promise<Volume> {
    const path = resolve(pathIn);
    try {
      if (create) await mkdir(path, { recursive: true });
      const meta = await readMeta(path, create);
      const { blocks, bsize } = await statfs(path);
      const volume = new Volume(path, meta.id, blocks * bsize);
      for (const dir of [volume.committedDir, volume.stagingDir, volume.tmpDir]) await volume.ensureDir(dir, path);
      await volume.ensureFanout();
      return volume;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new BaksaError(StorageErrorCode.volumeFormat, `volume ${path} does not exist`, {
          hint: 'create the directory, or fix the volume path in the config', exitCode: ExitCode.config, details: { volume: path }, cause: err,
        });
      }
      throw volumeError(err, path, 'open');
    }
  }

  shardDir(id: string): string {
    return join(this.committedDir, id.slice(0, 2));
  }

  shardPath(id: string): string {
    return join(this.shardDir(id), id);
  }

  txDir(txId: string): string {
    return join(this.stagingDir, txId);
  }

  tempName(base: string): string {
    return `${base}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`;
  }

  /** Makes sure committed/ab exists, durably (normally it was made with the volume). */
  async ensureShardDir(id: string): Promise<string> {
    const dir = this.shardDir(id);
    if (!this.knownDirs.has(dir)) await this.ensureDir(dir, this.committedDir);
    return dir;
  }

  /**
   * Makes the 256 fan-out directories (one fsync of committed/ if any was missing). One readdir finds
   * the ones there already, so opening an existing volume costs no mkdir at all.
   */
  async ensureFanout(): Promise<void> {
    const present = new Set(await readdir(this.committedDir));
    let created = 0;
    for (let b = 0; b < 256; b++) {
      const name = b.toString(16).padStart(2, '0');
      const dir = join(this.committedDir, name);
      if (!present.has(name)) {
        try {
          await mkdir(dir);
          created++;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
        }
      }
      this.knownDirs.add(dir);
    }
    if (created > 0) await fsyncDir(this.committedDir);
  }

  /** Creates `dir` (one level, inside `parent`) if missing and fsyncs `parent` when it did. True if created. */
  async ensureDir(dir: string, parent: string): Promise<boolean> {
    if (this.knownDirs.has(dir)) return false;
    let created = false;
    try {
      await mkdir(dir);
      created = true;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    if (created) await fsyncDir(parent);
    if (dir.startsWith(this.committedDir) || dir === this.stagingDir || dir === this.tmpDir) this.knownDirs.add(dir);
    return created;
  }

  /** statfs now (and refreshes the cached free space). */
  async space(): Promise<{ freeBytes: number; totalBytes: number }> {
    const atMs = Date.now();
    const writtenBefore = this.writtenSinceStatfsBytes;
    const s = await statfs(this.path);
    const freeBytes = s.bavail * s.bsize;
    this.spaceCache = { freeBytes, atMs };
    // Writes noted while statfs ran stay counted (they may be in its figure too: the estimate errs low).
    this.writtenSinceStatfsBytes -= writtenBefore;
    return { freeBytes, totalBytes: s.blocks * s.bsize };
  }

  /**
   * Free bytes, estimated from the last statfs minus the bytes written since (deletes are not credited,
   * so the estimate errs low). A statfs is made when the last one is older than `maxAgeMs`, more than
   * `maxWrittenBytes` were written since, or `fresh` asks for one.
   */
  async freeBytesEstimate(maxAgeMs: number, maxWrittenBytes: number, fresh = false): Promise<number> {
    const c = this.spaceCache;
    if (fresh || c === undefined || Date.now() - c.atMs > maxAgeMs || this.writtenSinceStatfsBytes > maxWrittenBytes) {
      return (await this.space()).freeBytes;
    }
    return c.freeBytes - this.writtenSinceStatfsBytes;
  }

  /** Counts bytes written to the volume against the cached free space. */
  noteWritten(bytes: number): void {
    this.writtenSinceStatfsBytes += bytes;
  }
}

async function readMeta(path: string, create: boolean): Promise<VolumeMeta> {
  const file = join(path, VOLUME_META_FILE);
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT' || !create) throw err;
  }
  if (text === undefined) {
    const meta: VolumeMeta = { format: VOLUME_FORMAT, id: `vol-${randomBytes(8).toString('hex')}` };
    const temp = join(path, `${VOLUME_META_FILE}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
    await writeFileDurable(file, temp, Buffer.from(JSON.stringify(meta) + '\n'), path);
    return meta;
  }
  let meta: Partial<VolumeMeta> | undefined;
  try {
    meta = JSON.parse(text) as Partial<VolumeMeta>;
  } catch {
    meta = undefined;
  }
  if (meta?.format !== VOLUME_FORMAT || typeof meta.id !== 'string' || !/^vol-[0-9a-f]{16}$/.test(meta.id)) {
    throw new BaksaError(StorageErrorCode.volumeFormat, `volume ${path} has an unknown or damaged ${VOLUME_META_FILE}`, {
      hint: meta?.format !== undefined && meta.format !== VOLUME_FORMAT
        ? `it was written by another 2baksa version (format ${String(meta.format)}): use that version`
        : `it only names the volume, and the shards beside it do not depend on it: restore it from a copy, or write a new name into it ` +
          `(echo '{"format":1,"id":"vol-${randomBytes(8).toString('hex')}"}' > ${file}), then run 2baksa check --read-data`,
      exitCode: ExitCode.data,
      details: { volume: path, format: meta?.format },
    });
  }
  return { format: meta.format, id: meta.id };
}

const HEX2 = /^[0-9a-f]{2}$/;

/** Every committed shard file of a volume (names that are not shard ids are skipped). */
export async function* walkCommitted(volume: Volume, withSize: boolean): AsyncGenerator<{ id: string; bytes: number }> {
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
