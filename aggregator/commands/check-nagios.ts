/**
 * `2baksa check-nagios heartbeat|space|ledger`: Nagios plugins (Box Backup 6). Each prints one status
 * line with perfdata and exits 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN — also when the check itself
 * cannot run (no database, unreachable node): that is UNKNOWN, never a crash or another exit code.
 *
 *   2baksa check-nagios heartbeat --db accounts.db [-w 0] [-c 4]        late or silent accounts
 *   2baksa check-nagios space --db accounts.db [-w 80] [-c 90]          volume fill %, accounts/groups over limits
 *   2baksa check-nagios ledger --dir LEDGER_DIR [--validators FILE]     offline chain verification
 *   2baksa check-nagios cluster --server URL --tls-dir DIR --cert-name N  nodes reachable against the quorum
 *   2baksa check-nagios certs --dir PKI_DIR [-w 30:] [-c 7:]           days before a certificate expires
 *
 * Thresholds are Nagios ranges (`10`, `10:`, `~:10`, `10:20`, `@10:20`).
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { NagiosRange, NagiosResult } from '../reports/nagios.ts';
import { nodeRequest, targetOptions, withTarget, type CommonFlags } from './common.ts';

interface ThresholdFlags {
  warning: string;
  critical: string;
}

async function emit(service: string, compute: () => Promise<NagiosResult>): Promise<void> {
  const { exitCodeOf, statusLine } = await import('../reports/nagios.ts');
  let result: NagiosResult;
  try {
    result = await compute();
  } catch (e) {
    const why = e instanceof BaksaError ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e);
    result = { service, state: 'UNKNOWN', text: why, perf: [] };
  }
  process.stdout.write(statusLine(result) + '\n');
  process.exitCode = exitCodeOf(result);
}

async function ranges(flags: ThresholdFlags): Promise<{ warning: NagiosRange; critical: NagiosRange }> {
  const { parseRange } = await import('../reports/nagios.ts');
  const parse = (flag: string, text: string) => {
    const r = parseRange(text);
    if (!r) throw new BaksaError('INVALID_ARGUMENT', `${flag}: "${text}" is not a Nagios range`, { exitCode: ExitCode.usage, hint: 'use e.g. 5, 10:, ~:10, 10:20 or @10:20' });
    return r;
  };
  return { warning: parse('--warning', flags.warning), critical: parse('--critical', flags.critical) };
}

export function registerCheckNagios(program: Command): void {
  const check = program.command('check-nagios').description('Nagios plugin checks: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, with perfdata');

  targetOptions(check.command('heartbeat'))
    .description('accounts whose heartbeats are late or silent')
    .option('-w, --warning <range>', 'warning range for the number of late accounts', '0')
    .option('-c, --critical <range>', 'critical range for the number of late accounts', '4')
    .action(async (o: CommonFlags & ThresholdFlags) =>
      emit('HEARTBEAT', async () => {
        const { heartbeatCheck } = await import('../reports/checks.ts');
        const t = await ranges(o);
        return heartbeatCheck(await withTarget(o, (b) => b.heartbeats()), t);
      }),
    );

  targetOptions(check.command('space'))
    .description('volume fill (percent) and accounts or groups over their soft (WARNING) or hard (CRITICAL) limits')
    .option('-w, --warning <range>', 'warning range for the fill of each volume, in percent', '80')
    .option('-c, --critical <range>', 'critical range for the fill of each volume, in percent', '90')
    .option('--no-quotas', 'ignore account and group limits')
    .action(async (o: CommonFlags & ThresholdFlags & { quotas: boolean }) =>
      emit('SPACE', async () => {
        const { spaceCheck } = await import('../reports/checks.ts');
        const t = await ranges(o);
        const input = await withTarget(o, async (b) => {
          const [volumes, accounts, groups] = [await b.space('volume'), await b.space('account'), await b.space('group')];
          return {
            volumes: volumes.by === 'volume' ? volumes.rows : [],
            accounts: accounts.by === 'account' ? accounts.rows : [],
            groups: groups.by === 'group' ? groups.rows : [],
          };
        });
        return spaceCheck(input, t, o.quotas);
      }),
    );

  check
    .command('cluster')
    .option('--server <urls>', 'the REST API of a node (https://HOST:PORT), or of several, comma-separated: the next answers while one is down')
    .option('--tls-dir <dir>', 'PKI directory holding ca.crt and your certificate')
    .option('--cert-name <name>', 'your certificate name in --tls-dir (admin, operator or auditor)')
    .description('the aggregator nodes one node reaches: CRITICAL below the PBFT quorum, WARNING with any node missing, a view change under way or its monitor hearing no heartbeats (--server)')
    .action(async (o: CommonFlags) =>
      emit('CLUSTER', async () => {
        const { clusterCheck } = await import('../reports/checks.ts');
        const s = await nodeRequest(o, 'GET', '/v1/node', undefined, 10_000);
        const list = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
        const num = (v: unknown) => (typeof v === 'number' ? v : 0);
        if (typeof s.node !== 'string' || !Array.isArray(s.replicas)) throw new Error(`${o.server} did not answer with a node status`);
        return clusterCheck({
          node: s.node,
          replicas: list(s.replicas),
          peersConnected: list(s.peersConnected),
          view: num(s.view),
          viewChanging: s.viewChanging === true,
          accountCommands: num(s.accountCommands),
          accountCommandsApplied: num(s.accountCommandsApplied),
          ...(typeof s.monitorListening === 'boolean' ? { monitorListening: s.monitorListening } : {}),
        });
      }),
    );

  check
    .command('certs')
    .description('days before the first certificate of a PKI directory expires (the CA included; revoked ones left out)')
    .requiredOption('--dir <dir>', 'PKI directory (a node\'s, a gateway\'s or the CA\'s)')
    .option('-w, --warning <range>', 'warning range for the days left', '30:')
    .option('-c, --critical <range>', 'critical range for the days left', '7:')
    .action(async (o: { dir: string } & ThresholdFlags) =>
      emit('CERTS', async () => {
        const { readdirSync } = await import('node:fs');
        const { join } = await import('node:path');
        const { certificateInfo, listRevocations, serialKey } = await import('../../shared/crypto/pki.ts');
        const { readPem } = await import('../../shared/crypto/pki-read.ts');
        const { certificateCheck } = await import('../reports/checks.ts');
        const t = await ranges(o);
        const revoked = new Set((await listRevocations(o.dir)).map((r) => r.serialNumber));
        const files = readdirSync(o.dir).filter((f) => f.endsWith('.crt')).sort();
        const rows = files.map((f) => {
          const path = join(o.dir, f);
          const info = certificateInfo(readPem(path, 'the certificate', 'restore it or issue it again'), path);
          return { name: f.slice(0, -'.crt'.length), notAfter: info.notAfter, revoked: !info.isCa && revoked.has(serialKey(info.serialNumber)) };
        });
        return certificateCheck(rows, Date.now(), t);
      }),
    );

  check
    .command('ledger')
    .description('verify a ledger directory offline: every hash, link and quorum signature')
    .requiredOption('--dir <dir>', 'ledger directory (or its blocks.log)')
    .option('--validators <file>', "trust this validator set instead of the ledger's own validators.json")
    .option('--strict', 'a torn tail is CRITICAL instead of WARNING')
    .action(async (o: { dir: string; validators?: string; strict?: boolean }) =>
      emit('LEDGER', async () => {
        const { auditLedger } = await import('../../shared/ledger/index.ts');
        const { ledgerCheck } = await import('../reports/checks.ts');
        const audit = await auditLedger(o.dir, o.validators ? { validatorsFile: o.validators } : {});
        const v = audit.verdict;
        const result = ledgerCheck({
          ok: v.ok && !(o.strict && audit.tornTail),
          height: v.height,
          blocks: v.blocks,
          tornTail: audit.tornTail !== undefined,
          ...(v.ok ? (o.strict && audit.tornTail ? { problem: 'torn tail (--strict)' } : {}) : { problem: `height ${v.height}: ${v.message} [${v.reason}]` }),
        });
        return result;
      }),
    );
}
