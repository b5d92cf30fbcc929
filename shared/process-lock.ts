/**
 * A lock file held by one process at a time: {pid, startTicks, host}. Taking it is atomic (link of a
 * temp file, which fails if the lock exists). A lock whose process is gone (no such pid, or the pid now
 * belongs to a process started at another time) is stale and taken over. One backup at a time per
 * state directory (STATE/backup.lock: the commands that change the store, backup, forget --prune and
 * check --repair, hold it), and one writer of a PKI directory's revocation list (`withLockWaiting`).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { BaksaError, ExitCode } from './errors.ts';

interface LockInfo {
  pid: number;
  startTicks?: string;
  host: string;
  purpose: string;
  sinceMs: number;
}

/** Process start time in clock ticks since boot (Linux /proc), to tell a reused pid apart. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall: starttime
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number, startTicks?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (startTicks === undefined) return true;
  const now = processStartTicks(pid);
  return now === undefined || now === startTicks;
}

export async function readLock(path: string): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export interface HeldLock {
  release(): Promise<void>;
  /** True when the lock was taken over from a dead process. */
  tookOver: boolean;
}

export async function acquireLock(path: string, purpose: string, subject = 'this state directory'): Promise<HeldLock> {
  const mine: LockInfo = { pid: process.pid, startTicks: processStartTicks(process.pid), host: hostname(), purpose, sinceMs: Date.now() };
  const text = JSON.stringify(mine);
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, text, { mode: 0o644 });
  let tookOver = false;
  try {
    try {
      await link(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = await readLock(path);
      if (held && held.host === mine.host && processAlive(held.pid, held.startTicks) && held.pid !== process.pid) {
        throw new BaksaError('LOCKED', `another 2baksa process (pid ${held.pid}, ${held.purpose}) is using ${subject}`, {
          hint: `wait for it to finish, or stop it (kill ${held.pid}); a lock of a dead process is taken over by itself`,
          exitCode: ExitCode.unavailable,
          details: { pid: held.pid, purpose: held.purpose, path },
        });
      }
      // Stale (or unreadable): replace it, then make sure we won a race with another taker.
      await rename(temp, path);
      tookOver = true;
      const now = await readLock(path);
      if (now?.pid !== process.pid) {
        throw new BaksaError('LOCKED', `another 2baksa process took over the stale lock ${path} first`, {
          hint: 'wait for it to finish and run the command again',
          exitCode: ExitCode.unavailable,
        });
      }
    }
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  let released = false;
  return {
    tookOver,
    async release() {
      if (released) return;
      released = true;
      const now = await readLock(path);
      if (now?.pid === process.pid) await unlink(path).catch(() => undefined);
    },
  };
}

/** Callers of `withLockWaiting` in this process, by lock path: the lock file cannot tell them apart. */
const inProcess = new Map<string, Promise<unknown>>();

/**
 * Runs `body` holding the lock at `path`, waiting for another holder (another process, or another
 * caller in this one) to finish rather than failing: for short read-modify-write steps such as a
 * revocation list's. LOCKED only when the lock stays taken for `waitMs`.
 */
export async function withLockWaiting<T>(path: string, purpose: string, subject: string, body: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const before = inProcess.get(path) ?? Promise.resolve();
  const run = before.catch(() => undefined).then(async () => {
    const until = Date.now() + waitMs;
    for (;;) {
      let held: HeldLock;
      try {
        held = await acquireLock(path, purpose, subject);
      } catch (error) {
        if ((error as BaksaError).code !== 'LOCKED' || Date.now() >= until) throw error;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        return await body();
      } finally {
        await held.release();
      }
    }
  });
  inProcess.set(path, run);
  try {
    return await run;
  } finally {
    if (inProcess.get(path) === run) inProcess.delete(path);
  }
}
