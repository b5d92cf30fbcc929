/**
 * `2baksa groups …`: client groups (Box Backup requirement 2). Flat, many-to-many, each with an
 * administrator contact who receives its members' alerts, with optional soft and hard limits over the
 * members' summed usage. Statistics are sums over the members, plus the member list.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes, formatOf, printRecord, printRows, type Column } from '../../shared/output.ts';
import type { GroupStats } from '../accounts/queries.ts';
import { limitText, outputOptions, sizeFlag, targetOptions, withTarget, type CommonFlags } from './common.ts';

const columns: Column<GroupStats>[] = [
  { header: 'GROUP', value: (g) => g.name },
  { header: 'ADMIN', value: (g) => g.admin },
  { header: 'MEMBERS', value: (g) => g.memberCount, align: 'right' },
  { header: 'USED', value: (g) => formatBytes(g.usedBytes), align: 'right' },
  { header: 'SOFT', value: (g) => limitText(g.softBytes), align: 'right' },
  { header: 'HARD', value: (g) => limitText(g.hardBytes), align: 'right' },
  { header: 'OBJECTS', value: (g) => g.objectCount, align: 'right' },
];

function printGroup(g: GroupStats, flags: CommonFlags): void {
  const format = formatOf(flags);
  if (format === 'json') return printRecord({ ...g }, format);
  printRecord(
    {
      group: g.name,
      administrator: g.admin,
      'soft limit': limitText(g.softBytes),
      'hard limit': limitText(g.hardBytes),
      used: `${formatBytes(g.usedBytes)} (${g.usedBytes} bytes, ${g.objectCount} objects)`,
      members: g.memberCount,
      'enabled members': g.enabledMembers,
      'member list': g.members.map((m) => m.name).join(', '),
    },
    format,
  );
}

export function registerGroups(program: Command): void {
  const groups = program.command('groups').description('client groups: administrators, quotas, members, statistics');

  outputOptions(targetOptions(groups.command('create').argument('<name>', 'group name')))
    .description('create a group')
    .requiredOption('--admin <contact>', 'the group administrator to notify (e-mail address or name)')
    .option('--soft <size>', 'soft limit over the members (alert + aggressive housekeeping)')
    .option('--hard <size>', 'hard limit over the members (new backups refused)')
    .action(async (name: string, o: CommonFlags & { admin: string; soft?: string; hard?: string }) => {
      const soft = sizeFlag('--soft', o.soft) ?? null;
      const hard = sizeFlag('--hard', o.hard) ?? null;
      printGroup(await withTarget(o, (b) => b.createGroup(name, o.admin, soft, hard), true), o);
    });

  outputOptions(targetOptions(groups.command('set').argument('<name>', 'group name')))
    .description("change a group's administrator or limits")
    .option('--admin <contact>', 'the group administrator')
    .option('--soft <size>', 'soft limit, or none')
    .option('--hard <size>', 'hard limit, or none')
    .action(async (name: string, o: CommonFlags & { admin?: string; soft?: string; hard?: string }) => {
      const patch = {
        ...(o.admin !== undefined ? { admin: o.admin } : {}),
        ...(o.soft !== undefined ? { softBytes: sizeFlag('--soft', o.soft)! } : {}),
        ...(o.hard !== undefined ? { hardBytes: sizeFlag('--hard', o.hard)! } : {}),
      };
      if (Object.keys(patch).length === 0) throw new BaksaError('INVALID_ARGUMENT', 'nothing to set', { exitCode: ExitCode.usage, hint: 'give --admin, --soft or --hard' });
      printGroup(await withTarget(o, (b) => b.setGroup(name, patch)), o);
    });

  // The form `accounts setlimit` has (and bbstoreaccounts'), so a group's limits are set as an account's are.
  outputOptions(targetOptions(groups.command('setlimit').argument('<name>', 'group name').argument('<soft>', 'soft limit over the members, e.g. 80G, or none').argument('<hard>', 'hard limit, e.g. 100G, or none')))
    .description("set a group's soft and hard limits")
    .action(async (name: string, soft: string, hard: string, o: CommonFlags) => {
      const patch = { softBytes: sizeFlag('soft', soft) ?? null, hardBytes: sizeFlag('hard', hard) ?? null };
      printGroup(await withTarget(o, (b) => b.setGroup(name, patch)), o);
    });

  outputOptions(targetOptions(groups.command('delete').argument('<name>', 'group name')))
    .description('delete a group (its members stay)')
    .action(async (name: string, o: CommonFlags) => {
      const r = await withTarget(o, (b) => b.deleteGroup(name));
      printRecord(formatOf(o) === 'json' ? r : { deleted: name }, formatOf(o));
    });

  outputOptions(targetOptions(groups.command('add').argument('<name>', 'group name').argument('<account>', 'account number or name')))
    .description('add an account to a group')
    .action(async (name: string, ref: string, o: CommonFlags) => printGroup(await withTarget(o, (b) => b.addMember(name, ref)), o));

  outputOptions(targetOptions(groups.command('remove').argument('<name>', 'group name').argument('<account>', 'account number or name')))
    .description('remove an account from a group')
    .action(async (name: string, ref: string, o: CommonFlags) => printGroup(await withTarget(o, (b) => b.removeMember(name, ref)), o));

  outputOptions(targetOptions(groups.command('info').argument('<name>', 'group name')))
    .description('group statistics: sums over the members, and the member list')
    .action(async (name: string, o: CommonFlags) => printGroup(await withTarget(o, (b) => b.groupInfo(name)), o));

  outputOptions(targetOptions(groups.command('list')), true)
    .description('list every group')
    .action(async (o: CommonFlags) => printRows(await withTarget(o, (b) => b.listGroups()), columns, formatOf(o)));
}
