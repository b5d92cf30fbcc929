/**
 * Quotas of accounts and groups (Box Backup 2: "hard and soft limits, much like client limits").
 *
 * - soft limit crossed: an alert plus aggressive housekeeping of the account, or of every member of the
 *   group (the state machine records those requests when a RecordObject crosses the limit);
 * - hard limit: `admitBackup` refuses new backups with QUOTA_EXCEEDED naming the account or group, its
 *   limit and its usage. The storage path calls it before it accepts a backup.
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/output.ts';
import { formatAccountNumber } from './names.ts';
import { resolveAccount } from './queries.ts';
import type { Account, QuotaEvent } from './types.ts';

/** True when a change from `before` to `after` bytes goes over `limit`. */
export function crossesUp(before: number, after: number, limit: number | null): boolean {
  return limit !== null && before <= limit && after > limit;
}

export function validateLimits(softBytes: number | null, hardBytes: number | null, field = 'limits'): void {
  if (softBytes !== null && hardBytes !== null && softBytes > hardBytes) {
    throw new BaksaError('LIMITS_INVALID', `${field}: the soft limit (${formatBytes(softBytes)}) is above the hard limit (${formatBytes(hardBytes)})`, {
      hint: 'give a soft limit at or below the hard limit',
      exitCode: ExitCode.usage,
      details: { field, softBytes, hardBytes },
    });
  }
}

interface GroupUsage {
  name: string;
  admin: string;
  soft_bytes: number | null;
  hard_bytes: number | null;
  used: number;
}

/** Each group of the account with the sum of its members' usage. */
export async function groupUsageOf(db: Database, account: number): Promise<GroupUsage[]> {
  return db.all<GroupUsage>(
    `SELECT g.name, g.admin, g.soft_bytes, g.hard_bytes,
            (SELECT COALESCE(SUM(a.used_bytes), 0) FROM group_members m2 JOIN accounts a ON a.number = m2.account
              WHERE m2.group_name = g.name) AS used
       FROM groups g JOIN group_members m ON m.group_name = g.name
      WHERE m.account = ? ORDER BY g.name`,
    [account],
  );
}

export interface Admission {
  account: Account;
  /** Soft limits this backup would leave exceeded (warnings; the backup is accepted). */
  softExceeded: QuotaEvent[];
}

function quotaExceeded(scope: 'account' | 'group', name: string, limitBytes: number, usedBytes: number, bytes: number): BaksaError {
  const what = scope === 'group' ? `group "${name}"` : `account ${name}`;
  return new BaksaError(
    'QUOTA_EXCEEDED',
    `backup refused: ${what} is at its hard limit of ${formatBytes(limitBytes)} (${formatBytes(usedBytes)} used, ${formatBytes(bytes)} more asked for)`,
    {
      hint:
        scope === 'group'
          ? `raise the group limit (2baksa groups setlimit ${name} …), remove data, or move the account out of the group`
          : `raise the account limit (2baksa accounts setlimit ${name} …) or remove data`,
      exitCode: ExitCode.data,
      details: { scope, name, [scope]: name, limit: 'hard', limitBytes, usedBytes, requestedBytes: bytes },
    },
  );
}

/**
 * May `account` store `bytes` more? Throws ACCOUNT_DISABLED or QUOTA_EXCEEDED; otherwise returns the
 * soft limits the backup leaves exceeded.
 */
export async function admitBackup(db: Database, ref: string | number, bytes: number): Promise<Admission> {
  const account = await resolveAccount(db, ref);
  if (!account.enabled) {
    throw new BaksaError('ACCOUNT_DISABLED', `backup refused: account ${account.name} (${formatAccountNumber(account.number)}) is disabled`, {
      hint: `enable it with: 2baksa accounts enabled ${account.name} yes`,
      exitCode: ExitCode.data,
      details: { account: account.name },
    });
  }
  const softExceeded: QuotaEvent[] = [];
  const after = account.usedBytes + bytes;
  if (account.hardBytes !== null && after > account.hardBytes) {
    throw quotaExceeded('account', account.name, account.hardBytes, account.usedBytes, bytes);
  }
  if (account.softBytes !== null && after > account.softBytes) {
    softExceeded.push({ scope: 'account', name: account.name, account: account.number, limit: 'soft', limitBytes: account.softBytes, usedBytes: after });
  }
  for (const g of await groupUsageOf(db, account.number)) {
    if (g.hard_bytes !== null && g.used + bytes > g.hard_bytes) throw quotaExceeded('group', g.name, g.hard_bytes, g.used, bytes);
    if (g.soft_bytes !== null && g.used + bytes > g.soft_bytes) {
      softExceeded.push({ scope: 'group', name: g.name, limit: 'soft', limitBytes: g.soft_bytes, usedBytes: g.used + bytes });
    }
  }
  return { account, softExceeded };
}
