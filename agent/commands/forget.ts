/**
 * `2baksa forget --state DIR [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
 *                [--keep-monthly N] [--keep-yearly N] [--prune] [--dry-run] [--json]`
 * Without any --keep flag, the profile's local retention applies. On a gateway that migrates (a cloud
 * in its config, or receipts from `migrate`), snapshots that have not migrated are kept. In an edge
 * cluster the running daemon does it, and always prunes: the forgotten snapshots' shards are released
 * on every member through the site ledger.
 */
import type { Command } from 'commander';
import { formatBytes, printJsonLine, printRows, type Column } from '../../shared/output.ts';
import type { SnapshotRecord } from '../catalog/index.ts';
import type { ClusterForgetResult, ForgetResult, PruneResult } from '../retention/index.ts';
import { intFlag, stateDirOf } from './common.ts';

interface ForgetFlags {
  state?: string;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  prune?: boolean;
  dryRun?: boolean;
  json?: boolean;
  utc?: boolean;
}

const columns: Column<{ snapshot: SnapshotRecord; action: string; reasons: string }>[] = [
  { header: 'ID', value: (r) => r.snapshot.id.slice(0, 8) },
  { header: 'Time', value: (r) => new Date(r.snapshot.timeMs).toISOString().replace('T', ' ').slice(0, 19) },
  { header: 'Action', value: (r) => r.action },
  { header: 'Reasons', value: (r) => r.reasons },
];

export function registerForgetCommand(program: Command): void {
  program
    .command('forget')
    .description('remove snapshots by retention rules (restic semantics; without a --keep flag, the profile\'s local retention); --prune deletes unreferenced chunks')
    .option('--state <dir>', 'agent state directory')
    .option('--keep-last <n>', 'keep the n newest snapshots (-1: all)', intFlag('keep-last'))
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the n last hours', intFlag('keep-hourly'))
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the n last days', intFlag('keep-daily'))
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the n last ISO weeks', intFlag('keep-weekly'))
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the n last months', intFlag('keep-monthly'))
    .option('--keep-yearly <n>', 'keep the newest snapshot of each of the n last years', intFlag('keep-yearly'))
    .option('--prune', 'then delete chunks and shards nothing references (an edge cluster always does)')
    .option('--dry-run', 'only show what would be removed')
    .option('--utc', 'bucket hours/days/weeks in UTC instead of local time')
    .option('--json', 'print JSON')
    .action(async (opts: ForgetFlags) => {
      const { loadState } = await import('../config/index.ts');
      const { openRepo } = await import('../backup/open.ts');
      const { acquireLock } = await import('../../shared/process-lock.ts');
      const { forgetSnapshots, migrationGate, prune } = await import('../retention/index.ts');
      const state = await loadState(stateDirOf(opts));
      const flags = [opts.keepLast, opts.keepHourly, opts.keepDaily, opts.keepWeekly, opts.keepMonthly, opts.keepYearly];
      const explicit = flags.some((f) => f !== undefined);
      const policy = explicit
        ? {
            keepLast: opts.keepLast ?? 0,
            keepHourly: opts.keepHourly ?? 0,
            keepDaily: opts.keepDaily ?? 0,
            keepWeekly: opts.keepWeekly ?? 0,
            keepMonthly: opts.keepMonthly ?? 0,
            keepYearly: opts.keepYearly ?? 0,
          }
        : state.profile.retention;
      const print = (result: ForgetResult, extra: { prune?: PruneResult; released?: ClusterForgetResult['released'] }) => {
        if (opts.json) {
          printJsonLine({
            policy,
            keep: result.keep.map((k) => ({ id: k.snapshot.id, time: new Date(k.snapshot.timeMs).toISOString(), reasons: k.reasons })),
            remove: result.remove.map((s) => ({ id: s.id, time: new Date(s.timeMs).toISOString() })),
            ...extra,
          });
          return;
        }
        const rows = [
          ...result.keep.map((k) => ({ snapshot: k.snapshot, action: 'keep', reasons: k.reasons.join(', ') })),
          ...result.remove.map((s) => ({ snapshot: s, action: opts.dryRun ? 'would remove' : 'remove', reasons: '' })),
        ].sort((a, b) => b.snapshot.timeMs - a.snapshot.timeMs);
        printRows(rows, columns, 'table');
        process.stdout.write(`${result.keep.length} kept, ${result.remove.length} ${opts.dryRun ? 'would be ' : ''}removed\n`);
        const { prune: pruned, released } = extra;
        if (pruned) {
          process.stdout.write(`prune: ${pruned.chunksDeleted} chunks, ${pruned.shardsDeleted + pruned.orphanShardsDeleted} shards deleted, ${formatBytes(pruned.bytesFreed)} freed\n`);
        }
        if (released) process.stdout.write(`released: ${released.chunks} chunks of ${released.snapshots} snapshots on every member of the site (${released.notices} ledger notices)\n`);
      };
      if (state.config.cluster) {
        const { forgetThroughDaemon } = await import('../edge/cli.ts');
        const { released, ...result } = await forgetThroughDaemon(state, { ...(explicit ? { policy } : {}), dryRun: opts.dryRun === true, utc: opts.utc === true });
        print(result, released ? { released } : {});
        return;
      }
      const lock = opts.dryRun ? undefined : await acquireLock(state.paths.lock, 'forget');
      try {
        const repo = await openRepo(state);
        try {
          const gate = await migrationGate(repo.catalog, state.config.cloud !== undefined);
          const result = await forgetSnapshots(repo.catalog, policy, { dryRun: opts.dryRun === true, utc: opts.utc === true, ...gate });
          const pruned = opts.prune && !opts.dryRun ? await prune(repo.catalog, repo.store, repo.ring) : undefined;
          print(result, pruned ? { prune: pruned } : {});
        } finally {
          await repo.close();
        }
      } finally {
        await lock?.release();
      }
    });
}
