/**
 * STATE/status.json: what the last run did, and the counters the heartbeat reports (bytes synced and
 * restored since the last heartbeat, significant errors). Written crash-safely by each command; read
 * by `status` and the daemon.
 */
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import type { BackupCounters } from '../backup/events.ts';
import type { StatePaths } from '../config/index.ts';

export interface RunStatus {
  /** `skipped`: entries a backup that saved its snapshot could not read (absent when none). */
  lastRun?: { type: string; ok: boolean; timeMs: number; snapshotId?: string; error?: string; skipped?: number };
  lastSuccessMs?: number;
  lastSyncMs?: number;
  /** How long that backup took (the heartbeat's sync time, Box Backup's "time of last sync"). */
  lastSyncDurationMs?: number;
  /** Counters since the last heartbeat took them. */
  pending: { bytesSynced: number; bytesRestored: number; errors: Array<{ code: string; message: string; timeMs: number }> };
}

export function emptyStatus(): RunStatus {
  return { pending: { bytesSynced: 0, bytesRestored: 0, errors: [] } };
}

export async function readStatus(paths: StatePaths): Promise<RunStatus> {
  try {
    const s = JSON.parse(await readFile(paths.status, 'utf8')) as RunStatus;
    s.pending ??= emptyStatus().pending;
    return s;
  } catch {
    return emptyStatus();
  }
}

export async function writeStatus(paths: StatePaths, status: RunStatus): Promise<void> {
  await writeFileDurable(paths.status, `${JSON.stringify(status)}\n`, { mode: 0o644 });
}

/** A lock older than this is left by a process that died holding it: it is broken. */
const STATUS_LOCK_STALE_MS = 10_000;

async function withFileLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await (await open(lock, 'wx')).close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(lock).then((st) => Date.now() - st.mtimeMs, () => 0);
      if (age > STATUS_LOCK_STALE_MS) await unlink(lock).catch(() => undefined);
      else await new Promise((r) => setTimeout(r, 5));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

const chains = new Map<string, Promise<unknown>>();

/**
 * Read-modify-write of status.json, one at a time: in this process (a promise chain per file) and
 * across processes (an exclusive lock file), so a heartbeat taking its counters and a backup recording
 * its run never lose each other's update.
 */
export function updateStatus(paths: StatePaths, change: (s: RunStatus) => void): Promise<RunStatus> {
  const previous = chains.get(paths.status) ?? Promise.resolve();
  const next = previous
    .catch(() => undefined)
    .then(() =>
      withFileLock(`${paths.status}.lock`, async () => {
        const s = await readStatus(paths);
        change(s);
        await writeStatus(paths, s);
        return s;
      }),
    );
  chains.set(paths.status, next);
  void next.finally(() => {
    if (chains.get(paths.status) === next) chains.delete(paths.status);
  }).catch(() => undefined);
  return next;
}

const ERRORS_KEPT = 20;

/**
 * A run that failed only because it was told to stop (SIGTERM or Ctrl-C: BACKUP_CANCELLED). It is the
 * last run, not ok, but no error for the monitor: the operator did it, and nothing of it was committed.
 */
export function stoppedByOperator(code: string): boolean {
  return code === 'BACKUP_CANCELLED';
}

export async function recordRun(
  paths: StatePaths,
  run: { type: string; ok: boolean; snapshotId?: string; error?: string; counters?: BackupCounters; durationMs?: number; bytesRestored?: number },
): Promise<void> {
  await updateStatus(paths, (s) => {
    const now = Date.now();
    s.lastRun = { type: run.type, ok: run.ok, timeMs: now, ...(run.snapshotId ? { snapshotId: run.snapshotId } : {}), ...(run.error ? { error: run.error } : {}), ...(run.counters?.filesSkipped ? { skipped: run.counters.filesSkipped } : {}) };
    if (run.ok) s.lastSuccessMs = now;
    if (run.counters && run.counters.bytesNew > 0) {
      s.lastSyncMs = now;
      if (run.durationMs !== undefined) s.lastSyncDurationMs = run.durationMs;
      else delete s.lastSyncDurationMs;
    }
    s.pending.bytesSynced += run.counters?.storedNew ?? 0;
    s.pending.bytesRestored += run.bytesRestored ?? 0;
    if (run.error && !stoppedByOperator(run.error)) s.pending.errors = [...s.pending.errors, { code: run.error, message: `${run.type} failed`, timeMs: now }].slice(-ERRORS_KEPT);
  });
}

export async function recordRestore(paths: StatePaths, bytes: number): Promise<void> {
  await updateStatus(paths, (s) => {
    s.pending.bytesRestored += bytes;
  });
}
