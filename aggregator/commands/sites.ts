/**
 * `2baksa sites …`: the edge sites whose ledger blocks the cloud checks migrations against (DESIGN §6).
 * `register` takes the site ledger's validators.json (any gateway of the site has it, in
 * STATE/edge/ledger/) and binds accounts to the site: from then on every chunk those accounts migrate
 * must be proven by a block of the site certified by a quorum of these keys, or it is refused.
 */
import type { Command } from 'commander';
import { quorumSize } from '../../shared/ledger/quorum.ts';
import { formatOf, printRecord, printRows, type Column } from '../../shared/output.ts';
import type { Site } from '../accounts/types.ts';
import { listFlag, outputOptions, targetOptions, withTarget, type CommonFlags } from './common.ts';

const columns: Column<Site>[] = [
  { header: 'SITE', value: (s) => s.name },
  { header: 'VALIDATORS', value: (s) => s.validators.map((v) => v.id).join(',') },
  { header: 'QUORUM', value: (s) => quorumOf(s), align: 'right' },
  { header: 'ACCOUNTS', value: (s) => s.accounts.join(',') },
  { header: 'REGISTERED', value: (s) => new Date(s.registeredMs).toISOString() },
];

const quorumOf = (s: Site): number => quorumSize(s.validators.length);

function printSite(s: Site, flags: CommonFlags): void {
  const format = formatOf(flags);
  if (format === 'json') return printRecord({ ...s, quorum: quorumOf(s) }, format);
  printRecord(
    {
      site: s.name,
      validators: s.validators.map((v) => `${v.id} ${v.publicKey.slice(0, 16)}…`).join(', '),
      quorum: `${quorumOf(s)} of ${s.validators.length}`,
      accounts: s.accounts.join(', '),
      registered: new Date(s.registeredMs).toISOString(),
    },
    format,
  );
}

export function registerSites(program: Command): void {
  const sites = program.command('sites').description("edge sites: the ledger keys their gateways' migrations are verified against");

  outputOptions(targetOptions(sites.command('register').argument('<site>', 'the site name (agent init --site)')))
    .description("register (or replace) a site's validator keys; its accounts' migrations must then carry quorum-certified blocks")
    .requiredOption('--validators <file>', "the site ledger's validators.json (a gateway's STATE/edge/ledger/validators.json)")
    .option('--accounts <names>', 'comma-separated accounts bound to the site (default: the validator ids, i.e. the gateways)')
    .action(async (site: string, o: CommonFlags & { validators: string; accounts?: string }) => {
      const { readValidators } = await import('../../shared/ledger/files.ts');
      const registry = await readValidators(o.validators);
      const validators = registry.entries().map((e) => ({ id: e.id, publicKey: Buffer.from(e.publicKey).toString('hex') }));
      printSite(await withTarget(o, (b) => b.registerSite(site, validators, listFlag(o.accounts)), true), o);
    });

  outputOptions(targetOptions(sites.command('delete').argument('<site>', 'site name')))
    .description('forget a site (its accounts migrate without edge proofs again)')
    .action(async (site: string, o: CommonFlags) => {
      const r = await withTarget(o, (b) => b.deleteSite(site));
      printRecord(formatOf(o) === 'json' ? r : { deleted: site }, formatOf(o));
    });

  outputOptions(targetOptions(sites.command('list')), true)
    .description('list the registered sites')
    .action(async (o: CommonFlags) => printRows(await withTarget(o, (b) => b.listSites()), columns, formatOf(o)));
}
