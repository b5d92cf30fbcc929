/**
 * Quota events become alerts (Box Backup 2): a soft limit crossed raises `soft-limit` (the state machine
 * has already recorded aggressive housekeeping for the members), a hard limit crossed raises `hard-limit`.
 * They reach the administrator and the account's group administrators like every alert; a group event
 * names the group, and its administrator is among the recipients even when the account that pushed it
 * over has since left the group.
 */
import type { Database } from '../../shared/db/index.ts';
import { formatBytes } from '../../shared/output.ts';
import type { QuotaEvent } from '../accounts/types.ts';
import { findAccount, findGroup } from '../accounts/queries.ts';
import type { AlertDispatcher, AlertRequest } from './notify.ts';

export async function quotaAlertRequests(db: Database, events: readonly QuotaEvent[], atMs: number, account: number | undefined): Promise<AlertRequest[]> {
  const out: AlertRequest[] = [];
  for (const e of events) {
    const number = e.account ?? account;
    if (number === undefined) continue;
    const a = await findAccount(db, number);
    if (!a) continue;
    const extra = e.scope === 'group' ? [(await findGroup(db, e.name))?.admin].filter((x): x is string => x !== undefined) : [];
    const what = e.scope === 'group' ? `group ${e.name}` : `account ${e.name}`;
    out.push({
      event: e.limit === 'soft' ? 'soft-limit' : 'hard-limit',
      account: number,
      accountName: a.name,
      atMs,
      detail: `${what} is over its ${e.limit} limit: ${formatBytes(e.usedBytes)} used of ${formatBytes(e.limitBytes)}${e.limit === 'soft' ? '; aggressive housekeeping requested' : '; new backups are refused'}`,
      recipients: extra,
    });
  }
  return out;
}

/** The `onQuotaEvents` callback for AccountOps / the API server: raises the alerts through `dispatcher`. */
export function quotaAlerter(db: Database, dispatcher: AlertDispatcher) {
  return async (events: QuotaEvent[], atMs: number, account: number | undefined): Promise<void> => {
    const requests = await quotaAlertRequests(db, events, atMs, account);
    if (requests.length > 0) await dispatcher.raiseMany(requests);
  };
}
