/**
 * Compares a tree on disk with a snapshot, like `bbackupquery compare`: content (each chunk's byte range
 * re-hashed to its chunk id, so no chunk has to be fetched unless the ids disagree; a small file's bytes
 * against those the manifest holds), size, kind, mode,
 * mtime and symlink targets, and files present on one side only.
 *
 * `root` is where the snapshot's absolute paths live: a restore target, or "/" for the live sources.
 * Exit codes as bbackupquery: 0 same, 1 different, 2 error.
 */
import { lstat, open, readdir, readlink, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { chunkIdHex, type ChunkSource } from '../chunks/index.ts';
import type { ManifestEntry } from '../manifest/index.ts';
import { normalizeSelector, pathSuggester, selected } from './select.ts';
import { fsPath, nameOfBytes } from '../sources/names.ts';
import { kindOf as entryKindOf, mountNotEntered } from '../sources/scan.ts';

/** Nanoseconds since the epoch as an ISO time with all nine digits ("2026-11-24T09:39:22.799974257Z"). */
export function isoNs(ns: bigint | string): string {
  const n = BigInt(ns);
  const frac = ((n % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const seconds = (n - frac) / 1_000_000_000n; // floored, also before 1970
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

export interface Difference {
  path: string;
  what: 'missing' | 'extra' | 'kind' | 'size' | 'content' | 'mode' | 'mtime' | 'target' | 'device' | 'unreadable';
  detail?: string;
}

export interface CompareOptions {
  root: string;
  /** Compare only this path of the snapshot and what is below it (`--path`, as given). */
  path?: string;
  /** Compare modification times (default true). */
  mtimes?: boolean;
  /** Report local entries that the snapshot does not have (default true). */
  extras?: boolean;
  /** Local entries to leave out of the extras (the config's excludes, for a live comparison). */
  isExcluded?: (path: string) => boolean;
  /** Paths compared as what they link to, as the backup took them (sources that are symlinks). */
  followed?: ReadonlySet<string>;
  /** The config's `oneFileSystem`: mount points the backup kept empty have no extras (sources/scan.ts). */
  oneFileSystem?: boolean;
}

export interface CompareResult {
  compared: number;
  differences: Difference[];
}

const kindHere = (st: BigIntStats): string => entryKindOf(st) ?? 'other';

/** Same mtime to the microsecond, to the millisecond before 1970 (what restore can set: see `utimesTimeOf`). */
function sameMtime(a: bigint, bNs: string): boolean {
  const unit = BigInt(bNs) < 0n || a < 0n ? 1_000_000n : 1000n;
  const d = a / unit - BigInt(bNs) / unit;
  return d >= -1n && d <= 1n;
}

async function compareContent(local: string, e: ManifestEntry, ring: KeyRing, reader: ChunkSource): Promise<string | undefined> {
  const fh = await open(fsPath(local), 'r');
  try {
    if (e.inline) {
      const here = Buffer.allocUnsafe(e.inline.length);
      const { bytesRead } = await fh.read(here, 0, here.length, 0);
      return bytesRead === here.length && here.equals(e.inline) ? undefined : 'bytes differ';
    }
    let pos = 0;
    for (const c of e.chunks ?? []) {
      const buf = Buffer.allocUnsafe(c.length);
      let got = 0;
      while (got < c.length) {
        const { bytesRead } = await fh.read(buf, got, c.length - got, pos + got);
        if (bytesRead === 0) return `file ends at ${pos + got}`;
        got += bytesRead;
      }
      if (chunkIdHex(ring.idKeys, buf) !== c.id) {
        // An id another dedup key made (a ring without the version that made it): compare the stored bytes.
        const stored = await reader.read(c.id);
        if (!Buffer.from(stored).equals(buf)) return `bytes ${pos}..${pos + c.length} differ`;
      }
      pos += c.length;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

export async function compareTree(
  entries: AsyncIterable<ManifestEntry>,
  ring: KeyRing,
  reader: ChunkSource,
  options: CompareOptions,
): Promise<CompareResult> {
  const differences: Difference[] = [];
  const inSnapshot = new Set<string>();
  const dirs: string[] = [];
  let compared = 0;
  const local = (p: string) => (options.root === '/' ? p : join(options.root, p));
  const selector = normalizeSelector(options.path);
  const suggest = pathSuggester(options.path);
  for await (const e of entries) {
    suggest.see(e.path);
    if (!selected(e.path, selector)) continue;
    compared++;
    inSnapshot.add(e.path);
    const path = local(e.path);
    let st: BigIntStats;
    try {
      st = await lstat(fsPath(path), { bigint: true });
      if (st.isSymbolicLink() && options.followed?.has(e.path)) st = await stat(fsPath(path), { bigint: true });
    } catch {
      differences.push({ path: e.path, what: 'missing' });
      continue;
    }
    if (kindHere(st) !== e.kind) {
      differences.push({ path: e.path, what: 'kind', detail: `${kindHere(st)} here, ${e.kind} in the snapshot` });
      continue;
    }
    if (e.kind === 'dir') dirs.push(e.path);
    if (e.kind === 'symlink') {
      const target = await readlink(fsPath(path), { encoding: 'buffer' }).then(nameOfBytes, () => undefined);
      if (target !== e.target) differences.push({ path: e.path, what: 'target', detail: `${target} here, ${e.target} in the snapshot` });
      continue;
    }
    if (e.rdev !== undefined && Number(st.rdev) !== e.rdev) {
      differences.push({ path: e.path, what: 'device', detail: `device ${Number(st.rdev)} here, ${e.rdev} in the snapshot` });
    }
    if ((Number(st.mode) & 0o7777) !== e.mode) {
      differences.push({ path: e.path, what: 'mode', detail: `${(Number(st.mode) & 0o7777).toString(8)} here, ${e.mode.toString(8)} in the snapshot` });
    }
    // Directory mtimes move whenever an entry is added or removed; their entries are compared instead.
    if ((options.mtimes ?? true) && e.kind === 'file' && !sameMtime(st.mtimeNs, e.mtimeNs)) {
      differences.push({ path: e.path, what: 'mtime', detail: `${isoNs(st.mtimeNs)} here, ${isoNs(e.mtimeNs)} in the snapshot` });
    }
    if (e.kind !== 'file') continue;
    if (Number(st.size) !== e.size) {
      differences.push({ path: e.path, what: 'size', detail: `${st.size} here, ${e.size} in the snapshot` });
      continue;
    }
    try {
      const why = await compareContent(path, e, ring, reader);
      if (why) differences.push({ path: e.path, what: 'content', detail: why });
    } catch (error) {
      differences.push({ path: e.path, what: 'unreadable', detail: (error as Error).message });
    }
  }
  // A --path the snapshot does not hold is an error, not "no differences".
  if (selector !== undefined && compared === 0) throw suggest.notFound('the snapshot');
  if (options.extras ?? true) {
    for (const d of dirs) {
      // Live tree: a mount point the backup kept empty (a pseudo file system, or any other with oneFileSystem).
      if (options.followed && !options.followed.has(d) && (await mountNotEntered(local(d), options))) continue;
      const names = await readdir(fsPath(local(d)), { encoding: 'buffer' }).then((raw) => raw.map(nameOfBytes), () => [] as string[]);
      for (const name of names) {
        const p = d === '/' ? `/${name}` : `${d}/${name}`;
        if (!inSnapshot.has(p) && !name.includes('.2baksa-') && !options.isExcluded?.(p)) differences.push({ path: p, what: 'extra' });
      }
    }
  }
  return { compared, differences };
}
