/**
 * The durable persist log of one replica: the core's `persist` records (consensus/persistence.ts),
 * append-only, in one file under the replica's data directory.
 *
 *   file    = MAGIC batch* zero*            MAGIC = "2BKSPBF" 0x02 (8 bytes; last byte = format version)
 *   batch   = "PBFB" length:u32be crc:u32be records      crc = CRC-32 (as zlib) of the records
 *   records = (length:u32be payload)*       payload = encodePersistRecord(record), where a request
 *                                           batch already in the file is a reference (persist-codec.ts)
 *
 * - `append(records)` writes one batch (group commit) with one positional write, durably. Where the
 *   platform has O_DSYNC the file is opened with it, and the write itself returns once durable, as
 *   write + fdatasync would. A batch counts whole or not at all: its checksum covers every record.
 * - **Zero-filled space ahead of the end** (`preallocateBytes`, 4 MiB): a durable write that appends
 *   changes the file's size, and on ext4 every such write commits the journal; one over space the file
 *   already holds does not. On the disk measured, with four replicas writing at once, that halved each
 *   write (163-221 against 346-417 µs), and every phase of a request waits for one (PostgreSQL fills
 *   its WAL segments with zeros for the same reason). The space is filled off the replica's thread,
 *   1 MiB at a time, once less than a quarter of it is left; a batch that does not fit appends.
 * - Torn or damaged: an append torn by a crash used to leave the old size, so a bad frame with data
 *   after it could only be damage. Over preallocated space a torn write of several pages can keep any
 *   of them, so on open a bad batch is a torn last write when no complete batch (its header and
 *   checksum whole) follows it in the file, and damage when one does: the log then refuses to open
 *   (PERSIST_LOG_CORRUPT) rather than forget votes the replica already sent. Zeros after the last
 *   batch are the end. A batch inside a client's request is no batch of the log's, but a torn write
 *   that kept one whole and lost the header of its own could be taken for damage: the replica then
 *   refuses to open, as for any damage, and nothing is forgotten.
 * - A version 1 log (one frame per record, no preallocation) is read as before and rewritten at once
 *   as version 2 (the compaction below).
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
 * - `open()` reads every batch and folds its records with `applyPersistRecord` into `state`, which
 *   `Replica.restore` takes. A torn last write is cut off with the space after it (zeros are written
 *   there again); a bad batch with a whole one after it, or a batch whose checksum holds but whose
 *   records do not fill it or do not decode, is corruption (above).
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
import { crc32, readExactly, readFrames } from '../ledger/frame.ts';
import { applyPersistRecord, emptyPersistedState, type CodecOptions, type PersistedState, type PersistRecord } from '../consensus/index.ts';
import { PersistRecordCodec } from './persist-codec.ts';

export const PERSIST_LOG_MAGIC: Uint8Array = new Uint8Array([0x32, 0x42, 0x4b, 0x53, 0x50, 0x42, 0x46, 0x02]); // "2BKSPBF" v2
/** The first format: MAGIC frame*, one ledger frame (frame.ts) per record, the file's size its end. */
const PERSIST_LOG_MAGIC_V1: Uint8Array = new Uint8Array([0x32, 0x42, 0x4b, 0x53, 0x50, 0x42, 0x46, 0x01]);
const BATCH_MAGIC: Uint8Array = new Uint8Array([0x50, 0x42, 0x46, 0x42]); // "PBFB"
const BATCH_HEADER_BYTES = 12;
const RECORD_HEADER_BYTES = 4;
/** Zeros are written ahead of the end this many bytes at a time. */
const ZERO_WRITE_BYTES = 1024 * 1024;
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
  /** Zero-filled space kept ahead of the log's end (bytes; 0: every batch appends). */
  preallocateBytes: number;
  recordBytesMax: number;
  compactBytesMin: number;
  compactGrowthFactor: number;
  codec: Partial<CodecOptions>;
}

export const defaultPersistLogOptions: PersistLogOptions = {
  fsync: true,
  syncWriteMsMax: 2,
  preallocateBytes: 4 * 1024 * 1024,
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
  /** The format the file was in: 1 is rewritten as 2 on open. */
  readonly version: 1 | 2;
}

export interface PersistLogStats {
  bytes: number;
  records: number;
  batches: number;
  /** Batches written from the calling thread, and through the thread pool (a slow disk). */
  threadWrites: number;
  poolWrites: number;
  /** Batches written over zero-filled space, and past the file's end. */
  preallocatedWrites: number;
  appendingWrites: number;
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

/** One batch of the log: its header and its records' payloads, each after its length. */
export function encodePersistBatch(payloads: readonly Uint8Array[]): Buffer {
  let length = 0;
  for (const p of payloads) length += RECORD_HEADER_BYTES + p.length;
  const out = Buffer.allocUnsafe(BATCH_HEADER_BYTES + length);
  out.set(BATCH_MAGIC, 0);
  out.writeUInt32BE(length, 4);
  let at = BATCH_HEADER_BYTES;
  for (const p of payloads) {
    out.writeUInt32BE(p.length, at);
    out.set(p, at + RECORD_HEADER_BYTES);
    at += RECORD_HEADER_BYTES + p.length;
  }
  out.writeUInt32BE(crc32(out.subarray(BATCH_HEADER_BYTES)), 8);
  return out;
}

/** A batch's record payloads, or undefined when their lengths do not fill it exactly or pass `max`. */
function recordsOf(body: Uint8Array, max: number): Uint8Array[] | undefined {
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const payloads: Uint8Array[] = [];
  for (let at = 0; at < body.length;) {
    if (at + RECORD_HEADER_BYTES > body.length) return undefined;
    const length = view.getUint32(at);
    at += RECORD_HEADER_BYTES;
    if (length > max || at + length > body.length) return undefined;
    payloads.push(body.subarray(at, at + length));
    at += length;
  }
  return payloads;
}

/** The batch whose header is at `at` in `bytes`, when all of it is there and its checksum holds. */
function wholeBatchAt(bytes: Uint8Array, at: number): Uint8Array | undefined {
  if (at + BATCH_HEADER_BYTES > bytes.length) return undefined;
  for (let i = 0; i < BATCH_MAGIC.length; i++) if (bytes[at + i] !== BATCH_MAGIC[i]) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BATCH_HEADER_BYTES);
  const length = view.getUint32(4);
  const end = at + BATCH_HEADER_BYTES + length;
  if (end > bytes.length) return undefined;
  const body = bytes.subarray(at + BATCH_HEADER_BYTES, end);
  return crc32(body) === view.getUint32(8) ? body : undefined;
}

type BatchEvent =
  | { kind: 'batch'; offset: number; payloads: Uint8Array[] }
  /** The log ends here: the file's end, or zeros up to it. */
  | { kind: 'end'; offset: number }
  /** A torn last write at `offset`: `bytes` up to the last byte that is not zero. */
  | { kind: 'torn'; offset: number; bytes: number }
  | { kind: 'corrupt'; offset: number; why: string };

/** Reads the batches of a version 2 log from `start` to the file's `size` (see the header). */
async function* readBatches(fh: FileHandle, start: number, size: number, recordBytesMax: number): AsyncGenerator<BatchEvent> {
  let offset = start;
  while (offset < size) {
    let body: Uint8Array | undefined;
    if (size - offset >= BATCH_HEADER_BYTES) {
      const length = (await readExactly(fh, offset, BATCH_HEADER_BYTES)).readUInt32BE(4);
      if (length <= size - offset - BATCH_HEADER_BYTES) body = wholeBatchAt(await readExactly(fh, offset, BATCH_HEADER_BYTES + length), 0);
    }
    if (!body) {
      yield await badBatch(fh, offset, size);
      return;
    }
    const payloads = recordsOf(body, recordBytesMax);
    if (!payloads) {
      yield { kind: 'corrupt', offset, why: 'the records of a batch whose checksum holds do not fill it' };
      return;
    }
    yield { kind: 'batch', offset, payloads };
    offset += BATCH_HEADER_BYTES + body.length;
  }
  yield { kind: 'end', offset };
}

/** What a bad batch at `offset` is: the end (zeros after it), a torn last write, or damage (a whole batch after it). */
async function badBatch(fh: FileHandle, offset: number, size: number): Promise<BatchEvent> {
  const rest = await readExactly(fh, offset, size - offset);
  let end = rest.length;
  while (end > 0 && rest[end - 1] === 0) end--;
  if (end === 0) return { kind: 'end', offset };
  for (let at = rest.indexOf(BATCH_MAGIC, 1); at !== -1 && at < end; at = rest.indexOf(BATCH_MAGIC, at + 1)) {
    if (wholeBatchAt(rest, at)) return { kind: 'corrupt', offset, why: `a bad batch with a whole batch after it, at byte ${offset + at}` };
  }
  return { kind: 'torn', offset, bytes: end };
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
  /** Where the zero-filled space ahead of `size` ends, and the filling of more of it, while that runs. */
  private allocatedEnd: number;
  private preallocating: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    readonly dir: string,
    readonly path: string,
    private fh: FileHandle,
    private size: number,
    fileBytes: number,
    state: PersistedState,
    opened: PersistLogOpenReport,
    private readonly options: PersistLogOptions,
    private recordCodec: PersistRecordCodec,
  ) {
    this.state = state;
    this.opened = opened;
    this.compactedBytes = size;
    this.allocatedEnd = fileBytes;
    this.counters = {
      bytes: size, records: 0, batches: 0, threadWrites: 0, poolWrites: 0, preallocatedWrites: 0, appendingWrites: 0, compactions: 0,
    };
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
    let log: PersistLog;
    try {
      log = await PersistLog.load(dir, path, fh, o);
    } catch (error) {
      await fh.close();
      throw error;
    }
    if (log.opened.version === 1) await log.compact();
    log.preallocateIfLow();
    return log;
  }

  private static async load(dir: string, path: string, fh: FileHandle, o: PersistLogOptions): Promise<PersistLog> {
    let size = (await fh.stat()).size;
    const head = new Uint8Array(Math.min(size, PERSIST_LOG_MAGIC.length));
    if (head.length > 0) await fh.read(head, 0, head.length, 0);
    const version = head.length === PERSIST_LOG_MAGIC.length && head.every((b, i) => b === PERSIST_LOG_MAGIC_V1[i]) ? 1 : 2;
    const magicMatches = head.every((b, i) => b === (version === 1 ? PERSIST_LOG_MAGIC_V1 : PERSIST_LOG_MAGIC)[i]);
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
    const apply = (payload: Uint8Array, offset: number) => {
      const decoded = recordCodec.decode(payload);
      if (!decoded.ok) throw corrupt(path, `record does not decode (${decoded.error.message})`, offset);
      applyPersistRecord(state, decoded.value);
      records += 1;
    };
    const cut = async (offset: number) => {
      await fh.truncate(offset);
      await fh.sync();
      size = offset;
    };
    if (version === 1) {
      for await (const event of readFrames(fh, PERSIST_LOG_MAGIC.length, size, o.recordBytesMax)) {
        if (event.kind === 'corrupt') throw corrupt(path, event.why, event.offset);
        if (event.kind === 'torn') {
          tornBytes += event.bytes;
          await cut(event.offset);
          break;
        }
        apply(event.payload, event.offset);
      }
      return new PersistLog(dir, path, fh, size, size, state, { records, tornBytes, bytes: size, version }, o, recordCodec);
    }
    const fileBytes = size;
    for await (const event of readBatches(fh, PERSIST_LOG_MAGIC.length, size, o.recordBytesMax)) {
      if (event.kind === 'corrupt') throw corrupt(path, event.why, event.offset);
      if (event.kind === 'batch') {
        for (const payload of event.payloads) apply(payload, event.offset);
      } else if (event.kind === 'torn') {
        // The torn write's bytes go with the space after them: zeros are written there again.
        tornBytes += event.bytes;
        await cut(event.offset);
      } else {
        size = event.offset;
      }
    }
    return new PersistLog(dir, path, fh, size, tornBytes > 0 ? size : fileBytes, state, { records, tornBytes, bytes: size, version }, o, recordCodec);
  }

  get stats(): PersistLogStats {
    return { ...this.counters, bytes: this.size };
  }

  /** Appends one batch: one durable write (O_DSYNC, or a write and an fdatasync); then folds the records into `state`. */
  append(records: readonly PersistRecord[]): Promise<void> {
    return this.serialized(async () => {
      if (records.length === 0) return;
      const data = encodePersistBatch(records.map((r) => this.recordCodec.encode(r)));
      // Zeros may still be going to the space this batch needs: never write over them at the same time.
      if (this.size + data.length > this.allocatedEnd) await this.preallocating;
      const preallocated = this.size + data.length <= this.allocatedEnd;
      await this.writeDurably(data);
      this.size += data.length;
      this.allocatedEnd = Math.max(this.allocatedEnd, this.size);
      this.counters.records += records.length;
      this.counters.batches += 1;
      if (preallocated) this.counters.preallocatedWrites += 1;
      else this.counters.appendingWrites += 1;
      for (const r of records) {
        applyPersistRecord(this.state, r);
        if (r.kind === 'stable') this.stableSinceCompaction = true;
      }
      this.preallocateIfLow();
    });
  }

  /**
   * Once less than a quarter of the zero-filled space is left, fills `preallocateBytes` more past it,
   * through the thread pool and beside the appends (they write below `allocatedEnd`, the zeros above).
   * A failure (a full disk) only leaves the batches to append.
   */
  private preallocateIfLow(): void {
    const want = this.options.preallocateBytes;
    if (want <= 0 || this.preallocating || this.closed || this.allocatedEnd - this.size >= want / 4) return;
    const fh = this.fh;
    const from = this.allocatedEnd;
    const zeros = Buffer.alloc(Math.min(ZERO_WRITE_BYTES, want));
    this.preallocating = (async () => {
      for (let done = 0; done < want; done += zeros.length) {
        await writeAll(fh, zeros.subarray(0, Math.min(zeros.length, want - done)), from + done);
        if (this.options.fsync && DSYNC === undefined) await fh.datasync();
        if (this.fh === fh && this.allocatedEnd === from + done) this.allocatedEnd = from + done + Math.min(zeros.length, want - done);
      }
    })().catch(() => undefined).finally(() => {
      this.preallocating = undefined;
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
      await this.preallocating;
      await this.fh.close();
      this.closed = true;
    });
    return this.closing;
  }

  private async rewrite(): Promise<void> {
    await this.preallocating;
    const recordCodec = new PersistRecordCodec(codecOptions(this.options));
    const data = Buffer.concat([PERSIST_LOG_MAGIC, encodePersistBatch(foldedRecords(this.state).map((r) => recordCodec.encode(r)))]);
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
    this.allocatedEnd = data.length;
    this.compactedBytes = data.length;
    this.stableSinceCompaction = false;
    this.counters.compactions += 1;
    this.preallocateIfLow();
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
