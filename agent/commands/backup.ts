/**
 * `2baksa backup --state DIR [--lazy] [--force] [--json]`: one backup now (through the daemon in an edge
 * cluster). Exit 0 when everything was read; 6 (BACKUP_INCOMPLETE) when the snapshot was saved without
 * entries it could not read (unreadable or special files, a source that is not there), as restic's 3.
 */
import type { Command } from 'commander';
import { formatBytes, printJsonLine, printRecord } from '../../shared/output.ts';
import { stateDirOf } from './common.ts';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup')
    .description('back up the configured sources now (a snapshot)')
    .option('--state <dir>', 'agent state directory')
    .option('--lazy', 'take only files that have been still for the settle time (lazy mode)')
    .option('--force', "read every file whole, trusting none of the catalog's sizes, times and grown logs (as restic's --force)")
    .option('--json', 'print JSON lines (status lines, then a summary)')
    .action(async (opts: { state?: string; json?: boolean; lazy?: boolean; force?: boolean }) => {
      const { loadState } = await import('../config/index.ts');
      const { runBackup } = await import('../backup/run.ts');
      const { Catalog } = await import('../catalog/index.ts');
      const state = await loadState(stateDirOf(opts));
      let expected = 0;
      try {
        const catalog = await Catalog.open(state.paths.catalog);
        expected = (await catalog.listSnapshots()).at(-1)?.bytes ?? 0;
        await catalog.close();
      } catch {
        expected = 0;
      }
      const { backupReporter } = await import('./progress.ts');
      const reporter = await backupReporter(opts.json === true, expected);
      const { recordRun } = await import('../status/record.ts');
      const type = opts.lazy ? 'lazy' : 'snapshot';
      const cluster = state.config.cluster !== undefined;
      try {
        // In an edge cluster the daemon owns the store and the MQTT session: it runs the backup (and records it).
        const summary = cluster
          ? await (await import('../edge/cli.ts')).backupThroughDaemon(state, type, reporter.listener, opts.force === true)
          : await runBackup(state, { type, settleS: state.profile.schedule.settleS, listener: reporter.listener, force: opts.force === true });
        reporter.stop();
        if (!cluster) await recordRun(state.paths, { type: summary.snapshot.type, ok: true, snapshotId: summary.snapshot.id, counters: summary.counters, durationMs: summary.durationMs });
        const s = summary.snapshot;
        const c = summary.counters;
        if (opts.json) {
          printJsonLine({
            message_type: 'summary',
            snapshot_id: s.id,
            files_new_or_changed: c.filesRead,
            files_unchanged: c.filesUnchanged,
            files_appended: c.filesAppended,
            files_skipped: c.filesSkipped,
            files_pending: c.filesPending,
            total_files_processed: s.fileCount,
            total_bytes_processed: s.bytes,
            bytes_read: c.bytesRead,
            chunks_new: c.chunksNew,
            data_added: c.bytesNew,
            data_stored: c.storedNew,
            data_stored_with_parity: c.storedWithParityNew,
            total_duration: summary.durationMs / 1000,
            ...(summary.keyRotation ? { key_version: summary.keyRotation.to, key_rotated_from: summary.keyRotation.from } : {}),
          });
        } else {
          printRecord(
            {
              snapshot: s.id,
              files: `${s.fileCount} (${c.filesRead} read, ${c.filesAppended} appended, ${c.filesUnchanged} unchanged, ${c.filesSkipped} skipped)`,
              processed: formatBytes(s.bytes),
              read: formatBytes(c.bytesRead),
              added: `${formatBytes(c.bytesNew)} (${formatBytes(c.storedNew)} stored, ${formatBytes(c.storedWithParityNew)} with parity)`,
              duration: `${(summary.durationMs / 1000).toFixed(2)} s`,
              ...(summary.keyRotation ? { key: `rotated from version ${summary.keyRotation.from} to ${summary.keyRotation.to} (scheduled): new data is sealed with it` } : {}),
            },
            'table',
          );
        }
        if (c.filesSkipped > 0) {
          // The snapshot is saved and usable; the exit code tells a script it lacks something (restic's exit 3).
          const { ExitCode } = await import('../../shared/errors.ts');
          const entries = c.filesSkipped === 1 ? '1 entry' : `${c.filesSkipped} entries`;
          process.stderr.write(
            `2baksa: backup incomplete: ${entries} could not be read (listed above, each with its reason); snapshot ${s.id.slice(0, 8)} holds everything else [BACKUP_INCOMPLETE]\n` +
              '  what to do: make them readable, or leave them out (agent.json "excludes"), and back up again\n',
          );
          process.exitCode = ExitCode.incomplete;
        }
      } catch (error) {
        reporter.stop();
        const { BaksaError } = await import('../../shared/errors.ts');
        if (!cluster) await recordRun(state.paths, {
          type: opts.lazy ? 'lazy' : 'snapshot',
          ok: false,
          error: error instanceof BaksaError ? error.code : 'INTERNAL',
        }).catch(() => undefined);
        throw error;
      }
    });
}
