/**
 * What a backup reports while it runs. The CLI turns these into a progress bar or JSON lines, the daemon
 * into telemetry events (DESIGN §4: backup-start/finish/ok/error, read-error).
 */
import type { SnapshotType } from '../catalog/index.ts';

export interface BackupCounters {
  filesScanned: number;
  filesUnchanged: number;
  filesRead: number;
  /** Files whose only change was growth, read from their last chunk on. */
  filesAppended: number;
  filesSkipped: number;
  /** Lazy mode: changed files not yet still for the settle time. */
  filesPending: number;
  bytesScanned: number;
  /** Bytes read from source files (the incremental tests assert on this). */
  bytesRead: number;
  chunks: number;
  chunksNew: number;
  bytesNew: number;
  /** Data shard bytes stored for new chunks (without parity) and all shard bytes. */
  storedNew: number;
  storedWithParityNew: number;
}

export function emptyCounters(): BackupCounters {
  return {
    filesScanned: 0,
    filesUnchanged: 0,
    filesRead: 0,
    filesAppended: 0,
    filesSkipped: 0,
    filesPending: 0,
    bytesScanned: 0,
    bytesRead: 0,
    chunks: 0,
    chunksNew: 0,
    bytesNew: 0,
    storedNew: 0,
    storedWithParityNew: 0,
  };
}

export type BackupEvent =
  | { type: 'backup-start'; snapshotId: string; mode: SnapshotType; sources: string[]; timeMs: number }
  | { type: 'progress'; counters: BackupCounters; currentPath?: string }
  | { type: 'read-error'; path: string; code: string; message: string }
  | { type: 'backup-finish'; snapshotId: string; counters: BackupCounters; durationMs: number }
  | { type: 'backup-ok'; snapshotId: string; counters: BackupCounters; durationMs: number }
  | { type: 'backup-error'; code: string; message: string; counters: BackupCounters };

export type BackupListener = (event: BackupEvent) => void;
