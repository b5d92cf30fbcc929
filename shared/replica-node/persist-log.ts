/**
 * The durable persist log of one replica: the core's `persist` records (consensus/persistence.ts),
 * append-only, in one file under the replica's data directory.
 *
 *   file  = MAGIC frame*                     MAGIC = "2BKSPBF" 0x01 (8 bytes; last byte = format version)
 *   frame = length:u32be crc:u32be payload   (shared/ledger/frame.ts), payload = encodePersistRecord(record),
 *           where a batch already in the file is written as a reference (persist-codec.ts)
 *
 * - `append(records)` writes every frame of one batch with one positional write, then one fdatasync
 *   (group commit). A crash can keep a prefix of a batch; that is safe because the shell sends nothing
 *   of a batch before the whole batch is durable.
 *   Where the platform has O_DSYNC the file is opened with it, and the write itself returns once
 *   durable, as write + fdatasync would: one trip to the thread pool per batch instead of two, which
 *   adds up on a loaded machine since every phase of a request persists once before its message.
 * - A fast disk is written from the calling thread, a slow one through the thread pool. A batch's
 *   durable write then blocks the event loop for its own time (about 0.2 ms on the disks measured),
 *   which costs less than handing it to a pool thread and waking the loop again: two thread wake-ups
 *   per batch, and every phase of a request waits for one batch of each replica. When even the
 *   fastest of the last `SYNC_SAMPLES` such writes took more than `syncWriteMsMax` (a disk without a
 *   fast flush) the log goes through the pool, so the replica steps its next batch while the disk
 *   works; every `SYNC_PROBE_EVERY`-th batch is then written from the thread again to see whether the
 *   disk has become fast. The fastest, not the mean: on a busy machine a write's wall time also holds
 *   the wait for a core after it, which says nothing of the disk (an average of 3 ms and more at the
 *   PBFT bench's peak, on a disk that flushes in 0.2).
 * - `open()` reads every frame and folds the records with `applyPersistRecord` into `state`, which
 *   `Replica.restore` takes. A torn tail (a crash mid-append) is cut off; a bad frame followed by more
 *   data, or a frame whose checksum holds but whose record does not decode, is corruption: the log
 *   refuses to open (PERSIST_LOG_CORRUPT) rather than forget votes the replica already sent.
 * - `compact()` rewrites the file as the folded state (stable checkpoint, snapshots, entries, view):
 *   temp file, fsync, rename, fsync of the directory. `compactIfDue()` does it after a stable record
 *   once the file passed `compactBytesMin` and `compactGrowthFactor` times its last compacted size, so
 *   the file stays bounded by about twice the state of one log window.
 *
 * Calls are serialized internally; the folded `state` is kept in memory and always matches the file.
 */
import { constants as fsConstants, fdatasyncSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BaksaError, ExitCode } from '../errors.ts';
import { fsyncDir } from '../crypto/durable-file.ts';
import { encodeFrame, readFrames } from '../ledger/frame.ts';
import { applyPersistRecord, emptyPersistedState, type CodecOptions, type PersistedState, type PersistRecord } from '../consensus/index.ts';
import { PersistRecordCodec } from './persist-codec.ts';

export const PERSIST_LOG_MAGIC: Uint8Array = new Uint8Array([0x32, 0x42, 0x4b, 0x53, 0x50, 0x42, 0x46, 0x01]); // "2BKSPBF" v1
export const PERSIST_LOG_FILE = 'pbft.log';
const COMPACT_TEMP_FILE = `${PERSIST_LOG_FILE}.compact.tmp`;
/** While the log goes through the thread pool, every this-many-th batch is written from the thread to measure the disk again. */
const SYNC_PROBE_EVERY = 64;
/** The durable writes from the thread whose fastest decides (see above). */
const SYNC_SAMPLES = 8;
/** O_DSYNC where the platform has it (not on Windows). */
const DSYNC: number | undefined = fsConstants.O_DSYNC;

/** Flags of the log's own handle: read-write, and O_DSYNC when durable writes are wanted and available. */
function logFlags(fsync: boolean, create: boolean): number {
  const { O_RDWR, O_CREAT, O_EXCL } = fsConstants;
  return O_RDWR | (create ? O_CREAT | O_EXCL : 0) | (fsync && DSYNC !== undefined ? DSYNC : 0);
}

export interface PersistLogOptions {
  fsync: boolean;
  /** Write from the calling thread while the fastest of the recent durable writes took at most this (ms); 0 always uses the thread pool. */
  syncWriteMsMax: number;
  recordBytesMax: number;
  compactBytesMin: number;
  compactGrowthFactor: number;
  codec: Partial<CodecOptions>;
}

export const defaultPersistLogOptions: PersistLogOptions = {
  fsync: true,
  syncWriteMsMax: 2,
  recordBytesMax: 256 * 1024 * 1024,
  compactBytesMin: 8 * 1024 * 1024,
  compactGrowthFactor: 2,
  codec: {},
};

/** What `open` found. */
export interface PersistLogOpenReport {
  readonly records: number;
  /** Bytes of a torn last write that were cut off (0 after a clean shutdown). */
  readonly tornBytes: number;
  readonly bytes: number;
}

export interface PersistLogStats {
  bytes: number;
  records: number;
  batches: number;
  /** Batches written from the calling thread, and through the thread pool (a slow disk). */
  threadWrites: number;
  poolWrites: number;
  compactions: number;
}

/** The records that rebuild `state` when folded into an empty state, in that order. */
export function foldedRecords(state: PersistedState): PersistRecord[] {
  const records: PersistRecord[] = [];
  if (state.stable.seq > 0) records.push({ kind: 'stable', ...state.stable });
  for (const s of [...state.snapshots.values()].sort((a, b) => a.seq - b.seq)) records.push({ kind: 'snapshot', ...s });
  for (const entry of [...state.entries.values()].sort((a, b) => a.seq - b.seq)) records.push({ kind: 'entry', entry });
  records.push({ kind: 'view', view: state.view, viewChanging: state.viewChanging, newView: state.newView });
  return records;
}

function concatFrames(codec: PersistRecordCodec, records: readonly PersistRecord[], withMagic: boolean): Buffer {
  const frames = records.map((r) => encodeFrame(codec.encode(r)));
  if (withMagic) frames.unshift(PERSIST_LOG_MAGIC);
  return Buffer.concat(frames);
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

function codecOptions(o: PersistLogOptions): Partial<CodecOptions> {
  return { ...o.codec, messageBytesMax: o.recordBytesMax };
}

function corrupt(path: string, why: string, offset: number): BaksaError {
  return new BaksaError('PERSIST_LOG_CORRUPT', `${path}: ${why} at byte ${offset}`, {
    hint:
      'the replica\'s persist log is damaged; move its data directory aside and start the replica again: it rejoins ' +
      'by state transfer, and counts as the cluster\'s one faulty replica until it has caught up',
    exitCode: ExitCode.data,
    details: { path, offset },
  });
}

export class PersistLog {
  readonly state: PersistedState;
  readonly opened: PersistLogOpenReport;
  private readonly counters: PersistLogStats;
  private compactedBytes: number;
  private stableSinceCompaction = false;
  private chain: Promise<unknown> = Promise.resolve();
  /** The last SYNC_SAMPLES durable writes made from the thread (ms), and the batches written through the pool since one was. */
  private readonly syncWritesMs: number[] = [];
  private pooledWrites = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly path: string,
    private fh: FileHandle,
    private size: number,
    state: PersistedState,
    opened: PersistLogOpenReport,
    private readonly options: PersistLogOptions,
    private recordCodec: PersistRecordCodec,
  ) {
    this.state = state;
    this.opened = opened;
    this.compactedBytes = size;
    this.counters = { bytes: size, records: 0, batches: 0, threadWrites: 0, poolWrites: 0, compactions: 0 };
  }

  /** Opens (or creates) the log in `dir` and folds what it holds. */
  static async open(dir: string, options: Partial<PersistLogOptions> = {}): Promise<PersistLog> {
    const o: PersistLogOptions = { ...defaultPersistLogOptions, ...options };
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await rm(join(dir, COMPACT_TEMP_FILE), { force: true });
    const path = join(dir, PERSIST_LOG_FILE);
    let fh: FileHandle;
    try {
      fh = await open(path, logFlags(o.fsync, false));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fh = await open(path, logFlags(o.fsync, true), 0o600);
      await writeAll(fh, PERSIST_LOG_MAGIC, 0);
      await fh.sync();
      await fsyncDir(dir);
    }
    try {
      return await PersistLog.load(dir, path, fh, o);
    } catch (error) {
      await fh.close();
      throw error;
    }
  }

  private static async load(dir: string, path: string, fh: FileHandle, o: PersistLogOptions): Promise<PersistLog> {
    let size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, PERSIST_LOG_MAGIC.length));
    if (head.length > 0) await fh.read(head, 0, head.length, 0);
    const magicMatches = head.every((b, i) => b === PERSIST_LOG_MAGIC[i]);
    if (!magicMatches) {
      throw new BaksaError('PERSIST_LOG_FOREIGN', `${path} is not a 2baksa persist log`, {
        hint: 'point the replica at its own data directory', exitCode: ExitCode.data, details: { path },
      });
    }
    let tornBytes = 0;
    if (size < PERSIST_LOG_MAGIC.length) {
      // A torn creation: start the file again.
      tornBytes = size;
      await writeAll(fh, PERSIST_LOG_MAGIC, 0);
      await fh.truncate(PERSIST_LOG_MAGIC.length);
      await fh.sync();
      size = PERSIST_LOG_MAGIC.length;
    }
    const state = emptyPersistedState();
    const recordCodec = new PersistRecordCodec(codecOptions(o));
    let records = 0;
    for await (const event of readFrames(fh, PERSIST_LOG_MAGIC.length, size, o.recordBytesMax)) {
      if (event.kind === 'corrupt') throw corrupt(path, event.why, event.offset);
      if (event.kind === 'torn') {
        tornBytes += event.bytes;
        await fh.truncate(event.offset);
        await fh.sync();
        size = event.offset;
        break;
      }
      const decoded = recordCodec.decode(event.payload);
      if (!decoded.ok) throw corrupt(path, `record does not decode (${decoded.error.message})`, event.offset);
      applyPersistRecord(state, decoded.value);
      records += 1;
    }
    return new PersistLog(dir, path, fh, size, state, { records, tornBytes, bytes: size }, o, recordCodec);
  }

  get stats(): PersistLogStats {
    return { ...this.counters, bytes: this.size };
  }

  /** Appends one batch: one durable write (O_DSYNC, or a write and an fdatasync); then folds the records into `state`. */
  append(records: readonly PersistRecord[]): Promise<void> {
    return this.serialized(async () => {
      if (records.length === 0) return;
      const data = concatFrames(this.recordCodec, records, false);
      await this.writeDurably(data);
      this.size += data.length;
      this.counters.records += records.length;
      this.counters.batches += 1;
      for (const r of records) {
        applyPersistRecord(this.state, r);
        if (r.kind === 'stable') this.stableSinceCompaction = true;
      }
    });
  }

  /** Whether the next batch is written from this thread: the disk measured fast, too few measures yet, or a probe due. */
  private fromThread(): boolean {
    if (this.options.syncWriteMsMax <= 0) return false;
    if (this.syncWritesMs.length < SYNC_SAMPLES || this.pooledWrites >= SYNC_PROBE_EVERY) return true;
    return Math.min(...this.syncWritesMs) <= this.options.syncWriteMsMax;
  }

  /** One batch's bytes at the end of the file, durably: from this thread while the disk is fast, else through the pool. */
  private async writeDurably(data: Uint8Array): Promise<void> {
    const o = this.options;
    if (this.fromThread()) {
      const started = performance.now();
      for (let done = 0; done < data.length;) done += writeSync(this.fh.fd, data, done, data.length - done, this.size + done);
      if (o.fsync && DSYNC === undefined) fdatasyncSync(this.fh.fd);
      if (this.syncWritesMs.push(performance.now() - started) > SYNC_SAMPLES) this.syncWritesMs.shift();
      this.pooledWrites = 0;
      this.counters.threadWrites += 1;
      return;
    }
    this.pooledWrites += 1;
    this.counters.poolWrites += 1;
    await writeAll(this.fh, data, this.size);
    if (o.fsync && DSYNC === undefined) await this.fh.datasync();
  }

  /** Compacts when a stable checkpoint came since the last compaction and the file has grown enough. */
  compactIfDue(): Promise<boolean> {
    return this.serialized(async () => {
      const due = Math.max(this.options.compactBytesMin, this.compactedBytes * this.options.compactGrowthFactor);
      if (!this.stableSinceCompaction || this.size < due) return false;
      await this.rewrite();
      return true;
    });
  }

  /** Rewrites the file as the folded state (write-temp, fsync, rename, fsync-dir). */
  compact(): Promise<void> {
    return this.serialized(() => this.rewrite());
  }

  /** Closes the file after the calls already made; idempotent. */
  async close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.serialized(async () => {
      await this.fh.close();
      this.closed = true;
    });
    return this.closing;
  }

  private async rewrite(): Promise<void> {
    const recordCodec = new PersistRecordCodec(codecOptions(this.options));
    const data = concatFrames(recordCodec, foldedRecords(this.state), true);
    const tmp = join(this.dir, COMPACT_TEMP_FILE);
    const out = await open(tmp, 'w', 0o600);
    try {
      await writeAll(out, data, 0);
      if (this.options.fsync) await out.sync();
    } finally {
      await out.close();
    }
    await rename(tmp, this.path);
    if (this.options.fsync) await fsyncDir(this.dir);
    await this.fh.close();
    this.fh = await open(this.path, logFlags(this.options.fsync, false));
    this.recordCodec = recordCodec;
    this.size = data.length;
    this.compactedBytes = data.length;
    this.stableSinceCompaction = false;
    this.counters.compactions += 1;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.closed) throw new Error('invariant violated: persist log used after close');
      return fn();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
