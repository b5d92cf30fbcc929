/** `2baksa status --state DIR [--json]`: who this agent is, its last backup, what is stored, whether the daemon runs. */
import type { Command } from 'commander';
import { formatBytes, formatOf, printRecord } from '../../shared/output.ts';
import { stateDirOf } from './common.ts';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show the agent state: last backup, snapshots, stored bytes, daemon')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON')
    .option('--tsv', 'print tab-separated values')
    .action(async (opts: { state?: string; json?: boolean; tsv?: boolean }) => {
      const { collectStatus } = await import('../status/collect.ts');
      const s = await collectStatus(stateDirOf(opts));
      if (opts.json) {
        printRecord(s as unknown as Record<string, unknown>, 'json');
        return;
      }
      const iso = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : 'never');
      printRecord(
        {
          name: s.name,
          profile: s.profile,
          sources: s.sources.join(' '),
          ...(s.capture ? { capture: `${s.capture.topics.join(' ')} from ${s.capture.broker} into ${s.capture.dir} (by the daemon)` } : {}),
          daemon: s.daemon.running ? `running (pid ${s.daemon.pid})` : 'not running',
          backup_running: s.backupRunning ? `yes (pid ${s.backupRunning.pid})` : 'no',
          key: `version ${s.key.version} since ${iso(s.key.sinceMs)}; ${s.key.nextRotationMs === undefined ? 'never rotated (keyRotationDays 0)' : `the next backup after ${iso(s.key.nextRotationMs)} rotates it`}`,
          last_backup: s.lastRun ? `${s.lastRun.type} ${runOutcome(s.lastRun)} at ${iso(s.lastRun.timeMs)}` : 'never',
          last_snapshot: s.lastSnapshot ? `${s.lastSnapshot.id.slice(0, 8)} at ${iso(s.lastSnapshot.timeMs)}` : 'none',
          snapshots: s.snapshots,
          chunks: s.chunks,
          data: formatBytes(s.dataBytes),
          stored: `${formatBytes(s.storedBytes)} (${formatBytes(s.storedWithParityBytes)} with parity)`,
          volume_free: formatBytes(s.volumeFreeBytes),
        },
        formatOf(opts),
      );
    });
}

/** "ok", "ok, 2 entries skipped" (saved without what it could not read) or "failed (CODE)". */
function runOutcome(run: { ok: boolean; error?: string; skipped?: number }): string {
  if (!run.ok) return `failed (${run.error})`;
  return run.skipped ? `ok, ${run.skipped} ${run.skipped === 1 ? 'entry' : 'entries'} skipped` : 'ok';
}
