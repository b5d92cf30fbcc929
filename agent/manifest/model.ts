/**
 * The snapshot manifest: a header, then one entry per file, directory or symlink, in scan order.
 *
 * On the wire it is JSON lines (one header line, then one line per entry) — compact after compression,
 * streamable in both directions, and parsed natively. The bytes are cut by the same content-defined
 * chunker as data, so an unchanged part of the tree dedups against the previous snapshot's manifest.
 * The chunks are compressed, encrypted and erasure-coded like any other; their ids are the snapshot's
 * root chunks.
 *
 * Small files live inside their entry (`inline`, base64 in the line), as Tahoe-LAFS keeps small files
 * in their capability: a file of up to INLINE_BYTES_MAX bytes costs no chunk, no catalog rows for
 * chunks and shards, and no k+m shard files (each created, fsynced and renamed, and each at least a
 * file system block). Tried as a new user would, 20,000 sensor readings of 10–60 bytes took 23 s to
 * back up and 244 MB of shards as chunks (Borg: 2 s). Their bytes are still encrypted, compressed
 * and erasure-coded, as part of the manifest's chunks, and an unchanged stretch of them dedups
 * against the previous snapshot's manifest like any other.
 *
 * Paths and symlink targets are kept names (sources/names.ts): a character of U+F780..U+F7FF stands
 * for a byte of a name that is not UTF-8. Version 2 is the manifest that may carry inline files and
 * such names; an agent that knows only version 1 refuses it by its version instead of restoring
 * those files empty. A version 1 manifest had neither (store.ts reads its names as plain text).
 */
import type { ChunkRef } from '../catalog/chunk-list.ts';

export const MANIFEST_VERSION = 2;
/** Versions this code reads: 1 (no inline files) and 2. */
const VERSIONS_READ: readonly number[] = [1, 2];
/**
 * Files of up to this many bytes are kept in the manifest (`inline`) instead of as chunks: a file
 * system page, under which a chunk's k+m shard files cost more disk and time than the bytes.
 */
export const INLINE_BYTES_MAX = 4096;

export interface ManifestHeader {
  v: number;
  snapshotId: string;
  timeMs: number;
  host: string;
  type: string;
  paths: string[];
}

export interface ManifestEntry {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev';
  /** Permission bits (st_mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string (exceeds 2^53). */
  mtimeNs: string;
  /** File size in bytes (0 for others). */
  size: number;
  /** The file's chunks in order; their lengths add up to `size`. */
  chunks?: ChunkRef[];
  /** The bytes of a small file (1..INLINE_BYTES_MAX), kept here instead of as chunks. */
  inline?: Uint8Array;
  /** Symlink target. */
  target?: string;
  /** A device's number (st_rdev, Linux's encoding of major and minor). */
  rdev?: number;
  /**
   * Hard links (files only). `links`: the file has other names (nlink > 1) and is the first of them in
   * this snapshot, so a later entry may name it; `linkOf`: an earlier entry of this snapshot that is the
   * same file (same device and inode when backed up). Each entry still carries its own bytes, so a
   * restore of only some of the names, or an agent from before (which ignores both), writes a copy.
   */
  links?: boolean;
  linkOf?: string;
}

/** Compact line form: short keys, chunks as [id, length] pairs. */
interface EntryLine {
  p: string;
  k: 'f' | 'd' | 'l' | 'p' | 'c' | 'b';
  m: number;
  u: number;
  g: number;
  t: string;
  s: number;
  c?: Array<[string, number]>;
  /** Inline bytes, base64. */
  d?: string;
  l?: string;
  /** Device number. */
  r?: number;
  /** Has other names (the first of them here). */
  n?: 1;
  /** Same file as this earlier path. */
  h?: string;
}

const kinds = { file: 'f', dir: 'd', symlink: 'l', fifo: 'p', chardev: 'c', blockdev: 'b' } as const;
const kindsBack = { f: 'file', d: 'dir', l: 'symlink', p: 'fifo', c: 'chardev', b: 'blockdev' } as const;

export function encodeHeader(h: ManifestHeader): string {
  return `${JSON.stringify(h)}\n`;
}

export function encodeEntry(e: ManifestEntry): string {
  const line: EntryLine = { p: e.path, k: kinds[e.kind], m: e.mode, u: e.uid, g: e.gid, t: e.mtimeNs, s: e.size };
  if (e.chunks) line.c = e.chunks.map((c) => [c.id, c.length]);
  if (e.inline) line.d = Buffer.from(e.inline.buffer, e.inline.byteOffset, e.inline.byteLength).toString('base64');
  if (e.target !== undefined) line.l = e.target;
  if (e.rdev !== undefined) line.r = e.rdev;
  if (e.links) line.n = 1;
  if (e.linkOf !== undefined) line.h = e.linkOf;
  return `${JSON.stringify(line)}\n`;
}

function fail(what: string): never {
  throw new Error(`manifest: ${what}`);
}

export function decodeHeader(line: string): ManifestHeader {
  const h = JSON.parse(line) as ManifestHeader;
  if (typeof h !== 'object' || h === null || !VERSIONS_READ.includes(h.v)) fail(`unknown manifest version ${JSON.stringify((h as { v?: unknown })?.v)}`);
  if (typeof h.snapshotId !== 'string' || !Array.isArray(h.paths)) fail('bad header');
  return h;
}

export function decodeEntry(line: string): ManifestEntry {
  const l = JSON.parse(line) as EntryLine;
  if (typeof l !== 'object' || l === null || typeof l.p !== 'string' || !(l.k in kindsBack)) fail('bad entry');
  if (typeof l.m !== 'number' || typeof l.s !== 'number' || typeof l.t !== 'string') fail(`bad entry for ${l.p}`);
  const e: ManifestEntry = { path: l.p, kind: kindsBack[l.k], mode: l.m, uid: l.u, gid: l.g, mtimeNs: l.t, size: l.s };
  if (l.c) {
    if (!Array.isArray(l.c)) fail(`bad chunk list for ${l.p}`);
    e.chunks = l.c.map(([id, length]) => {
      if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id) || typeof length !== 'number') fail(`bad chunk in ${l.p}`);
      return { id, length };
    });
    if (e.chunks.reduce((a, c) => a + c.length, 0) !== e.size) fail(`chunk lengths of ${l.p} do not add up to its size`);
  }
  if (l.d !== undefined) {
    // base64 of at most INLINE_BYTES_MAX bytes; Node's decoder skips what is not base64, so the size decides.
    if (typeof l.d !== 'string' || l.k !== 'f' || l.c !== undefined || l.d.length > 4 * Math.ceil(INLINE_BYTES_MAX / 3)) fail(`bad inline bytes for ${l.p}`);
    const bytes = Buffer.from(l.d, 'base64');
    if (bytes.length > INLINE_BYTES_MAX) fail(`bad inline bytes for ${l.p}: more than ${INLINE_BYTES_MAX}`);
    if (bytes.length !== e.size || bytes.toString('base64') !== l.d) fail(`inline bytes of ${l.p} do not match its size`);
    e.inline = bytes;
  }
  if (l.l !== undefined) e.target = l.l;
  if (l.k === 'c' || l.k === 'b') {
    if (typeof l.r !== 'number' || !Number.isSafeInteger(l.r) || l.r < 0) fail(`bad device number of ${l.p}`);
    e.rdev = l.r;
  } else if (l.r !== undefined) fail(`a device number on ${l.p}, which is no device`);
  if (l.n !== undefined || l.h !== undefined) {
    if (l.k !== 'f' || (l.n !== undefined && l.n !== 1) || (l.h !== undefined && (typeof l.h !== 'string' || l.h === l.p))) fail(`bad hard link of ${l.p}`);
    if (l.n === 1) e.links = true;
    if (l.h !== undefined) e.linkOf = l.h;
  }
  return e;
}

/** Splits a byte stream into lines; the manifest's lines never contain a raw newline (JSON escapes it). */
export class LineSplitter {
  private rest = '';
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });

  push(bytes: Uint8Array): string[] {
    const text = this.rest + this.decoder.decode(bytes, { stream: true });
    const lines = text.split('\n');
    this.rest = lines.pop()!;
    return lines;
  }

  finish(): string[] {
    const tail = this.rest + this.decoder.decode();
    this.rest = '';
    return tail === '' ? [] : [tail];
  }
}
