/**
 * Restores a snapshot, a subtree or one file into a target directory: byte-identical content, modes,
 * mtimes (and owners when run as root). Paths keep their absolute form under the target
 * (`/data/logs/a.csv` → `TARGET/data/logs/a.csv`), as restic does.
 *
 * Paths are the manifest's (a name that was not UTF-8 has its bytes escaped: sources/names.ts); each
 * goes to the file system as `fsPath` of it. Files are written to a temp name in their directory,
 * given mode and mtime, then renamed into place, so a crash never leaves a half-written file under
 * its real name. Small files (kept in the manifest) are written up to SMALL_FILES_AHEAD at once.
 * Chunks are fetched ahead of the writer (shard reads, RS rebuild when needed, decrypt and decompress
 * overlap the writes) within the memory budget. Directory modes and mtimes are set last, deepest
 * first, since writing children changes them.
 *
 * The restore itself (`restoreSnapshot`) reads chunks through any ChunkSource: `runRestore` gives it the
 * local shard store, migrate/cloud-restore.ts the cloud.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, open, readdir, rename, rm, stat, symlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { SnapshotRecord } from '../catalog/index.ts';
import { ChunkReader, type ChunkSource } from '../chunks/index.ts';
import { withOpeners } from '../chunks/open-pool.ts';
import type { AgentState } from '../config/index.ts';
import { openManifest, type ManifestEntry } from '../manifest/index.ts';
import { openRepo } from '../backup/open.ts';
import { ByteBudget } from '../util/budget.ts';
import { AsyncQueue } from '../util/queue.ts';
import { normalizeSelector, pathSuggester, selected } from './select.ts';
import { fsPath } from '../sources/names.ts';
import { writeFully } from '../../shared/storage/fsutil.ts';
import { faultsFromEnv } from '../backup/faults.ts';

export interface RestoreOptions {
  target: string;
  /** Restore only this path (a file or a directory) of the snapshot. */
  path?: string;
  /** Bytes of chunks fetched ahead (default: the profile's memory budget). */
  memoryBudgetBytes?: number;
  /** A chunk of zeros becomes a hole instead of written zeros (default true; `restore --no-sparse`). */
  sparse?: boolean;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreProgress {
  files: number;
  dirs: number;
  symlinks: number;
  fifos: number;
  /** Device nodes made (as root: making one takes CAP_MKNOD). */
  devices: number;
  bytes: number;
  currentPath?: string;
}

/** What a restore needs to know of a snapshot, wherever it is recorded. */
export interface RestorableSnapshot {
  id: string;
  rootChunks: readonly string[];
}

export interface RestoreSummary<S extends RestorableSnapshot = SnapshotRecord> extends RestoreProgress {
  /** Temps an earlier restore, killed, left in the directories restored into (removed). */
  tempsRemoved?: number;
  snapshot: S;
  durationMs: number;
}

type Task = { kind: 'entry'; entry: ManifestEntry } | { kind: 'chunk'; data: Promise<Uint8Array>; length: number } | { kind: 'end' };

/**
 * The time utimes takes for a time in nanoseconds. Node cuts a number of seconds to whole microseconds,
 * and today's times are a double of ~240 ns resolution: aimed at the middle of the microsecond, the
 * rounding stays inside it, so the time comes back exact to the microsecond (aimed at the time itself,
 * it came back a microsecond early about as often as not). Node takes a negative number for "now", so a
 * time before 1970 goes as a Date, exact to the millisecond.
 */
export function utimesTimeOf(ns: string): number | Date {
  const big = BigInt(ns);
  if (big < 0n) return new Date(Number(big / 1_000_000n) - (big % 1_000_000n < 0n ? 1 : 0));
  const us = big / 1000n;
  return Number(us / 1_000_000n) + (Number(us % 1_000_000n) + 0.5) / 1e6;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

async function setOwner(path: string, e: ManifestEntry, link: boolean): Promise<void> {
  if (!isRoot) return;
  await (link ? lchown(fsPath(path), e.uid, e.gid) : chown(fsPath(path), e.uid, e.gid)).catch(() => undefined);
}

/**
 * What the target holds where the snapshot puts a `kind` (a directory where a file goes, a file where a
 * directory goes) as RESTORE_CONFLICT; any other error as it is. Restore replaces files and symlinks
 * in place, never a directory, nor a file with a directory: that is the owner's call.
 */
function inTheWay(error: unknown, path: string, kind: ManifestEntry['kind']): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'EISDIR' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'ENOTEMPTY') return error;
  const here = kind === 'dir' ? 'a file (or a symlink) where the snapshot has a directory' : `a directory where the snapshot has a ${kind}`;
  return new BaksaError('RESTORE_CONFLICT', `cannot restore ${path}: the target holds ${here}`, {
    hint: 'move it out of the way and restore again, or restore into an empty --target',
    exitCode: ExitCode.failure,
    details: { path, snapshotKind: kind },
  });
}

/**
 * The mode to create a small file's temp with: its own when the umask takes nothing of it (then no
 * chmod follows, one call of the five such a file costs), else owner read and write until the chmod.
 */
let umask: number | undefined;
function createMode(e: ManifestEntry): number {
  umask ??= process.umask();
  return e.mode <= 0o777 && (e.mode & umask) === 0 ? e.mode : 0o600;
}

/** Gives a written temp file its owner, mode and mtime, then renames it into place. */
async function placeFile(temp: string, dest: string, e: ManifestEntry, created = 0o600): Promise<void> {
  await setOwner(temp, e, false);
  // chown clears the set-id bits, so only a mode without them can have been given at creation.
  if (created !== e.mode) await chmod(fsPath(temp), e.mode);
  const t = utimesTimeOf(e.mtimeNs);
  await utimes(fsPath(temp), t, t);
  await rename(fsPath(temp), fsPath(dest)).catch((error: unknown) => {
    throw inTheWay(error, dest, e.kind);
  });
}

/** Linux's major and minor of a device number (glibc's gnu_dev_major and gnu_dev_minor). */
function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return {
    major: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)),
    minor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)),
  };
}

/**
 * Makes a FIFO or a device node with exactly `mode` (no umask) through coreutils' mkfifo or mknod: Node
 * has neither of its own, and such entries are rare enough in a snapshot for one process each. `path`
 * is a plain name (an argument cannot carry a name's raw bytes); the caller renames it into place. A
 * failure says in `details.refused` whether every other one would fail alike (the command is missing,
 * or making nodes is not permitted here: not root), told from the C locale's message.
 */
function makeNode(path: string, e: ManifestEntry): Promise<void> {
  const mode = (e.mode & 0o777).toString(8);
  const fifo = e.kind === 'fifo';
  const { major, minor } = deviceNumbers(e.rdev ?? 0);
  const [command, args] = fifo
    ? ['mkfifo', ['-m', mode, '--', path]]
    : ['mknod', ['-m', mode, '--', path, e.kind === 'chardev' ? 'c' : 'b', String(major), String(minor)]];
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, LC_ALL: 'C' } }, (error, _out, stderr) => {
      if (!error) return resolve();
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      const refused = missing || /Operation not permitted/.test(String(stderr));
      const what = fifo ? 'the FIFO' : `the ${e.kind === 'chardev' ? 'character' : 'block'} device ${major}:${minor}`;
      reject(new BaksaError(fifo ? 'RESTORE_FIFO_FAILED' : 'RESTORE_DEVICE_FAILED', `cannot make ${what} ${path}: ${missing ? `the ${command} command is not installed` : String(stderr).trim() || error.message}`, {
        hint: missing ? `install coreutils (${command}), or restore with --path around it` : 'check the target directory (space, permissions), or restore with --path around it',
        exitCode: ExitCode.failure,
        details: { refused },
      }));
    });
  });
}

/**
 * Sparse restore: a chunk that is all zeros (runs of zeros cut into whole chunks of their own: a
 * preallocated log, `lastlog`, a disk image's empty space) is skipped over instead of written, so the
 * file gets a hole there and takes no disk for it, as `cp --sparse` and restic's and Borg's `--sparse`
 * do. A gateway's disk is small: restoring a 2 GB mostly-empty file dense could fill it. What reads
 * the file sees the same bytes. A chunk under one block is written (a hole smaller than a block saves
 * nothing). The check costs nothing on ordinary data: the comparison stops at the first nonzero byte.
 */
const HOLE_BYTES_MIN = 4096;
const ZEROS = Buffer.alloc(1 << 20);

function isHole(data: Uint8Array): boolean {
  if (data.length < HOLE_BYTES_MIN || data[0] !== 0 || data[data.length - 1] !== 0) return false;
  const bytes = Buffer.from(data.buffer, data.byteOffset, data.length);
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const n = Math.min(ZEROS.length, bytes.length - at);
    if (!bytes.subarray(at, at + n).equals(n === ZEROS.length ? ZEROS : ZEROS.subarray(0, n))) return false;
  }
  return true;
}

/** Small files (inline in the manifest) written at once: each is an open, write, chmod, utimes and rename on the thread pool. */
const SMALL_FILES_AHEAD = 16;

/** A fresh temp name of our own (compare and `--verify` pass over names holding `.2baksa-`). */
function tempMark(): string {
  return `.2baksa-${randomBytes(4).toString('hex')}.tmp`;
}

/** Longest name of one directory entry, in bytes (Linux NAME_MAX, and most file systems'). */
const NAME_BYTES_MAX = 255;

/**
 * A temp name in the directory of `path`: its name dotted and marked, or only the mark where that would
 * pass NAME_MAX (a 250-byte name is a valid file, and its restore failed on the longer temp name).
 */
export function tempBeside(path: string): string {
  const dir = dirname(path);
  const mark = tempMark();
  const named = `.${path.slice(dir.length + 1)}${mark}`;
  return join(dir, Buffer.byteLength(named) <= NAME_BYTES_MAX ? named : mark);
}

/** Restores a snapshot of the local catalog from the local shard store. */
export async function runRestore(state: AgentState, snapshotRef: string, options: RestoreOptions): Promise<RestoreSummary> {
  const started = Date.now();
  const budget = { ...options, memoryBudgetBytes: options.memoryBudgetBytes ?? state.profile.memoryBudgetBytes };
  const repo = state.config.cluster ? await (await import('../edge/cli.ts')).openClusterRepo(state) : await openRepo(state);
  try {
    const snapshot = await repo.catalog.findSnapshot(snapshotRef);
    const reader = 'reader' in repo ? repo.reader : new ChunkReader(repo.store, repo.catalog, repo.ring);
    return await withOpeners(repo.ring, state.profile, async (open) => {
      if (open) reader.open = open;
      return restoreSnapshot(reader, snapshot, budget, started);
    });
  } finally {
    await repo.close();
  }
}

/**
 * Restores `snapshot` reading its manifest and chunks from `reader`; `started` is when the caller began
 * (ms). A system error of the target (full, read-only, a path too long for it) comes out as a
 * BaksaError naming the path and what to do, not as an internal error.
 */
export async function restoreSnapshot<S extends RestorableSnapshot>(
  reader: ChunkSource,
  snapshot: S,
  options: RestoreOptions & { memoryBudgetBytes: number },
  started = Date.now(),
): Promise<RestoreSummary<S>> {
  const there = await stat(options.target).catch(() => undefined);
  if (there && !there.isDirectory()) {
    throw new BaksaError('RESTORE_TARGET_NOT_DIR', `--target ${options.target} is a file, not a directory`, {
      hint: 'give a directory (it is made if it does not exist)',
      exitCode: ExitCode.usage,
      details: { target: options.target },
    });
  }
  try {
    return await restoreInto(reader, snapshot, options, started);
  } catch (error) {
    throw targetError(error, options.target);
  }
}

function targetError(error: unknown, target: string): unknown {
  const e = error as NodeJS.ErrnoException;
  if (error instanceof BaksaError || typeof e?.syscall !== 'string' || typeof e.code !== 'string') return error;
  const full = e.code === 'ENOSPC' || e.code === 'EDQUOT';
  if (typeof e.path !== 'string' && !full) return error; // not the file system's (a network error of a cloud restore)
  const path = typeof e.path === 'string' ? e.path : target;
  const what = full ? `the disk of --target ${target} is full` : `cannot write ${path}`;
  return new BaksaError(full ? 'TARGET_FULL' : 'RESTORE_WRITE_FAILED', `${what}: ${e.message}`, {
    hint: full
      ? 'free space on the target disk (or restore into another --target), then restore again: what is restored already is rewritten in place'
      : e.code === 'ENAMETOOLONG'
        ? 'restore into a --target with a shorter path, or restore that part with --path into another target'
        : 'check the target (permissions, read-only mount, disk errors), then restore again',
    exitCode: full ? ExitCode.unavailable : ExitCode.failure,
    details: { path, code: e.code, syscall: e.syscall },
    cause: error,
  });
}

async function restoreInto<S extends RestorableSnapshot>(
  reader: ChunkSource,
  snapshot: S,
  options: RestoreOptions & { memoryBudgetBytes: number },
  started: number,
): Promise<RestoreSummary<S>> {
  const manifest = await openManifest(reader, snapshot.rootChunks);
  const selector = normalizeSelector(options.path);
  const budget = new ByteBudget(options.memoryBudgetBytes);
  const queue = new AsyncQueue<Task>();
  const progress: RestoreProgress = { files: 0, dirs: 0, symlinks: 0, fifos: 0, devices: 0, bytes: 0 };
  // Device nodes not made: making one takes root (CAP_MKNOD). Once one is refused so, the rest are not tried.
  const devicesNotMade: Array<{ path: string; message: string }> = [];
  let deviceRefusal: string | undefined;
  const sparse = options.sparse !== false;
  const killAt = faultsFromEnv().killAfterRestoredBytes;
  let matched = 0;
  const suggest = pathSuggester(options.path);

  // Producer: walk the manifest, start chunk fetches within the budget.
  const producer = (async () => {
    try {
      for await (const entry of manifest.entries) {
        suggest.see(entry.path);
        if (!selected(entry.path, selector)) continue;
        matched++;
        queue.push({ kind: 'entry', entry });
        if (entry.kind !== 'file') continue;
        if (entry.inline) {
          // A small file's bytes count against the budget too, or a manifest of them all would queue up.
          await budget.acquire(entry.inline.length);
          queue.push({ kind: 'chunk', data: Promise.resolve(entry.inline), length: entry.inline.length });
        }
        for (const c of entry.chunks ?? []) {
          await budget.acquire(c.length);
          const data = reader.read(c.id);
          data.catch(() => undefined); // handled by the consumer
          queue.push({ kind: 'chunk', data, length: c.length });
        }
        queue.push({ kind: 'end' });
      }
      queue.end();
    } catch (error) {
      queue.end(error);
    }
  })();

  const dirs: ManifestEntry[] = [];
  // Each directory once: made, or (when it was there already) rid of an earlier restore's temps.
  const madeDirs = new Map<string, Promise<void>>();
  let tempsRemoved = 0;
  const ensureDir = (dir: string): Promise<void> => {
    let made = madeDirs.get(dir);
    if (made === undefined) {
      made = (async () => {
        const first = await mkdir(fsPath(dir), { recursive: true }).catch((error: unknown) => {
          throw inTheWay(error, dir, 'dir');
        });
        if (first === undefined) tempsRemoved += await removeLeftoverTemps(dir, started);
      })();
      madeDirs.set(dir, made);
      made.catch(() => madeDirs.delete(dir)); // tried again by the next entry below it
    }
    return made;
  };
  let lastReport = 0;
  const report = (currentPath?: string) => {
    const now = Date.now();
    if (!options.onProgress || now - lastReport < 250) return;
    lastReport = now;
    options.onProgress({ ...progress, ...(currentPath ? { currentPath } : {}) });
  };

  // Entries the target holds something else in the way of (RESTORE_CONFLICT): skipped, and the rest
  // restored, as Borg and restic do; the restore then fails naming them.
  const conflicts: Array<{ path: string; message: string }> = [];
  /** The first names of files with several (manifest `links`) → where each landed in the target. */
  const firstNames = new Map<string, Promise<string | undefined>>();
  const skipChunks = async () => {
    for (;;) {
      const t = await queue.next();
      if (t === undefined || t.kind === 'entry') throw new Error('invariant violated: restore queue out of step');
      if (t.kind === 'end') return;
      await t.data.catch(() => undefined);
      budget.release(t.length);
    }
  };
  // Directories of the snapshot that could not be restored: nothing goes below them (below a symlink
  // the target held there, it would land outside the target).
  const blocked: string[] = [];
  const conflicted = (error: unknown, e: ManifestEntry): boolean => {
    if (!(error instanceof BaksaError) || error.code !== 'RESTORE_CONFLICT') return false;
    conflicts.push({ path: e.path, message: error.message });
    if (e.kind === 'dir') blocked.push(`${e.path}/`);
    return true;
  };
  const blockedBy = (path: string) => blocked.find((b) => path.startsWith(b));

  // Small files being written (up to SMALL_FILES_AHEAD at once), and the first of their failures that
  // is not a conflict.
  const writes = new Set<Promise<void>>();
  let writeError: unknown;
  const restoreEntries = async (): Promise<void> => {
    for (;;) {
      const task = await queue.next();
      if (task === undefined) break;
      if (task.kind !== 'entry') throw new Error('invariant violated: restore queue out of step');
      const e = task.entry;
      const dest = join(options.target, e.path);
      const under = blockedBy(e.path);
      if (under !== undefined) {
        conflicts.push({ path: e.path, message: `cannot restore ${dest}: ${under.slice(0, -1)} was not restored` });
        if (e.kind === 'file') await skipChunks();
        continue;
      }
      if (e.kind === 'dir') {
        try {
          await ensureDir(dest);
          // mkdir takes a symlink to a directory for the directory: restore never writes through one.
          if ((await lstat(fsPath(dest))).isSymbolicLink()) {
            throw new BaksaError('RESTORE_CONFLICT', `cannot restore ${dest}: the target holds a symlink where the snapshot has a directory`, {
              hint: 'restore does not write through a symlink: move it out of the way and restore again, or restore into an empty --target',
              exitCode: ExitCode.failure,
              details: { path: dest, snapshotKind: 'dir' },
            });
          }
        } catch (error) {
          if (!conflicted(error, e)) throw error;
          continue;
        }
        dirs.push(e);
        progress.dirs++;
        continue;
      }
      try {
        await ensureDir(dirname(dest));
      } catch (error) {
        if (!conflicted(error, e)) throw error;
        if (e.kind === 'file') await skipChunks();
        continue;
      }
      const temp = tempBeside(dest);
      if (e.kind === 'symlink') {
        await symlink(fsPath(e.target ?? ''), fsPath(temp));
        await setOwner(temp, e, true);
        const t = utimesTimeOf(e.mtimeNs);
        await lutimes(fsPath(temp), t, t).catch(() => undefined);
        await rm(fsPath(dest), { force: true, recursive: false }).catch(() => undefined);
        try {
          await rename(fsPath(temp), fsPath(dest)).catch((error: unknown) => {
            throw inTheWay(error, dest, 'symlink');
          });
        } catch (error) {
          await rm(fsPath(temp), { force: true });
          if (!conflicted(error, e)) throw error;
          continue;
        }
        progress.symlinks++;
        continue;
      }
      if (e.kind === 'fifo' || e.kind === 'chardev' || e.kind === 'blockdev') {
        const device = e.kind !== 'fifo';
        if (device && deviceRefusal !== undefined) {
          devicesNotMade.push({ path: e.path, message: deviceRefusal });
          continue;
        }
        const made = join(options.target, tempMark());
        try {
          await ensureDir(options.target);
          await makeNode(made, e);
          await placeFile(made, dest, e, e.mode & 0o777); // chown clears set-id bits: chmod again if it has any
        } catch (error) {
          await rm(made, { force: true }).catch(() => undefined);
          if (conflicted(error, e)) continue;
          if (!device || (error as BaksaError).code !== 'RESTORE_DEVICE_FAILED') throw error;
          const { message, details } = error as BaksaError;
          devicesNotMade.push({ path: e.path, message });
          if (details?.refused === true) deviceRefusal = message;
          continue;
        }
        if (device) progress.devices++;
        else progress.fifos++;
        continue;
      }
      if (e.linkOf !== undefined) {
        // Another name of a file restored above (manifest/model.ts): linked to it, its own bytes not written.
        const first = await firstNames.get(e.linkOf);
        if (first !== undefined) {
          await skipChunks();
          try {
            await link(fsPath(first), fsPath(temp));
            await rename(fsPath(temp), fsPath(dest)).catch((error: unknown) => {
              throw inTheWay(error, dest, 'file');
            });
          } catch (error) {
            if (!conflicted(error, e)) throw error;
            continue;
          } finally {
            await rm(fsPath(temp), { force: true }).catch(() => undefined); // left by a rename onto a name of the same file
          }
          progress.files++;
          report(e.path);
          continue;
        }
      }
      // The first name of a file with several: where it lands, once it has (undefined if it does not).
      let landed: (dest: string | undefined) => void = () => {};
      if (e.links) firstNames.set(e.path, new Promise((resolve) => (landed = resolve)));
      if (e.inline) {
        // A small file (manifest/model.ts): its bytes are at hand, so it is written beside the next ones.
        const bytes = e.inline;
        const held = await queue.next();
        const end = await queue.next();
        if (held?.kind !== 'chunk' || end?.kind !== 'end') throw new Error('invariant violated: restore queue out of step');
        const write = (async () => {
          let placed = false;
          try {
            const mode = createMode(e);
            await writeFile(fsPath(temp), bytes, { flag: 'wx', mode });
            await placeFile(temp, dest, e, mode);
            placed = true;
            progress.files++;
            progress.bytes += bytes.length;
            report(e.path);
          } catch (error) {
            await rm(fsPath(temp), { force: true }).catch(() => undefined);
            if (!conflicted(error, e)) writeError ??= error;
          } finally {
            budget.release(held.length);
            landed(placed ? dest : undefined);
          }
        })();
        writes.add(write);
        void write.then(() => writes.delete(write));
        while (writes.size >= SMALL_FILES_AHEAD) await Promise.race(writes);
        if (writeError !== undefined) throw writeError;
        continue;
      }
      let fh: FileHandle | undefined = await open(fsPath(temp), 'wx', 0o600);
      try {
        let at = 0;
        let holes = false;
        for (;;) {
          const t = await queue.next();
          if (t === undefined || t.kind === 'entry') throw new Error('invariant violated: restore queue out of step');
          if (t.kind === 'end') break;
          const data = await t.data;
          if (sparse && isHole(data)) holes = true;
          else await writeFully(fh, data, at);
          at += data.length;
          progress.bytes += data.length;
          if (killAt !== undefined && progress.bytes >= killAt) process.kill(process.pid, 'SIGKILL');
          budget.release(t.length);
          report(e.path);
        }
        if (holes) await fh.truncate(at); // a file that ends in a hole still has its length
        await fh.close();
        fh = undefined;
        await placeFile(temp, dest, e);
        landed(dest);
        progress.files++;
      } catch (error) {
        landed(undefined);
        await fh?.close().catch(() => undefined);
        await rm(fsPath(temp), { force: true }).catch(() => undefined);
        if (!conflicted(error, e)) throw error;
      }
    }
  };
  try {
    await restoreEntries();
  } finally {
    await Promise.all(writes);
  }
  if (writeError !== undefined) throw writeError;
  await producer;
  if (selector !== undefined && matched === 0) throw suggest.notFound(`snapshot ${snapshot.id.slice(0, 8)}`);
  // Directory metadata last, deepest first.
  for (const d of dirs.reverse()) {
    const dest = join(options.target, d.path);
    await setOwner(dest, d, false);
    await chmod(fsPath(dest), d.mode);
    const t = utimesTimeOf(d.mtimeNs);
    await utimes(fsPath(dest), t, t);
  }
  const restored = `restored ${progress.files} files, ${progress.dirs} directories and ${progress.symlinks} symlinks${progress.fifos + progress.devices > 0 ? ` (and ${progress.fifos} FIFOs and ${progress.devices} devices)` : ''}`;
  const shownOf = (list: ReadonlyArray<{ path: string }>) => `${list.slice(0, 3).map((c) => c.path).join(', ')}${list.length > 3 ? ` and ${list.length - 3} more` : ''}`;
  const noDevices = devicesNotMade.length > 0 ? `; ${devicesNotMade.length} device nodes were not made either (${devicesNotMade[0]!.message})` : '';
  if (conflicts.length > 0) {
    throw new BaksaError(
      'RESTORE_CONFLICT',
      `${restored}; ${conflicts.length} ${conflicts.length === 1 ? 'entry was' : 'entries were'} not, as the target holds something else there: ${shownOf(conflicts)}${noDevices}`,
      {
        hint: 'move those out of the way and restore again (what is restored already is rewritten in place), or restore into an empty --target',
        exitCode: ExitCode.failure,
        details: { conflicts: conflicts.slice(0, 100), count: conflicts.length, files: progress.files, bytes: progress.bytes, devicesNotMade: devicesNotMade.length },
      },
    );
  }
  if (devicesNotMade.length > 0) {
    // Everything else is restored: exit 6, as a backup that saved its snapshot without some entries.
    throw new BaksaError(
      'RESTORE_INCOMPLETE',
      `${restored}; ${devicesNotMade.length} device ${devicesNotMade.length === 1 ? 'node was' : 'nodes were'} not made: ${shownOf(devicesNotMade)} (${devicesNotMade[0]!.message})`,
      {
        hint: 'making a device node takes root: restore as root to make them (what is restored already is rewritten in place), or restore with --path around them',
        exitCode: ExitCode.incomplete,
        details: { devicesNotMade: devicesNotMade.slice(0, 100), count: devicesNotMade.length, files: progress.files, bytes: progress.bytes },
      },
    );
  }
  return { ...progress, ...(tempsRemoved > 0 ? { tempsRemoved } : {}), snapshot, durationMs: Date.now() - started };
}

/** A temp name of restore's own (tempBeside, tempMark). */
const OWN_TEMP = /^\.(?:.*\.)?2baksa-[0-9a-f]{8}\.tmp$/s;
/** How much older than this restore a temp must be to be an earlier one's: file times lag the clock by a tick or so. */
const LEFTOVER_AGE_MS = 2000;

/**
 * Removes from `dir` the temps of an earlier restore that was killed before it renamed them into place
 * (restic and Borg write in place and leave a half-written file under its real name instead; here it
 * is a dot file, but a half-restored log can be large). A temp is an earlier restore's if its name is
 * restore's own and it was last changed before this restore began: a restore running beside this one
 * into the same directory keeps changing its temps. Returns how many it removed.
 */
async function removeLeftoverTemps(dir: string, started: number): Promise<number> {
  const at = Buffer.from(fsPath(dir));
  let names: Buffer[];
  try {
    names = (await readdir(at, { encoding: 'buffer' })).filter((n) => OWN_TEMP.test(n.toString('latin1')));
  } catch {
    return 0; // not readable: the writes below tell what is wrong
  }
  let removed = 0;
  for (const name of names) {
    const path = Buffer.concat([at, Buffer.from('/'), name]);
    const st = await lstat(path).catch(() => undefined);
    if (st === undefined || st.isDirectory() || st.ctimeMs >= started - LEFTOVER_AGE_MS) continue;
    if (await rm(path, { force: true }).then(() => true, () => false)) removed++;
  }
  return removed;
}
