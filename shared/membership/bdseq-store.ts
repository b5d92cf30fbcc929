/**
 * Where a node keeps its bdSeq (Sparkplug's birth/death sequence) across restarts. Every new MQTT session
 * takes `next()`, which is persisted before it is used, so a session never reuses an earlier session's
 * bdSeq and an old will can never pass for the current one.
 *
 * `next()` is synchronous on purpose: mqtt.js rebuilds its CONNECT (and Last Will) from its options right
 * after emitting 'reconnect', so the new bdSeq must be ready inside that event handler.
 *
 * A store that has nothing yet (first start, a lost or unreadable file) starts from the wall clock in ms:
 * later than any bdSeq an earlier incarnation can have used (it also started from its clock and counts one
 * per session), so peers that still remember the old sessions accept the new ones.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export interface BdSeqStore {
  /** Reserves, persists and returns the bdSeq of the next session. */
  next(): number;
  /** The last value `next()` returned in this process, if any. */
  current(): number | undefined;
}

export class MemoryBdSeqStore implements BdSeqStore {
  private value: number | undefined;
  private upcoming: number;

  constructor(start: number = Date.now()) {
    this.upcoming = start;
  }

  next(): number {
    this.value = this.upcoming++;
    return this.value;
  }

  current(): number | undefined {
    return this.value;
  }
}

function writeDurableSync(path: string, text: string): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw error;
  }
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** A bdSeq in a small text file (one decimal line), written crash-safely on every `next()`. */
export class FileBdSeqStore implements BdSeqStore {
  readonly path: string;
  private value: number | undefined;
  private readonly initial: () => number;

  constructor(path: string, options: { initial?: () => number } = {}) {
    this.path = path;
    this.initial = options.initial ?? Date.now;
  }

  private stored(): number | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return undefined;
    }
    const n = Number(text.trim());
    return /^\d{1,16}$/.test(text.trim()) && Number.isSafeInteger(n) ? n : undefined;
  }

  next(): number {
    const last = this.value ?? this.stored();
    const value = last === undefined ? this.initial() : last + 1;
    writeDurableSync(this.path, `${value}\n`);
    this.value = value;
    return value;
  }

  current(): number | undefined {
    return this.value;
  }
}
