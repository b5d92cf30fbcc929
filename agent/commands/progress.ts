/**
 * Backup progress for people and scripts: a cli-progress bar on a TTY, JSON lines under --json (status
 * lines, then a summary, like restic), otherwise quiet until the summary. Read errors always go to stderr
 * for people.
 */
import type { BackupEvent, BackupListener } from '../backup/events.ts';
import { formatBytes, printJsonLine } from '../../shared/output.ts';
import { shownPath } from '../sources/names.ts';

export interface Reporter {
  listener: BackupListener;
  stop(): void;
}

export async function backupReporter(json: boolean, expectedBytes: number): Promise<Reporter> {
  if (json) {
    return {
      listener: (e: BackupEvent) => {
        if (e.type === 'progress') printJsonLine({ message_type: 'status', ...e.counters, current_path: e.currentPath });
        else if (e.type === 'read-error') printJsonLine({ message_type: 'error', event: 'read-error', path: e.path, code: e.code, message: e.message });
        else if (e.type === 'backup-start') printJsonLine({ message_type: 'start', snapshot_id: e.snapshotId, mode: e.mode, sources: e.sources });
      },
      stop() {},
    };
  }
  const readError = (e: BackupEvent) => {
    if (e.type === 'read-error') process.stderr.write(`warning: skipped ${shownPath(e.path)}: ${e.message} [${e.code}]\n`);
  };
  if (!process.stderr.isTTY) return { listener: readError, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      format: ' {bar} {percentage}% | {files} files | {done} of {total_h} scanned | {new_h} new',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(1, expectedBytes), 0, { files: 0, done: '0 B', total_h: formatBytes(expectedBytes), new_h: '0 B' });
  return {
    listener: (e: BackupEvent) => {
      if (e.type === 'read-error') {
        bar.stop();
        readError(e);
        bar.start(Math.max(1, expectedBytes), 0);
      }
      if (e.type !== 'progress') return;
      const c = e.counters;
      const total = Math.max(expectedBytes, c.bytesScanned, 1);
      bar.setTotal(total);
      bar.update(c.bytesScanned, { files: c.filesScanned, done: formatBytes(c.bytesScanned), total_h: formatBytes(total), new_h: formatBytes(c.bytesNew) });
    },
    stop: () => bar.stop(),
  };
}
