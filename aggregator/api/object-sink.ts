/**
 * Where a backup submitted through the API goes: a pluggable object sink. An aggregator node uses the
 * erasure-coded cluster store (aggregator/node/cluster-sink.ts); `LocalCasSink` keeps each object as
 * one content-addressed file (SHA-256) under a directory (a single node, tests):
 *
 *   DIR/objects/<account hex>/<sha256[0..2]>/<sha256>      DIR/tmp/ (uploads in progress)
 *
 * An upload streams into a temporary file while it is hashed and counted (refused past `bytesMax`),
 * then is fsynced and renamed to its hash, and the directory is fsynced. The same content uploaded
 * twice is stored once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDir } from '../../shared/crypto/durable-file.ts';
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/output.ts';
import { writeFully } from '../../shared/storage/fsutil.ts';
import type { VolumeUsage } from '../reports/space.ts';

export interface StoredObjectInfo {
  objectId: string;
  bytes: number;
  /** True when the sink already held this content for the account. */
  existed: boolean;
  /** Where the bytes are, for sinks that need it back to read them (recorded with the object, replicated). */
  layout?: string;
}

export interface PutOptions {
  /** Refuse the upload once it passes this many bytes. */
  bytesMax: number;
}

export interface ObjectSink {
  put(account: number, data: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredObjectInfo>;
  /** A stream of the object, or undefined when it is not stored. */
  get(account: number, objectId: string): Promise<{ bytes: number; stream: Readable } | undefined>;
  /**
   * Frees a removed object's storage. `layout`: the one its deletion recorded (the object's row is
   * gone by then); without it the sink looks the object up.
   */
  delete(account: number, objectId: string, layout?: string | null): Promise<boolean>;
  /** Drops what `put` wrote for an upload that will not be recorded (refused, or a duplicate). */
  discard(account: number, stored: StoredObjectInfo): Promise<void>;
  /** Physical usage, for space reports. */
  volumes(): Promise<VolumeUsage[]>;
}

/**
 * Frees the storage of objects a command removed (housekeeping, a deleted account), found by the
 * layouts their deletions recorded: the objects' rows are gone by then.
 */
export async function reclaimRemoved(db: Database, sink: ObjectSink, account: number, objectIds: readonly string[]): Promise<void> {
  for (const id of objectIds) {
    const row = await db.get<{ layout: string | null }>('SELECT layout FROM deletions WHERE account = ? AND object_id = ? ORDER BY deleted_ms DESC, seq DESC LIMIT 1', [account, id]);
    await sink.delete(account, id, row?.layout ?? null);
  }
}

export function payloadTooLarge(bytesMax: number): BaksaError {
  return new BaksaError('PAYLOAD_TOO_LARGE', `the upload is larger than ${formatBytes(bytesMax)}`, {
    hint: 'split the data into smaller objects, or raise the node limit (backupBytesMax)',
    exitCode: ExitCode.data,
    details: { bytesMax },
  });
}

const OBJECT_ID = /^[0-9a-f]{64}$/;

export interface LocalCasSinkOptions {
  cluster: string;
  node: string;
}

export class LocalCasSink implements ObjectSink {
  constructor(
    readonly dir: string,
    readonly options: LocalCasSinkOptions = { cluster: 'local', node: 'local' },
  ) {}

  private accountDir(account: number): string {
    return join(this.dir, 'objects', account.toString(16).padStart(8, '0'));
  }

  private pathOf(account: number, objectId: string): string {
    return join(this.accountDir(account), objectId.slice(0, 2), objectId);
  }

  async put(account: number, data: AsyncIterable<Uint8Array>, options: PutOptions): Promise<StoredObjectInfo> {
    const tmpDir = join(this.dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.part`);
    const hash = createHash('sha256');
    let bytes = 0;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      try {
        for await (const chunk of data) {
          bytes += chunk.length;
          if (bytes > options.bytesMax) throw payloadTooLarge(options.bytesMax);
          hash.update(chunk);
          await writeFully(fh, chunk);
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const objectId = hash.digest('hex');
      const target = this.pathOf(account, objectId);
      if (await stat(target).catch(() => undefined)) {
        await unlink(tmp);
        return { objectId, bytes, existed: true };
      }
      const dir = join(this.accountDir(account), objectId.slice(0, 2));
      await mkdir(dir, { recursive: true });
      await rename(tmp, target);
      await fsyncDir(dir);
      return { objectId, bytes, existed: false };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async get(account: number, objectId: string): Promise<{ bytes: number; stream: Readable } | undefined> {
    if (!OBJECT_ID.test(objectId)) return undefined;
    const path = this.pathOf(account, objectId);
    const s = await stat(path).catch(() => undefined);
    if (!s) return undefined;
    return { bytes: s.size, stream: createReadStream(path) };
  }

  async discard(account: number, stored: StoredObjectInfo): Promise<void> {
    if (!stored.existed) await this.delete(account, stored.objectId);
  }

  async delete(account: number, objectId: string): Promise<boolean> {
    if (!OBJECT_ID.test(objectId)) return false;
    try {
      await unlink(this.pathOf(account, objectId));
      return true;
    } catch {
      return false;
    }
  }

  async volumes(): Promise<VolumeUsage[]> {
    let used = 0;
    let objects = 0;
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.isFile()) {
          used += (await stat(p)).size;
          objects++;
        }
      }
    };
    await walk(join(this.dir, 'objects'));
    let total: number | null = null;
    try {
      await mkdir(this.dir, { recursive: true });
      const fs = await statfs(this.dir);
      total = fs.blocks * fs.bsize;
    } catch {
      total = null;
    }
    return [{ cluster: this.options.cluster, node: this.options.node, volume: this.dir, bytesUsed: used, bytesTotal: total, objects }];
  }
}
