/**
 * `2baksa accounts …`: the bbstoreaccounts of 2baksa (Box Backup requirement 1, 5). Every command takes
 * the account as its hex number (0x1a or 1a) or its symbolic name.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes, formatOf, printRecord, printRows, type Column } from '../../shared/output.ts';
import type { AccountView } from '../accounts/ops.ts';
import { intFlag, limitText, listFlag, onOffFlag, outputOptions, sizeFlag, targetOptions, withTarget, type CommonFlags } from './common.ts';

const columns: Column<AccountView>[] = [
  { header: 'NUMBER', value: (a) => a.numberHex },
  { header: 'NAME', value: (a) => a.name },
  { header: 'ENABLED', value: (a) => (a.enabled ? 'yes' : 'no') },
  { header: 'USED', value: (a) => formatBytes(a.usedBytes), align: 'right' },
  { header: 'SOFT', value: (a) => limitText(a.softBytes), align: 'right' },
  { header: 'HARD', value: (a) => limitText(a.hardBytes), align: 'right' },
  { header: 'OBJECTS', value: (a) => a.objectCount, align: 'right' },
  { header: 'MONITOR', value: (a) => (a.monitoring ? `${a.heartbeatIntervalS}s` : 'off') },
  { header: 'PRIMARY', value: (a) => a.primaryCluster ?? '' },
];

function printAccount(a: Record<string, unknown>, flags: CommonFlags): void {
  const format = formatOf(flags);
  if (format === 'json') return printRecord(a, format);
  const v = a as unknown as AccountView & { groups?: string[]; monitor?: Record<string, unknown> | null; pendingHousekeeping?: number };
  const record: Record<string, unknown> = {
    number: v.numberHex,
    name: v.name,
    enabled: v.enabled ? 'yes' : 'no',
    used: `${formatBytes(v.usedBytes)} (${v.usedBytes} bytes, ${v.objectCount} objects)`,
    'soft limit': limitText(v.softBytes),
    'hard limit': limitText(v.hardBytes),
    monitoring: v.monitoring ? `on, heartbeat every ${v.heartbeatIntervalS} s` : 'off',
    'primary cluster': v.primaryCluster ?? '(this cluster)',
    'secondary cluster': v.secondaryCluster ?? '(none)',
    regions: v.regions.length > 0 ? v.regions.join(',') : '(any)',
    'store marker': v.storeMarker,
    created: new Date(v.createdMs).toISOString(),
  };
  if (v.groups) record.groups = v.groups.join(', ');
  if (v.pendingHousekeeping !== undefined) record['pending housekeeping'] = v.pendingHousekeeping;
  if (v.monitor) {
    record['last heartbeat'] = v.monitor.lastHeartbeat ?? 'never';
    record['last sync'] = v.monitor.lastSync ?? 'never';
    if (v.monitor.lastSyncDurationS !== null) record['last sync duration'] = `${v.monitor.lastSyncDurationS} s`;
    record['bytes synced'] = v.monitor.bytesSynced;
    record['bytes restored'] = v.monitor.bytesRestored;
    record.errors = v.monitor.errors;
    if (v.monitor.agentVersion) record['agent version'] = v.monitor.agentVersion;
  }
  printRecord(record, format);
}

export function registerAccounts(program: Command): void {
  const accounts = program.command('accounts').description('accounts: create, inspect, limit, enable, rename, delete, housekeep, check');

  outputOptions(targetOptions(accounts.command('create')))
    .description('create an account (its number is the next free one unless --number is given)')
    .requiredOption('--name <fqdn>', 'symbolic name: an RFC 1034 host name, e.g. the gateway FQDN')
    .option('--number <hex>', 'explicit account number, e.g. 0x1a')
    .option('--soft <size>', 'soft limit (e.g. 8G); crossing it alerts and housekeeps aggressively')
    .option('--hard <size>', 'hard limit (e.g. 10G); new backups past it are refused')
    .option('--interval <seconds>', 'heartbeat interval (default 900)')
    .option('--monitoring <on|off>', 'monitor heartbeats (default on)')
    .option('--primary <cluster>', 'primary cluster')
    .option('--secondary <cluster>', 'secondary cluster')
    .option('--regions <list>', 'regions the data may be stored in, comma-separated (data residency)')
    .option('--ca-dir <dir>', 'also issue the agent certificate <name>.crt/.key from the CA in this directory')
    .action(async (o: CommonFlags & Record<string, string | undefined>) => {
      const { parseAccountNumber } = await import('../accounts/names.ts');
      let number: number | null = null;
      if (o.number !== undefined) {
        const n = parseAccountNumber(o.number);
        if (n === undefined) throw new BaksaError('INVALID_ARGUMENT', `--number: "${o.number}" is not an account number`, { exitCode: ExitCode.usage, hint: 'give a hex number from 0x1 to 0xffffffff' });
        number = n;
      }
      const input = {
        name: o.name!,
        number,
        softBytes: sizeFlag('--soft', o.soft) ?? null,
        hardBytes: sizeFlag('--hard', o.hard) ?? null,
        ...(o.interval !== undefined ? { heartbeatIntervalS: intFlag('--interval', o.interval, 1, 7 * 24 * 3600)! } : {}),
        ...(o.monitoring !== undefined ? { monitoring: onOffFlag('--monitoring', o.monitoring)! } : {}),
        ...(o.primary !== undefined ? { primaryCluster: o.primary } : {}),
        ...(o.secondary !== undefined ? { secondaryCluster: o.secondary } : {}),
        ...(o.regions !== undefined ? { regions: listFlag(o.regions)! } : {}),
      };
      const created = await withTarget(o, (b) => b.createAccount(input), true);
      const out: Record<string, unknown> = { ...created };
      if (o.caDir) {
        const { issueCertificate } = await import('../../shared/crypto/pki.ts');
        const { certificateNameOf } = await import('../accounts/names.ts');
        const cert = await issueCertificate(o.caDir, { name: certificateNameOf(created), role: 'agent' });
        out.certificate = cert.certPath;
        out.key = cert.keyPath;
      }
      printAccount(out, o);
    });

  outputOptions(targetOptions(accounts.command('info').argument('<account>', 'number or name')))
    .description('show an account: limits, usage, groups, monitoring')
    .action(async (ref: string, o: CommonFlags) => printAccount(await withTarget(o, (b) => b.accountInfo(ref)), o));

  outputOptions(targetOptions(accounts.command('list')), true)
    .description('list every account')
    .action(async (o: CommonFlags) => printRows(await withTarget(o, (b) => b.listAccounts()), columns, formatOf(o)));

  outputOptions(targetOptions(accounts.command('enabled').argument('<account>', 'number or name').argument('<yes|no>', 'enable or disable')))
    .description('enable or disable an account (a disabled account may not back up)')
    .action(async (ref: string, yn: string, o: CommonFlags) => printAccount(await withTarget(o, (b) => b.setEnabled(ref, onOffFlag('enabled', yn)!)), o));

  outputOptions(targetOptions(accounts.command('setlimit').argument('<account>', 'number or name').argument('<soft>', 'soft limit, e.g. 8G, or none').argument('<hard>', 'hard limit, e.g. 10G, or none')))
    .description('set the soft and hard limits')
    .action(async (ref: string, soft: string, hard: string, o: CommonFlags) => {
      const s = sizeFlag('soft', soft) ?? null;
      const h = sizeFlag('hard', hard) ?? null;
      printAccount(await withTarget(o, (b) => b.setLimits(ref, s, h)), o);
    });

  outputOptions(targetOptions(accounts.command('set').argument('<account>', 'number or name')))
    .description('set monitoring, heartbeat interval, clusters and regions')
    .option('--monitoring <on|off>', 'monitor heartbeats')
    .option('--interval <seconds>', 'heartbeat interval')
    .option('--primary <cluster>', 'primary cluster ("none" clears it)')
    .option('--secondary <cluster>', 'secondary cluster ("none" clears it)')
    .option('--regions <list>', 'allowed regions, comma-separated ("" for any)')
    .action(async (ref: string, o: CommonFlags & Record<string, string | undefined>) => {
      const cluster = (v: string | undefined) => (v === undefined ? undefined : /^none$/i.test(v) ? null : v);
      const config = {
        ...(o.monitoring !== undefined ? { monitoring: onOffFlag('--monitoring', o.monitoring)! } : {}),
        ...(o.interval !== undefined ? { heartbeatIntervalS: intFlag('--interval', o.interval, 1, 7 * 24 * 3600)! } : {}),
        ...(o.primary !== undefined ? { primaryCluster: cluster(o.primary)! } : {}),
        ...(o.secondary !== undefined ? { secondaryCluster: cluster(o.secondary)! } : {}),
        ...(o.regions !== undefined ? { regions: listFlag(o.regions)! } : {}),
      };
      if (Object.keys(config).length === 0) throw new BaksaError('INVALID_ARGUMENT', 'nothing to set', { exitCode: ExitCode.usage, hint: 'give --monitoring, --interval, --primary, --secondary or --regions' });
      printAccount(await withTarget(o, (b) => b.configure(ref, config)), o);
    });

  outputOptions(targetOptions(accounts.command('name').argument('<account>', 'number or name').argument('<new-name>', 'the new symbolic name')))
    .description('rename an account (reissue its certificate under the new name afterwards)')
    .action(async (ref: string, name: string, o: CommonFlags) => printAccount(await withTarget(o, (b) => b.rename(ref, name)), o));

  outputOptions(targetOptions(accounts.command('delete').argument('<account>', 'number or name')))
    .description('delete an account and everything it stores')
    .option('--yes', 'confirm the deletion')
    .action(async (ref: string, o: CommonFlags & { yes?: boolean }) => {
      if (!o.yes) throw new BaksaError('CONFIRMATION_REQUIRED', `deleting ${ref} removes all its data`, { exitCode: ExitCode.usage, hint: `run again with --yes: 2baksa accounts delete ${ref} --yes` });
      const r = await withTarget(o, (b) => b.deleteAccount(ref));
      const deleted = r.deleted as AccountView;
      printRecord(formatOf(o) === 'json' ? r : { deleted: `${deleted.name} (${deleted.numberHex})`, 'objects to delete': (r.objectsToDelete as string[]).length, bytes: r.bytesToDelete }, formatOf(o));
    });

  outputOptions(targetOptions(accounts.command('housekeep').argument('<account>', 'number or name')))
    .description('run housekeeping now: remove old and deleted objects down to the soft limit')
    .option('--aggressive', 'remove every old and deleted object')
    .action(async (ref: string, o: CommonFlags & { aggressive?: boolean }) => {
      const r = await withTarget(o, (b) => b.housekeep(ref, o.aggressive === true));
      printRecord(formatOf(o) === 'json' ? r : { account: r.name, aggressive: r.aggressive ? 'yes' : 'no', 'removed objects': (r.removedObjects as string[]).length, 'removed bytes': r.removedBytes, 'used now': r.usedBytes }, formatOf(o));
    });

  outputOptions(targetOptions(accounts.command('reset-key').argument('<account>', 'number or name')))
    .description("forget the agent key pinned at the account's first registration (after re-installing a gateway); node-local")
    .action(async (ref: string, o: CommonFlags) => printRecord({ ...(await withTarget(o, (b) => b.resetAgentKey(ref))) }, formatOf(o)));

  outputOptions(targetOptions(accounts.command('check').argument('<account>', 'number or name')))
    .description('check the usage counters against the stored objects')
    .option('--fix', 'recompute the counters from the stored objects')
    .action(async (ref: string, o: CommonFlags & { fix?: boolean }) => {
      const r = await withTarget(o, (b) => b.check(ref, o.fix === true));
      printRecord(
        formatOf(o) === 'json'
          ? { ...r }
          : { account: `${r.name} (${r.numberHex})`, 'recorded bytes': r.recordedBytes, 'stored bytes': r.actualBytes, 'recorded objects': r.recordedObjects, 'stored objects': r.actualObjects, consistent: r.consistent ? 'yes' : 'no', fixed: r.fixed ? 'yes' : 'no' },
        formatOf(o),
      );
      if (!r.consistent && !r.fixed) process.exitCode = ExitCode.data;
    });
}
