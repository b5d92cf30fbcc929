/**
 * A rolling append-only log: lines go to the current file; it rotates (closes, fsyncs, starts a new one)
 * when it reaches `rotateBytes` or gets `rotateS` old. Closed files never change again, so incremental
 * backups read each one once; the live file only grows, so it is read from its last chunk on.
 * File names sort by time: `<prefix>-<YYYYMMDDTHHMMSSZ>-<seq>.log`.
 */
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFully } from '../../shared/storage/fsutil.ts';

export interface RotationPolicy {
  rotateBytes: number;
  rotateS: number;
}

/** Pure: whether the current file must be closed before writing `nextBytes` more. */
export function shouldRotate(current: { sizeBytes: number; openedMs: number }, nextBytes: number, nowMs: number, policy: RotationPolicy): boolean {
  if (current.sizeBytes > 0 && current.sizeBytes + nextBytes > policy.rotateBytes) return true;
  return nowMs - current.openedMs >= policy.rotateS * 1000;
}

export function logFileName(prefix: string, ms: number, seq: number): string {
  const stamp = new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${prefix}-${stamp}-${String(seq).padStart(4, '0')}.log`;
}

export class RotatingLog {
  private handle: FileHandle | undefined;
  private sizeBytes = 0;
  private openedMs = 0;
  private seq = 0;
  /** Bytes were written to the live file since its last fdatasync. */
  private unsynced = false;
  private queue: Promise<void> = Promise.resolve();
  filesRotated = 0;
  currentPath: string | undefined;

  constructor(
    readonly dir: string,
    readonly prefix: string,
    private readonly policy: RotationPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Appends one line (a newline is added); writes are serialized. */
  append(line: string): Promise<void> {
    const bytes = Buffer.from(`${line}\n`, 'utf8');
    return this.serialized(() => this.write(bytes));
  }

  /** Closes the current file now (the next line starts a new one). */
  rotate(): Promise<void> {
    return this.serialized(() => this.closeCurrent());
  }

  /** Runs `step` after everything queued before it; a step that fails fails its own caller only. */
  private serialized(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    return this.rotate();
  }

  /** Makes what was appended to the live file durable (fdatasync), if anything was since the last time. */
  sync(): Promise<void> {
    return this.serialized(async () => {
      if (!this.handle || !this.unsynced) return;
      this.unsynced = false;
      await this.handle.datasync();
    });
  }

  private async write(bytes: Buffer): Promise<void> {
    const now = this.now();
    if (this.handle && shouldRotate({ sizeBytes: this.sizeBytes, openedMs: this.openedMs }, bytes.length, now, this.policy)) {
      await this.closeCurrent();
    }
    if (!this.handle) await this.openNew(now);
    await writeFully(this.handle!, bytes);
    this.sizeBytes += bytes.length;
    this.unsynced = true;
  }

  private async openNew(now: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    if (this.seq === 0) this.seq = (await readdir(this.dir)).filter((f) => f.startsWith(`${this.prefix}-`)).length;
    const path = join(this.dir, logFileName(this.prefix, now, this.seq++));
    this.handle = await open(path, 'a', 0o644);
    this.currentPath = path;
    this.sizeBytes = 0;
    this.openedMs = now;
  }

  private async closeCurrent(): Promise<void> {
    const h = this.handle;
    if (!h) return;
    this.handle = undefined;
    this.currentPath = undefined;
    await h.sync().catch(() => undefined);
    await h.close();
    this.filesRotated++;
  }
}
