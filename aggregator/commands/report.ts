/**
 * `2baksa report space|heartbeats`: space by cluster, node, volume, group or account (Box Backup 4),
 * and the heartbeat board (Box Backup 3). `--json`, `--tsv`, or a table.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes, formatOf, printRows, type Column } from '../../shared/output.ts';
import type { BoardRow } from '../reports/heartbeats.ts';
import type { AccountSpaceRow, ClusterSpaceRow, GroupSpaceRow, NodeSpaceRow, SpaceDimension, VolumeSpaceRow } from '../reports/space.ts';
import { limitText, outputOptions, targetOptions, withTarget, type CommonFlags } from './common.ts';

const DIMENSIONS = ['cluster', 'node', 'volume', 'group', 'account'];
const b = (n: number | null) => (n === null ? '' : formatBytes(n));
const p = (n: number | null) => (n === null ? '' : `${n}%`);
/** Where a node's or volume's figures come from: read now, the last ones a node that did not answer gave, or none. */
const asOf = (ms: number | null) => (ms === null ? 'now' : `last known, ${new Date(ms).toISOString()}`);
const figures = (r: NodeSpaceRow) => (r.figures === 'none' ? 'none (not answered yet)' : asOf(r.asOfMs));

const spaceColumns = {
  account: [
    { header: 'ACCOUNT', value: (r) => r.account },
    { header: 'NUMBER', value: (r) => r.number },
    { header: 'USED', value: (r) => b(r.usedBytes), align: 'right' },
    { header: 'BYTES', value: (r) => r.usedBytes, align: 'right' },
    { header: 'OBJECTS', value: (r) => r.objects, align: 'right' },
    { header: 'SOFT', value: (r) => limitText(r.softBytes), align: 'right' },
    { header: 'HARD', value: (r) => limitText(r.hardBytes), align: 'right' },
    { header: '%HARD', value: (r) => p(r.usedPctOfHard), align: 'right' },
    { header: 'STATE', value: (r) => r.state },
  ] as Column<AccountSpaceRow>[],
  group: [
    { header: 'GROUP', value: (r) => r.group },
    { header: 'ADMIN', value: (r) => r.admin },
    { header: 'MEMBERS', value: (r) => r.members, align: 'right' },
    { header: 'USED', value: (r) => b(r.usedBytes), align: 'right' },
    { header: 'BYTES', value: (r) => r.usedBytes, align: 'right' },
    { header: 'SOFT', value: (r) => limitText(r.softBytes), align: 'right' },
    { header: 'HARD', value: (r) => limitText(r.hardBytes), align: 'right' },
    { header: '%HARD', value: (r) => p(r.usedPctOfHard), align: 'right' },
    { header: 'STATE', value: (r) => r.state },
  ] as Column<GroupSpaceRow>[],
  volume: [
    { header: 'CLUSTER', value: (r) => r.cluster },
    { header: 'NODE', value: (r) => r.node },
    { header: 'VOLUME', value: (r) => r.volume },
    { header: 'USED', value: (r) => b(r.usedBytes), align: 'right' },
    { header: 'BYTES', value: (r) => r.usedBytes, align: 'right' },
    { header: 'SIZE', value: (r) => b(r.totalBytes), align: 'right' },
    { header: 'FREE', value: (r) => b(r.freeBytes), align: 'right' },
    { header: '%USED', value: (r) => p(r.usedPct), align: 'right' },
    { header: 'FIGURES', value: (r) => asOf(r.asOfMs) },
  ] as Column<VolumeSpaceRow>[],
  node: [
    { header: 'CLUSTER', value: (r) => r.cluster },
    { header: 'NODE', value: (r) => r.node },
    { header: 'VOLUMES', value: (r) => r.volumes, align: 'right' },
    { header: 'USED', value: (r) => b(r.usedBytes), align: 'right' },
    { header: 'BYTES', value: (r) => r.usedBytes ?? '', align: 'right' },
    { header: 'SIZE', value: (r) => b(r.totalBytes), align: 'right' },
    { header: '%USED', value: (r) => p(r.usedPct), align: 'right' },
    { header: 'FIGURES', value: figures },
  ] as Column<NodeSpaceRow>[],
  cluster: [
    { header: 'CLUSTER', value: (r) => r.cluster },
    { header: 'NODES', value: (r) => r.nodes, align: 'right' },
    { header: 'VOLUMES', value: (r) => r.volumes, align: 'right' },
    { header: 'USED', value: (r) => b(r.usedBytes), align: 'right' },
    { header: 'SIZE', value: (r) => b(r.totalBytes), align: 'right' },
    { header: '%USED', value: (r) => p(r.usedPct), align: 'right' },
    { header: 'ACCOUNTS', value: (r) => r.accounts, align: 'right' },
    { header: 'ACCOUNT DATA', value: (r) => b(r.accountBytes), align: 'right' },
  ] as Column<ClusterSpaceRow>[],
};

const boardColumns: Column<BoardRow>[] = [
  { header: 'ACCOUNT', value: (r) => r.account },
  { header: 'NUMBER', value: (r) => r.number },
  { header: 'STATE', value: (r) => r.state },
  { header: 'LAST HEARTBEAT', value: (r) => r.lastHeartbeat ?? 'never' },
  { header: 'LAG', value: (r) => (r.lagS === null ? '' : `${r.lagS}s`), align: 'right' },
  { header: 'INTERVAL', value: (r) => `${r.intervalS}s`, align: 'right' },
  { header: 'LAST SYNC', value: (r) => r.lastSync ?? 'never' },
  { header: 'SYNC TIME', value: (r) => (r.lastSyncDurationS === null ? '' : `${r.lastSyncDurationS}s`), align: 'right' },
  { header: 'SYNCED', value: (r) => formatBytes(r.bytesSynced), align: 'right' },
  { header: 'ERRORS', value: (r) => r.errors, align: 'right' },
  { header: 'VERSION', value: (r) => r.agentVersion ?? '' },
];

export function registerReport(program: Command): void {
  const report = program.command('report').description('space and heartbeat reports');

  outputOptions(targetOptions(report.command('space')), true)
    .description('space used by cluster, node, volume (storage directory), group or account')
    .option('--by <dimension>', DIMENSIONS.join('|'), 'account')
    .action(async (o: CommonFlags & { by: string }) => {
      if (!DIMENSIONS.includes(o.by)) {
        throw new BaksaError('INVALID_ARGUMENT', `--by: "${o.by}" is not one of ${DIMENSIONS.join(', ')}`, { exitCode: ExitCode.usage, hint: `use --by ${DIMENSIONS.join('|')}` });
      }
      const r = await withTarget(o, (t) => t.space(o.by as SpaceDimension));
      printRows(r.rows as never[], spaceColumns[r.by] as Column<never>[], formatOf(o));
    });

  outputOptions(targetOptions(report.command('heartbeats')), true)
    .description('the heartbeat board: every account state (ok/late/silent/deregistered/unregistered/disabled), last heartbeat, last sync and lag')
    .action(async (o: CommonFlags) => printRows(await withTarget(o, (t) => t.heartbeats()), boardColumns, formatOf(o)));
}
