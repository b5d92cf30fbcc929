/**
 * What the heartbeat reports "since the last heartbeat": bytes synced and restored and significant
 * errors. Backups and restores (the daemon's and the CLI's) add to STATE/status.json; a heartbeat takes
 * the values, and once the broker has it, subtracts exactly what it reported (so nothing added meanwhile
 * is lost: the subtraction and a backup's record of its run are serialized by `updateStatus`). The
 * daemon's own errors (not in status.json) are kept here until reported.
 */
import type { StatePaths } from '../config/index.ts';
import { readStatus, updateStatus } from '../status/record.ts';
import type { SignificantError } from '../telemetry/heartbeat.ts';

export interface TakenCounters {
  bytesSynced: number;
  bytesRestored: number;
  errors: SignificantError[];
  lastSyncMs?: number;
  lastSyncDurationMs?: number;
}

export class HeartbeatCounters {
  private readonly local: SignificantError[] = [];

  constructor(private readonly paths: StatePaths) {}

  addError(e: SignificantError): void {
    this.local.push(e);
  }

  async take(): Promise<{ counters: TakenCounters; commit: () => Promise<void> }> {
    const s = await readStatus(this.paths);
    const fromFile = s.pending.errors.map((e) => ({ atMs: e.timeMs, message: `${e.code}: ${e.message}` }));
    const localTaken = this.local.slice();
    const counters: TakenCounters = {
      bytesSynced: s.pending.bytesSynced,
      bytesRestored: s.pending.bytesRestored,
      errors: [...fromFile, ...localTaken],
      ...(s.lastSyncMs !== undefined ? { lastSyncMs: s.lastSyncMs } : {}),
      ...(s.lastSyncDurationMs !== undefined ? { lastSyncDurationMs: s.lastSyncDurationMs } : {}),
    };
    const commit = async () => {
      this.local.splice(0, localTaken.length);
      const reported = new Set(s.pending.errors.map((e) => `${e.timeMs}:${e.code}`));
      await updateStatus(this.paths, (now) => {
        now.pending.bytesSynced = Math.max(0, now.pending.bytesSynced - counters.bytesSynced);
        now.pending.bytesRestored = Math.max(0, now.pending.bytesRestored - counters.bytesRestored);
        now.pending.errors = now.pending.errors.filter((e) => !reported.has(`${e.timeMs}:${e.code}`));
      });
    };
    return { counters, commit };
  }
}
