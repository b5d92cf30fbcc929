/**
 * `2baksa cluster status --state DIR [--json]`: the edge cluster's members, online state and ledger heights.
 * `2baksa cluster repair --state DIR [--json]`: rebuild this gateway's shards held by members that are
 * not online onto the members that are (the daemon does it by itself after `cluster.repairAfterS`).
 * `2baksa rebalance --state DIR [--json]`: every member up, chunks back to the cluster's full geometry.
 * `2baksa cluster admit NAME --key HEX --state DIR [--json]`: on a validator, admit a gateway that joins the
 *   running cluster as a storage member (its key is the `node_public_key` its `agent init --join` printed).
 */
import type { Command } from 'commander';
import { printRecord, printRows } from '../../shared/output.ts';
import { stateDirOf } from './common.ts';

export function registerClusterGroup(program: Command): void {
  const cluster = program.command('cluster').description('the edge cluster this gateway belongs to');
  cluster
    .command('status')
    .description('members, their online state and ledger height (asks the running agent daemon)')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; json?: boolean }) => {
      const { loadState } = await import('../config/index.ts');
      const { BaksaError, ExitCode } = await import('../../shared/errors.ts');
      const state = await loadState(stateDirOf(opts));
      if (!state.config.cluster) {
        throw new BaksaError('NOT_IN_CLUSTER', `${state.config.name} is not a member of an edge cluster`, {
          hint: 'an agent joins one with `agent init … --members A,B,C --broker URL`',
          exitCode: ExitCode.usage,
        });
      }
      const { clusterStatusThroughDaemon } = await import('../edge/cli.ts');
      const reply = await clusterStatusThroughDaemon(state);
      printRows(
        reply.members,
        [
          { header: 'member', value: (m) => `${m.id}${m.self ? ' (this)' : ''}` },
          { header: 'role', value: (m) => (m.role === 'storage' ? `storage (block ${m.admittedAt ?? '?'})` : 'validator') },
          { header: 'state', value: (m) => m.status },
          { header: 'blocks', value: (m) => m.blocks ?? '?', align: 'right' },
          { header: 'view', value: (m) => m.view ?? '?', align: 'right' },
          { header: 'staged', value: (m) => m.stagedTxs ?? '?', align: 'right' },
        ],
        opts.json ? 'json' : 'table',
        () => reply,
      );
      const validators = reply.members.filter((m) => m.role !== 'storage');
      const online = validators.filter((m) => m.status === 'online').length;
      if (!opts.json && reply.quorum !== undefined) {
        if (reply.cutOff) process.stdout.write(`this gateway is cut off from the site broker (${reply.cutOff}): it reaches no other member, and backups fail until the link is back\n`);
        process.stdout.write(`${online} of ${validators.length} validators online; commits need ${reply.quorum}${online < reply.quorum ? ' (no quorum: backups wait)' : ''}\n`);
        const mismatched = reply.members.filter((m) => m.status === 'mismatched').map((m) => m.id);
        if (mismatched.length > 0) {
          process.stdout.write(`${mismatched.join(', ')} ${mismatched.length === 1 ? 'was' : 'were'} set up with another member list than this gateway: ` +
            'every member must be set up with the same --members (2baksa agent init)\n');
        }
      }
      if (!opts.json && !reply.joined) {
        process.stdout.write(
          reply.joining?.phase === 'broker'
            ? `the daemon has not reached the site broker (${reply.joining.broker}) yet: check that the broker runs and the link to it\n`
            : state.config.cluster.join
              ? `the daemon is waiting to be admitted: on a member, run 2baksa cluster admit ${state.config.name} --key ${state.config.nodePublicKey} --state DIR\n`
              : `the daemon is still waiting for every member to come online once${reply.joining ? ` (${reply.joining.missing.join(', ')})` : ''}\n`,
        );
      }
    });
  cluster
    .command('admit <name>')
    .description('admit a gateway that joins this running cluster as a storage member (on a validator; asks the daemon)')
    .option('--state <dir>', 'agent state directory')
    .requiredOption('--key <hex>', "the joining gateway's node public key (`agent init --join` prints it as node_public_key)")
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { state?: string; key: string; json?: boolean }) => {
      const { loadState } = await import('../config/index.ts');
      const { BaksaError, ExitCode } = await import('../../shared/errors.ts');
      const key = opts.key.trim().toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(key)) {
        throw new BaksaError('USAGE', '--key: an Ed25519 public key is 64 hex digits', { hint: 'copy node_public_key from the joining gateway\'s `agent init` output (or its agent.json)', exitCode: ExitCode.usage });
      }
      const state = await loadState(stateDirOf(opts));
      if (!state.config.cluster) {
        throw new BaksaError('NOT_IN_CLUSTER', `${state.config.name} is not a member of an edge cluster`, { hint: 'run it on a member of the cluster the gateway joins', exitCode: ExitCode.usage });
      }
      const { admitThroughDaemon } = await import('../edge/cli.ts');
      const reply = await admitThroughDaemon(state, name.trim().toLowerCase(), key);
      printRecord({ admitted: reply.node, key: reply.key, block: reply.height, members: reply.members.join(', ') }, opts.json ? 'json' : 'table');
      if (!opts.json) process.stdout.write(`new chunks now spread over ${reply.members.length} members; run \`2baksa rebalance\` on each gateway to spread the older ones\n`);
    });
  cluster
    .command('repair')
    .description("rebuild this gateway's shards held by members that are not online onto the members that are (asks the daemon)")
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON lines (progress, then a summary)')
    .action((opts: RelayoutFlags) => relayout('repair', opts));
  program
    .command('rebalance')
    .description('edge cluster, every member online: spread chunks written while one was down back over all members (asks the daemon)')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON lines (progress, then a summary)')
    .action((opts: RelayoutFlags) => relayout('rebalance', opts));
}

interface RelayoutFlags {
  state?: string;
  json?: boolean;
}

async function relayout(op: 'repair' | 'rebalance', opts: RelayoutFlags): Promise<void> {
  const { loadState } = await import('../config/index.ts');
  const { printJsonLine, printRecord } = await import('../../shared/output.ts');
  const state = await loadState(stateDirOf(opts));
  const { relayoutThroughDaemon } = await import('../edge/cli.ts');
  let last = 0;
  const report = await relayoutThroughDaemon(state, op, (p) => {
    if (opts.json) printJsonLine({ message_type: 'status', ...p });
    else if (process.stderr.isTTY && Date.now() - last > 250) {
      last = Date.now();
      process.stderr.write(`\r ${op}: ${p.chunksChecked}/${p.chunksTotal} chunks checked, ${p.chunksRepaired} relaid out`);
    }
  });
  if (!opts.json && process.stderr.isTTY) process.stderr.write('\n');
  const summary = {
    ...(op === 'repair' ? { gone: report.gone.join(', ') || '(none)' } : {}),
    geometry: report.geometry ? `${report.geometry.k}+${report.geometry.m}` : '',
    chunks_checked: report.chunksChecked,
    // A repair rebuilds shards a gone member held; a rebalance moves healthy ones: each says what it did.
    [op === 'repair' ? 'chunks_repaired' : 'chunks_relaid']: report.chunksRepaired,
    unrecoverable: report.unrecoverable.length,
  };
  if (opts.json) printJsonLine({ message_type: 'summary', ...summary, gone: report.gone, unrecoverable: report.unrecoverable });
  else printRecord(summary, 'table');
  if (report.unrecoverable.length > 0) process.exitCode = 2;
}
