/**
 * STATE/status.json: what the last run did, and the counters the heartbeat reports (bytes synced and
 * restored since the last heartbeat, significant errors). Written crash-safely by each command; read
 * by `status` and the daemon.
 */
import { readFile } from 'node:fs/promises';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import type { BackupCounters } from '../backup/events.ts';
import type { StatePaths } from '../config/index.ts';

export interface RunStatus {
  lastRun?: { type: string; ok: boolean; timeMs: number; snapshotId?: string; error?: string };
  lastSuccessMs?: number;
  lastSyncMs?: number;
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

const ERRORS_KEPT = 20;

export async function recordRun(
  paths: StatePaths,
  run: { type: string; ok: boolean; snapshotId?: string; error?: string; counters?: BackupCounters; bytesRestored?: number },
): Promise<void> {
  const s = await readStatus(paths);
  const now = Date.now();
  s.lastRun = { type: run.type, ok: run.ok, timeMs: now, ...(run.snapshotId ? { snapshotId: run.snapshotId } : {}), ...(run.error ? { error: run.error } : {}) };
  if (run.ok) s.lastSuccessMs = now;
  if (run.counters && run.counters.bytesNew > 0) s.lastSyncMs = now;
  s.pending.bytesSynced += run.counters?.storedNew ?? 0;
  s.pending.bytesRestored += run.bytesRestored ?? 0;
  if (run.error) s.pending.errors = [...s.pending.errors, { code: run.error, message: `${run.type} failed`, timeMs: now }].slice(-ERRORS_KEPT);
  await writeStatus(paths, s);
}

export async function recordRestore(paths: StatePaths, bytes: number): Promise<void> {
  const s = await readStatus(paths);
  s.pending.bytesRestored += bytes;
  await writeStatus(paths, s);
}
