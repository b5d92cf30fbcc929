/**
 * Backs up one regular file: read → chunk → writer, never storing a torn version.
 *
 * Incremental (the caller already skipped files whose size, mtime and inode are unchanged):
 *  - A file that only grew (same inode, larger) is checked at both ends of its old content: the keyed
 *    hashes of its first HEAD_BYTES (`head`) and of the last TAIL_BYTES it had (`tail`) are compared
 *    with the ones recorded. The start is where file formats keep their sizes and counters (SQLite's
 *    page count, an archive's header), and the end is where they keep trailers (a zip's central
 *    directory, an index written after the data), so a structured file rewritten in place as it grew
 *    is read whole; a log only ever appends. A file changed in its middle alone, both ends intact,
 *    passes as a grown log, as it would if its size and mtime had not moved (`backup --force` reads
 *    every file whole). Rows from before tails were kept check the whole old last chunk by its chunk
 *    id instead (and, before heads were kept, the first chunk).
 *  - When both ends match, the old chunks are kept and only the new bytes are chunked. The old last
 *    chunk was cut by the end of the file, not by its content; one shorter than the chunker's minimum is
 *    read, checked by its chunk id and chunked again with the new bytes instead, so chunks stay at least
 *    the minimum however often a log grows a little. (Chunking every last chunk again would give exactly
 *    the boundaries of chunking the whole file, but each run would store that chunk again, up to the
 *    maximum chunk size, for a few appended lines, and reading, compressing and sealing it was most of an
 *    incremental run. Content-defined cuts fall back in step within a chunk or two of the old end.)
 *    Checking 8 KiB instead of reading the old last chunk (a megabyte on average) took the bytes an
 *    incremental run reads on 280 MB of logs grown 5 % from 55 MB to 20 MB.
 *  - Anything else re-chunks the whole file.
 *  - A file of up to `inlineMaxBytes` is read whole into its manifest entry, not chunked
 *    (manifest/model.ts); one that grows past it is chunked from its start.
 *
 * Consistency (Box Backup's torn-file bug): the file is fstat'ed before and after reading, and only
 * `size` bytes of the first stat are read. If size, mtime, ctime or inode moved, or the mtime is so recent
 * that a write in the same timestamp tick could hide, the file is read again after a pause, up to
 * `retriesMax` times; then it is skipped as FILE_CHANGING and its previous version stays in the catalog.
 *
 * A live log grows while it is read: a logger appending every few milliseconds moves size and mtime
 * during every attempt (and an incremental read is so short that the mtime is always inside the racy
 * window), and such a file, the one a gateway most needs kept, was skipped by every backup. When the
 * file only grew (same inode, larger), or did not change but was written just before (racy: then after
 * a pause of the racy window), the attempt's bytes are read a second time (`versionHeld`): the ends by
 * their keyed hashes and the range the attempt read chunked again, chunk id by chunk id (a small file's
 * bytes compared whole). Equal, they are stored as the file's version: the log as it was when it had
 * `size` bytes, with that stat's mtime; the next backup finds it grown and reads on from there. Bytes
 * read twice alike were not torn by a writer, so a file rewritten in place while it is read is still
 * read again, or skipped.
 */
import { open, appendFile, type FileHandle } from 'node:fs/promises';
import { constants, type BigIntStats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Chunker, type ChunkerOptions } from '../../shared/chunking/index.ts';
import type { ChunkRef, FileState } from '../catalog/index.ts';
import type { ChunkWriter } from '../chunks/index.ts';
import { INLINE_BYTES_MAX } from '../manifest/model.ts';
import { fsPath } from '../sources/names.ts';
import type { BackupCounters } from './events.ts';
import type { Faults } from './faults.ts';

export interface FileReadOptions {
  chunker: ChunkerOptions;
  /** Bytes per read(2). */
  readPieceBytes: number;
  /** Re-reads of a file that changed while it was read. */
  retriesMax: number;
  /** A file modified this close to the start of its read is read again after this pause. */
  racyWindowMs: number;
  faults: Faults;
  /** Files of 1..this many bytes are kept whole in the manifest (`FileState.inline`); 0 chunks every file. */
  inlineMaxBytes: number;
  /** Stops reading (daemon shutdown). */
  signal?: AbortSignal;
}

/** Bytes at the start of a file whose keyed hash the catalog keeps (`FileState.head`). */
export const HEAD_BYTES = 4096;
/** Bytes at the end of a file whose keyed hash the catalog keeps (`FileState.tail`). */
export const TAIL_BYTES = 4096;

export const defaultFileReadOptions: Omit<FileReadOptions, 'chunker'> = {
  readPieceBytes: 1024 * 1024,
  retriesMax: 3,
  racyWindowMs: 20,
  faults: {},
  inlineMaxBytes: INLINE_BYTES_MAX,
};

/** Whether a file of `size` bytes is kept whole in its manifest entry instead of as chunks. */
export function keptInline(size: number, opts: Pick<FileReadOptions, 'inlineMaxBytes'>): boolean {
  return size > 0 && size <= opts.inlineMaxBytes;
}

export type FileResult =
  | { kind: 'stored'; state: FileState; stat: BigIntStats; appended: boolean }
  | { kind: 'skipped'; code: string; message: string };

/** A read(2)/open(2) failure of the source file (not of the store). */
class SourceError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export function inodeOf(st: BigIntStats): string {
  return `${st.dev}:${st.ino}`;
}

export function unchanged(prev: FileState | undefined, st: BigIntStats): boolean {
  return prev !== undefined && prev.size === Number(st.size) && prev.mtimeNs === st.mtimeNs.toString() && prev.inode === inodeOf(st);
}

function sameStat(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

/** The same file, longer: what a writer that only appends leaves. */
function grewOnly(before: BigIntStats, after: BigIntStats): boolean {
  return after.ino === before.ino && after.dev === before.dev && after.size > before.size;
}

/**
 * Whether the first `size` bytes of the file are still what the attempt read: a small file's bytes
 * compared whole; a chunked file's ends by their keyed hashes (what came before this attempt's reading
 * was checked by them when it began) and the range this attempt read chunked again, chunk id by chunk
 * id. Equal bytes read twice, the second time after the first read ended, were not torn by a writer.
 */
async function versionHeld(fh: FileHandle, path: string, size: number, attempt: Attempt, writer: ChunkWriter, opts: FileReadOptions, counters: BackupCounters): Promise<boolean> {
  try {
    if (attempt.inline) {
      const again = Buffer.allocUnsafe(size);
      return (await readInto(fh, path, again, 0, opts, counters)) === size && again.equals(attempt.inline);
    }
    if (attempt.head === undefined || attempt.tail === undefined) return false;
    if (!(await readIfId(fh, path, 0, Math.min(HEAD_BYTES, size), attempt.head, writer, opts, counters))) return false;
    const tailSpan = Math.min(TAIL_BYTES, size);
    if (!(await readIfId(fh, path, size - tailSpan, tailSpan, attempt.tail, writer, opts, counters))) return false;
    const expected = attempt.refs.slice(attempt.fresh);
    const chunker = new Chunker(opts.chunker);
    let i = 0;
    const same = (data: Uint8Array) => expected[i]?.length === data.length && expected[i++]!.id === writer.idOf(data);
    for await (const piece of readRange(fh, path, attempt.from, size, opts, counters)) {
      for (const c of chunker.push(piece)) if (!same(c.data)) return false;
    }
    for (const c of chunker.finish()) if (!same(c.data)) return false;
    return i === expected.length;
  } catch (error) {
    if (error instanceof SourceError) return false; // read again: the next attempt meets the error and reports it
    throw error;
  }
}

async function* readRange(
  fh: FileHandle,
  path: string,
  start: number,
  end: number,
  opts: FileReadOptions,
  counters: BackupCounters,
): AsyncGenerator<Uint8Array> {
  let pos = start;
  while (pos < end) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    if (opts.faults.readError?.test(path)) throw new SourceError('EIO', `injected read error on ${path}`);
    const n = Math.min(opts.readPieceBytes, end - pos);
    const buf = Buffer.allocUnsafe(n);
    let got: number;
    try {
      got = (await fh.read(buf, 0, n, pos)).bytesRead;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new SourceError(e.code ?? 'EIO', e.message);
    }
    if (got === 0) return; // shrank: the stat check after the read notices
    counters.bytesRead += got;
    pos += got;
    yield got === n ? buf : buf.subarray(0, got);
  }
}

/** The `length` bytes at `start` when all are there and their keyed hash is `id` (an end of a file's old content); else undefined. */
async function readIfId(fh: FileHandle, path: string, start: number, length: number, id: string, writer: ChunkWriter, opts: FileReadOptions, counters: BackupCounters): Promise<Buffer | undefined> {
  const bytes = Buffer.allocUnsafe(length);
  return (await readInto(fh, path, bytes, start, opts, counters)) === length && writer.idOf(bytes) === id ? bytes : undefined;
}

/** Reads target.length bytes at `start` into target (fewer if the file is shorter); the count read. */
async function readInto(fh: FileHandle, path: string, target: Uint8Array, start: number, opts: FileReadOptions, counters: BackupCounters): Promise<number> {
  let at = 0;
  while (at < target.length) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
    if (opts.faults.readError?.test(path)) throw new SourceError('EIO', `injected read error on ${path}`);
    let got: number;
    try {
      got = (await fh.read(target, at, target.length - at, start + at)).bytesRead;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new SourceError(e.code ?? 'EIO', e.message);
    }
    if (got === 0) break; // shrank: the stat check after the read notices
    counters.bytesRead += got;
    at += got;
  }
  return at;
}

/** Collects the first `want` bytes of a stream of pieces (a copy: the pieces go on to the chunker). */
class HeadTap {
  private readonly parts: Buffer[] = [];
  private have = 0;
  private done = false;

  constructor(private readonly want: number) {}

  /** Takes what it still needs of `piece`; true once, when it has all `want` bytes. */
  take(piece: Uint8Array): boolean {
    if (this.done) return false;
    const part = Buffer.from(piece.subarray(0, this.want - this.have));
    this.parts.push(part);
    this.have += part.length;
    this.done = this.have >= this.want;
    return this.done;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Keeps a copy of the last `want` bytes of a stream of pieces (the pieces go on to the chunker). */
class TailTap {
  private kept: Buffer = Buffer.alloc(0);

  constructor(private readonly want: number) {}

  take(piece: Uint8Array): void {
    if (piece.length >= this.want) {
      this.kept = Buffer.from(piece.subarray(piece.length - this.want));
      return;
    }
    const joined = Buffer.concat([this.kept, piece]);
    this.kept = joined.subarray(Math.max(0, joined.length - this.want));
  }

  bytes(): Buffer {
    return this.kept;
  }
}

async function* concat(first: Uint8Array, rest: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  if (first.length > 0) yield first;
  yield* rest;
}

interface Attempt {
  refs: ChunkRef[];
  appended: boolean;
  head?: string;
  tail?: string;
  /** Where this attempt's own reading began, and the index in `refs` of the first chunk it cut. */
  from: number;
  fresh: number;
  /** A small file's bytes (`inlineMaxBytes`), with no chunks. */
  inline?: Buffer;
}

/** The `mutate` fault (faults.ts): a concurrent writer, in place at the start or at the end. */
async function mutateFile(path: string, faults: FileReadOptions['faults']): Promise<void> {
  if (faults.mutate?.append) return appendFile(fsPath(path), 'concurrent write\n');
  const fh = await open(fsPath(path), 'r+');
  try {
    await fh.write(Buffer.from('concurrent write\n'), 0, 17, 0);
  } finally {
    await fh.close();
  }
}

/** Reads a small file whole, for its manifest entry. */
async function readInline(fh: FileHandle, path: string, size: number, opts: FileReadOptions, counters: BackupCounters, mutate: boolean): Promise<Attempt> {
  const bytes = Buffer.allocUnsafe(size);
  const got = await readInto(fh, path, bytes, 0, opts, counters);
  if (mutate) await mutateFile(path, opts.faults);
  return { refs: [], appended: false, inline: bytes.subarray(0, got), from: 0, fresh: 0 };
}

async function readAttempt(
  fh: FileHandle,
  path: string,
  size: number,
  prev: FileState | undefined,
  sameInode: boolean,
  writer: ChunkWriter,
  opts: FileReadOptions,
  counters: BackupCounters,
  mutate: boolean,
): Promise<Attempt> {
  let refs: ChunkRef[] = [];
  let startAt = 0;
  let source: AsyncIterable<Uint8Array> | undefined;
  let appended = false;
  /** The keyed hash of the first `headSpan` bytes, once they are at hand. */
  let head: string | undefined;
  const headSpan = Math.min(HEAD_BYTES, size);
  const headOf = (start: Uint8Array) => (start.length >= headSpan ? writer.idOf(start.subarray(0, headSpan)) : undefined);
  const tailSpan = Math.min(TAIL_BYTES, size);
  const tailTap = new TailTap(tailSpan);
  const last = prev?.chunks[prev.chunks.length - 1];
  if (prev && last && sameInode && size > prev.size) {
    const lastStart = prev.size - last.length;
    if (prev.head !== undefined && prev.tail !== undefined && last.length >= opts.chunker.minBytes) {
      // Both ends of the old content by their keyed hashes; the old chunks are kept as they are.
      const tailSpanOld = Math.min(TAIL_BYTES, prev.size);
      const ending = await readIfId(fh, path, prev.size - tailSpanOld, tailSpanOld, prev.tail, writer, opts, counters);
      const start = ending && (await readIfId(fh, path, 0, Math.min(HEAD_BYTES, prev.size), prev.head, writer, opts, counters));
      if (ending && start) {
        head = headOf(start);
        appended = true;
        refs = prev.chunks.slice();
        startAt = prev.size;
        tailTap.take(ending);
      }
    } else {
      const old = Buffer.allocUnsafe(last.length);
      const at = await readInto(fh, path, old, lastStart, opts, counters); // straight in: no piece copies
      let intact = at === last.length && writer.idOf(old) === last.id;
      if (intact && prev.chunks.length > 1) {
        const opening = prev.chunks[0]!;
        const span = prev.head !== undefined ? Math.min(HEAD_BYTES, prev.size) : opening.length;
        const start = Buffer.allocUnsafe(span);
        const got = await readInto(fh, path, start, 0, opts, counters);
        intact = got === span && writer.idOf(start) === (prev.head ?? opening.id);
        if (intact) head = headOf(start);
      } else if (intact) {
        head = headOf(old); // the only old chunk starts the file
      }
      if (intact) {
        appended = true;
        if (last.length >= opts.chunker.minBytes) {
          refs = prev.chunks.slice();
          startAt = prev.size;
          tailTap.take(old);
        } else {
          refs = prev.chunks.slice(0, -1);
          startAt = lastStart;
          source = concat(old, readRange(fh, path, prev.size, size, opts, counters)); // from lastStart on
        }
      }
    }
  }
  source ??= readRange(fh, path, startAt, size, opts, counters);
  const fresh = refs.length;
  const chunker = new Chunker(opts.chunker);
  let first = true;
  const tap = head === undefined && startAt === 0 ? new HeadTap(headSpan) : undefined;
  for await (const piece of source) {
    if (tap?.take(piece)) head = headOf(tap.bytes());
    tailTap.take(piece);
    for (const c of chunker.push(piece)) refs.push(await writer.add(c.data));
    if (first && mutate) await mutateFile(path, opts.faults);
    first = false;
  }
  for (const c of chunker.finish()) refs.push(await writer.add(c.data));
  if (head === undefined) {
    // Only a file that grew from under HEAD_BYTES past its last chunk's minimum gets here.
    const bytes = Buffer.allocUnsafe(headSpan);
    head = writer.idOf(bytes.subarray(0, await readInto(fh, path, bytes, 0, opts, counters)));
  }
  let ending = tailTap.bytes();
  if (ending.length < tailSpan) {
    // Few new bytes after an old last chunk shorter than TAIL_BYTES: the rest of the tail is older.
    ending = Buffer.allocUnsafe(tailSpan);
    ending = ending.subarray(0, await readInto(fh, path, ending, size - tailSpan, opts, counters));
  }
  return { refs: refs.map((r) => ({ id: r.id, length: r.length })), appended, head, tail: writer.idOf(ending), from: startAt, fresh };
}

/**
 * `scanned` is the stat the scan took of `path`, if any: a small file's first attempt takes it as its
 * stat before the read instead of an fstat, one of the five calls such a file cost (open, fstat,
 * read, fstat, close). It is as good a "before": a file replaced or written between it and the read
 * differs in inode, size, mtime or ctime from the fstat after, and is read again.
 */
export async function backupFile(
  path: string,
  prev: FileState | undefined,
  writer: ChunkWriter,
  counters: BackupCounters,
  opts: FileReadOptions,
  scanned?: BigIntStats,
): Promise<FileResult> {
  let fh: FileHandle;
  try {
    fh = await open(fsPath(path), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return { kind: 'skipped', code: e.code ?? 'EIO', message: e.message };
  }
  try {
    const mutate = opts.faults.mutate?.match.test(path) ? opts.faults.mutate.times : 0;
    for (let attempt = 0; attempt <= opts.retriesMax; attempt++) {
      if (attempt > 0) await sleep(opts.racyWindowMs);
      const startNs = BigInt(Date.now()) * 1_000_000n;
      const small = scanned !== undefined && attempt === 0 && scanned.isFile() && keptInline(Number(scanned.size), opts);
      const s1 = small ? scanned : await fh.stat({ bigint: true });
      if (!s1.isFile()) return { kind: 'skipped', code: 'ESPECIAL', message: `${path} is not a regular file` };
      const size = Number(s1.size);
      const sameInode = prev !== undefined && prev.inode === inodeOf(s1);
      let result: Attempt;
      try {
        result =
          keptInline(size, opts)
            ? await readInline(fh, path, size, opts, counters, attempt < mutate)
            : await readAttempt(fh, path, size, prev, sameInode, writer, opts, counters, attempt < mutate);
      } catch (error) {
        if (error instanceof SourceError) return { kind: 'skipped', code: error.code, message: `cannot read ${path}: ${error.message}` };
        throw error;
      }
      const s2 = await fh.stat({ bigint: true });
      const total = result.inline ? result.inline.length : result.refs.reduce((a, r) => a + r.length, 0);
      const racy = s2.mtimeNs + BigInt(opts.racyWindowMs) * 1_000_000n > startNs;
      const settled = sameStat(s1, s2) && total === size && !racy;
      let held = false;
      if (!settled && total === size && (grewOnly(s1, s2) || sameStat(s1, s2))) {
        // A live log (module comment): it grew while read, or was written just before (racy). Past the
        // racy window, the bytes read are read again; equal, they are the file as it was at `size`.
        if (racy) await sleep(opts.racyWindowMs);
        const s3 = racy ? await fh.stat({ bigint: true }) : s2;
        held = (grewOnly(s1, s3) || sameStat(s1, s3)) && (await versionHeld(fh, path, size, result, writer, opts, counters));
      }
      if (!settled && !held) continue;
      const version = settled ? s2 : s1; // a live log's version is the stat it had `size` bytes at
      return {
        kind: 'stored',
        appended: result.appended,
        stat: s2,
        state: {
          path,
          size,
          mtimeNs: version.mtimeNs.toString(),
          inode: inodeOf(version),
          chunks: result.refs,
          ...(result.head !== undefined ? { head: result.head } : {}),
          ...(result.tail !== undefined ? { tail: result.tail } : {}),
          ...(result.inline ? { inline: result.inline } : {}),
        },
      };
    }
    return {
      kind: 'skipped',
      code: 'FILE_CHANGING',
      message: `${path} kept changing while it was read (${opts.retriesMax + 1} attempts); its previous version is kept`,
    };
  } finally {
    await fh.close().catch(() => undefined);
  }
}
