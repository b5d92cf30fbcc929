/**
 * Site commands of the state machine: an edge site's validator keys (its ledger's quorum-signing
 * gateways) and the accounts bound to it. A migration from a bound account must prove every chunk it
 * uploads with a block of that site certified by a quorum of these keys (routes-migration.ts).
 * Registering a site again replaces its keys and accounts (a gateway replaced, a key rotated).
 */
import { SignerRegistry } from '../../shared/ledger/quorum.ts';
import { isValidSegment } from '../../shared/protocol/topics.ts';
import { BaksaError } from '../../shared/errors.ts';
import { refuse, type ApplyContext } from './apply-context.ts';
import { findSite } from './queries.ts';
import type { AccountCommand } from './types.ts';

type SiteCmd = Extract<AccountCommand, { type: 'RegisterSite' | 'DeleteSite' }>;

export async function applySiteCommand(ctx: ApplyContext, cmd: SiteCmd): Promise<Record<string, unknown>> {
  const { db } = ctx;
  switch (cmd.type) {
    case 'RegisterSite': {
      if (!isValidSegment(cmd.site)) throw refuse('INVALID_ARGUMENT', `site: "${cmd.site}" is not a valid site name`, 'use the name the gateways were set up with (agent init --site)', { field: 'site' });
      try {
        new SignerRegistry(cmd.validators.map((v) => ({ id: v.id, publicKey: new Uint8Array(Buffer.from(v.publicKey, 'hex')) })));
      } catch (error) {
        if (error instanceof BaksaError) throw refuse('INVALID_ARGUMENT', `validators: ${error.message}`, error.hint ?? 'fix the validator list', { field: 'validators' });
        throw error;
      }
      const accounts = [...new Set(cmd.accounts)].sort();
      for (const account of accounts) {
        const bound = await db.get<{ site: string }>('SELECT site FROM site_accounts WHERE account = ?', [account]);
        if (bound && bound.site !== cmd.site) {
          throw refuse('SITE_ACCOUNT_TAKEN', `account ${account} is bound to site ${bound.site}`, `register it with one site only: 2baksa sites delete ${bound.site}, or leave it out`, { account, site: bound.site });
        }
      }
      await db.run('DELETE FROM site_accounts WHERE site = ?', [cmd.site]);
      await db.run('INSERT INTO sites(name, validators, registered_ms) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET validators = excluded.validators, registered_ms = excluded.registered_ms', [
        cmd.site,
        JSON.stringify([...cmd.validators].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))),
        cmd.atMs,
      ]);
      for (const account of accounts) await db.run('INSERT INTO site_accounts(account, site) VALUES (?, ?)', [account, cmd.site]);
      return { ...(await findSite(db, cmd.site))! };
    }
    case 'DeleteSite': {
      const site = await findSite(db, cmd.site);
      if (!site) throw refuse('SITE_NOT_FOUND', `no site ${cmd.site} is registered`, 'list them with `2baksa sites list`', { site: cmd.site });
      await db.run('DELETE FROM sites WHERE name = ?', [cmd.site]);
      return { deleted: site };
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}
