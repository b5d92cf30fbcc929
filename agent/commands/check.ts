/** `2baksa check --state DIR [--read-data] [--repair] [--json]` — exit 0 clean/repaired, 1 damage left, 2 data lost. */
import type { Command } from 'commander';
import { formatBytes, printJsonLine, printRecord } from '../../shared/output.ts';
import { stateDirOf } from './common.ts';

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('check the catalog and shards; --read-data reads and hash-checks every shard; --repair rebuilds bad ones')
    .option('--state <dir>', 'agent state directory')
    .option('--read-data', 'read every shard and decrypt every chunk')
    .option('--repair', 'rebuild missing or corrupt shards from the others (Reed-Solomon)')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; readData?: boolean; repair?: boolean; json?: boolean }) => {
      const { loadState } = await import('../config/index.ts');
      const { openRepo } = await import('../backup/open.ts');
      const { acquireLock } = await import('../../shared/process-lock.ts');
      const { runCheck, checkExitCode } = await import('../check/index.ts');
      const state = await loadState(stateDirOf(opts));
      const cluster = state.config.cluster !== undefined;
      const lock = opts.repair && !cluster ? await acquireLock(state.paths.lock, 'check --repair') : undefined;
      try {
        // In an edge cluster the daemon runs the check (it owns the store and reaches the peers).
        const repo = cluster ? undefined : await openRepo(state);
        try {
          const checkOptions = { readData: opts.readData === true, repair: opts.repair === true };
          const report = repo
            ? checkOptions.readData
              ? await (await import('../chunks/open-pool.ts')).withOpeners(repo.ring, state.profile, (open) => runCheck(repo.catalog, repo.store, repo.ring, { ...checkOptions, ...(open ? { open } : {}) }))
              : await runCheck(repo.catalog, repo.store, repo.ring, checkOptions)
            : await (await import('../edge/cli.ts')).checkThroughDaemon(state, checkOptions);
          const code = checkExitCode(report);
          const summary = {
            status: code === 0 ? 'OK' : code === 1 ? 'WARNING' : 'CRITICAL',
            snapshots: report.snapshots,
            chunks: report.chunks,
            shards: report.shards,
            read: report.bytesRead,
            errors: report.issues.filter((i) => i.severity === 'error').length,
            repaired: report.repaired,
            unrecoverable: report.unrecoverable,
            orphan_shards: report.orphanShards,
          };
          if (opts.json) {
            printJsonLine({ ...summary, issues: report.issues });
          } else {
            // Shards on edge members that do not answer are one line per member, not one per shard: they
            // are not damaged, and a repair cannot rebuild them while their holder may come back.
            const unreachable = new Map<string, number>();
            for (const i of report.issues) {
              if (i.code !== 'SHARD_UNREACHABLE' || i.repaired) process.stdout.write(`${i.severity}: ${i.message}\n`);
              else {
                const node = i.node ?? 'a member';
                unreachable.set(node, (unreachable.get(node) ?? 0) + 1);
              }
            }
            for (const [node, count] of unreachable) {
              process.stdout.write(`error: ${count} ${count === 1 ? 'shard is' : 'shards are'} on ${node}, which does not answer (offline or cut off): not checked\n`);
            }
            printRecord({ ...summary, read: formatBytes(report.bytesRead) }, 'table');
            const openErrors = report.issues.filter((i) => i.severity === 'error' && !i.repaired);
            const onlyUnreachable = openErrors.length > 0 && openErrors.every((i) => i.code === 'SHARD_UNREACHABLE');
            process.stdout.write(
              code === 0
                ? report.repaired > 0
                  ? `${report.repaired} damaged ${report.repaired === 1 ? 'shard was' : 'shards were'} found and rebuilt; nothing else is wrong\n`
                  : 'no errors were found\n'
                : code === 1 && onlyUnreachable
                  ? 'nothing damaged was found, and every chunk can be read from the members that answer; check again once ' +
                    `${[...unreachable.keys()].join(', ')} ${unreachable.size === 1 ? 'is' : 'are'} back, or run \`2baksa cluster repair\` to rebuild ` +
                    'the shards of a member that is gone for good on the others (the daemon does it by itself after cluster.repairAfterS)\n'
                  : code === 1
                    ? `damaged shards were found: run \`2baksa check --read-data --repair\` to rebuild them${unreachable.size > 0 ? ' (the shards on members that do not answer stay as they are)' : ''}\n`
                    : 'data is lost or the catalog is inconsistent (see the errors above)\n',
            );
          }
          process.exitCode = code;
        } finally {
          await repo?.close();
        }
      } finally {
        await lock?.release();
      }
    });
}
