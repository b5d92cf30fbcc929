/**
 * Data residency (DESIGN §8): an account may list the regions its data may be stored in
 * (`accounts set --regions`). A cluster keeps all of an object's shards on its own nodes, so the check is
 * the cluster's: its nodes' config names the region they are in (`region`, the same on every node), and
 * an upload for an account that lists regions is taken only by a cluster in one of them. A cluster that
 * names no region takes no such account: it cannot say where the data would be. Uploads are refused
 * before anything is stored, and an offer (`migration/need`) already says so.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { Account } from './types.ts';

/** Throws RESIDENCY_VIOLATION unless `account` may be stored by a cluster in `region`. */
export function requireResidency(account: Pick<Account, 'name' | 'regions'>, region: string | undefined, action = 'backup'): void {
  if (account.regions.length === 0 || (region !== undefined && account.regions.includes(region))) return;
  const allowed = account.regions.join(', ');
  throw new BaksaError(
    'RESIDENCY_VIOLATION',
    `${action} refused: account ${account.name} may be stored only in region${account.regions.length > 1 ? 's' : ''} ${allowed}, and ${region === undefined ? 'this cluster names no region' : `this cluster is in region ${region}`}; nothing was stored`,
    {
      hint:
        region === undefined
          ? `send it to a cluster in ${allowed}, or set "region" in every node's node.json if this cluster is in one of them`
          : `send it to a cluster in ${allowed}, or allow ${region} too: 2baksa accounts set ${account.name} --regions ${[...account.regions, region].join(',')}`,
      exitCode: ExitCode.data,
      details: { account: account.name, regions: account.regions, clusterRegion: region ?? null },
    },
  );
}
