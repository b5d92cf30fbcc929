/**
 * Walks the sources (directories, files and globs) and yields every entry to back up, in a stable
 * order (depth first, names in byte order), with its lstat (bigint, for nanosecond mtimes and 64-bit
 * inodes). Symlinks are entries of their own (not followed), except a source that is one: a source
 * names what to back up, and `/var/log/sensors` linked to a data partition means the logs there, not
 * a 30-byte link (backing up the link alone made empty backups that looked fine). Its entries keep
 * the source's own path. A FIFO or a device node is an entry too (its name, mode, owner and times, and
 * a device's number: restore makes it again, as Borg and restic do; a gateway running containers holds
 * thousands, as overlayfs marks a deleted file with a 0:0 character device); a socket is passed over
 * without a word, as Borg does (it is a listening process's endpoint, with nothing in it to keep, and
 * reporting it made every backup of a tree holding one "incomplete"). What cannot be backed up
 * (unreadable directories) comes out as a `problem` so the backup can report a read-error and carry on.
 * A name that is not UTF-8 is kept with its bytes escaped (names.ts): give `fsPath` of an entry's path
 * to the file system.
 *
 * Mount points: below a source, a directory on another file system is entered only if that file system
 * holds data. Kernel pseudo file systems (proc, sysfs, cgroup, devpts, debugfs, …: `PSEUDO_FS`, told
 * by statfs at the mount point only) are kept as the empty directory they are mounted on: a source of
 * `/` otherwise walked /proc, whose kcore alone claims 128 TB, and /sys, whose files block or fail.
 * With `oneFileSystem` (restic's and Borg's --one-file-system) no other file system is entered at all.
 *
 * The entries of a directory are lstat'ed side by side, a window of STAT_WINDOW names at a time, and
 * yielded in order: one at a time, each lstat waited for its turn on the libuv pool, and a scan of
 * 20,000 files spent most of its time waiting.
 */
import { lstat, readdir, stat, statfs } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Excluder, globBase, globToRegExp, hasGlob } from './glob.ts';
import { fsPath, nameOfBytes } from './names.ts';

export type EntryKind = 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev';

export interface ScanEntry {
  kind: EntryKind;
  path: string;
  stat: BigIntStats;
}

export interface ScanProblem {
  kind: 'problem';
  path: string;
  reason: string;
  code: string;
}

export type ScanItem = ScanEntry | ScanProblem;

export interface ScanOptions {
  excludes?: readonly string[];
  /** Paths never taken, whatever the patterns say (the agent's own state directory: backup/run.ts). */
  skip?: (path: string) => boolean;
  /** Enter no mount point below a source (each source's own file system only). */
  oneFileSystem?: boolean;
}

/** statfs types of Linux's kernel pseudo file systems (linux/magic.h): nothing in them to back up. */
const PSEUDO_FS = new Set([
  0x9fa0, // proc
  0x62656572, // sysfs
  0x1cd1, // devpts
  0x27e0eb, // cgroup
  0x63677270, // cgroup2
  0x64626720, // debugfs
  0x74726163, // tracefs
  0x73636673, // securityfs
  0xcafe4a11, // bpf
  0x6165676c, // pstore
  0x62656570, // configfs
  0x65735543, // fusectl
  0x19800202, // mqueue
  0x42494e4d, // binfmt_misc
  0x958458f6, // hugetlbfs
  0x6e736673, // nsfs
]);

/**
 * Whether `path` is a directory a scan keeps empty: a mount point of another file system than its
 * parent's that the scan does not enter (`entersMount`). Sources themselves are always entered.
 */
export async function mountNotEntered(path: string, options: Pick<ScanOptions, 'oneFileSystem'>): Promise<boolean> {
  const parent = dirname(path);
  if (parent === path) return false;
  const [self, up] = await Promise.all([lstat(fsPath(path), { bigint: true }), lstat(fsPath(parent), { bigint: true })]).catch(() => [undefined, undefined]);
  if (!self?.isDirectory() || !up || self.dev === up.dev) return false;
  return !(await entersMount(path, options));
}

/** Whether a walk enters the directory `path`, mounted on a file system other than its parent's. */
async function entersMount(path: string, options: ScanOptions): Promise<boolean> {
  if (options.oneFileSystem) return false;
  const fs = await statfs(fsPath(path)).catch(() => undefined);
  return fs === undefined || !PSEUDO_FS.has(Number(fs.type));
}

/** What a backup keeps `st` as (undefined: a socket or anything else it passes over). Compare uses it too. */
export function kindOf(st: BigIntStats): EntryKind | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return undefined;
}

function problemOf(path: string, error: unknown): ScanProblem {
  const e = error as NodeJS.ErrnoException;
  return { kind: 'problem', path, reason: e.message ?? String(error), code: e.code ?? 'EIO' };
}

/** Names of one directory lstat'ed at once. */
const STAT_WINDOW = 64;

type Lstat = { stat: BigIntStats } | { error: unknown };

function lstatOf(path: string): Promise<Lstat> {
  return lstat(fsPath(path), { bigint: true }).then(
    (stat) => ({ stat }),
    (error: unknown) => ({ error }),
  );
}

/** `path` and what is below it; `known` is its lstat when the caller made it already. */
async function* walk(path: string, excluder: Excluder, match: RegExp | undefined, options: ScanOptions, known?: Lstat, parentDev?: bigint): AsyncGenerator<ScanItem> {
  if (excluder.excludes(path)) return;
  const got = known ?? (await lstatOf(path));
  if ('error' in got) {
    yield problemOf(path, got.error);
    return;
  }
  const st = got.stat;
  const kind = kindOf(st);
  const matched = match === undefined || match.test(path);
  if (kind === undefined) {
    if (matched && !st.isSocket()) yield { kind: 'problem', path, reason: 'not a regular file, directory, symlink, FIFO or device: it cannot be backed up', code: 'ESPECIAL' };
    return;
  }
  if (matched) yield { kind, path, stat: st };
  if (kind !== 'dir') return;
  if (parentDev !== undefined && st.dev !== parentDev && !(await entersMount(path, options))) return;
  let raw: Buffer[];
  try {
    raw = await readdir(fsPath(path), { encoding: 'buffer' });
  } catch (error) {
    yield problemOf(path, error);
    return;
  }
  // Read as bytes: a name that is not UTF-8 is kept with its bytes escaped (names.ts).
  const names = raw.map(nameOfBytes);
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // Once a glob matched a directory, its whole subtree is in.
  const below = matched ? undefined : match;
  const paths = names.map((name) => (path === '/' ? `/${name}` : `${path}/${name}`));
  for (let i = 0; i < paths.length; i += STAT_WINDOW) {
    const window = paths.slice(i, i + STAT_WINDOW);
    // Excluded paths are not even lstat'ed (walk returns at once for them).
    const stats = await Promise.all(window.map((p) => (excluder.excludes(p) ? undefined : lstatOf(p))));
    for (const [j, p] of window.entries()) {
      const stat = stats[j];
      if (stat) yield* walk(p, excluder, below, options, stat, st.dev);
    }
  }
}

/** The lstat of a source, or, when it is a symlink to something that exists, the stat of that. */
async function sourceRoot(path: string): Promise<Lstat> {
  const got = await lstatOf(path);
  if ('error' in got || !got.stat.isSymbolicLink()) return got;
  return stat(fsPath(path), { bigint: true }).then(
    (followed) => ({ stat: followed }),
    () => got,
  );
}

/** Every entry of every source, each path once, sources in the order given. */
export async function* scanSources(sources: readonly string[], options: ScanOptions = {}): AsyncGenerator<ScanItem> {
  const excluder = new Excluder(options.excludes ?? [], options.skip);
  const seen = new Set<string>();
  for (const source of sources) {
    const abs = resolve(source);
    const start = hasGlob(abs) ? globBase(abs) : abs;
    const match = hasGlob(abs) ? globToRegExp(abs) : undefined;
    // A source that is a symlink is followed (to a directory or a file); a dangling one stays a link.
    const root = match === undefined ? await sourceRoot(start) : undefined;
    for await (const item of walk(start, excluder, match, options, root)) {
      if (seen.has(item.path)) continue;
      seen.add(item.path);
      yield item;
    }
  }
}
