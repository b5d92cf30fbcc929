/**
 * Quotas of accounts and groups (Box Backup 2: "hard and soft limits, much like client limits").
 *
 * - soft limit crossed: an alert plus aggressive housekeeping of the account, or of every member of the
 *   group (the state machine records those requests when a RecordObject crosses the limit);
 * - hard limit: `admitBackup` refuses new backups with QUOTA_EXCEEDED naming the account or group, its
 *   limit and its usage. The storage path calls it before it accepts a backup.
 *
 * The recorded usage moves only when a backup's record is applied (through consensus), so a node also
 * counts what it has taken and not yet recorded: uploads in flight and chunks queued for their records.
 * `QuotaHolds` (one per node database) admits an upload and holds its bytes until the caller releases
 * them, admissions one at a time, so parallel uploads cannot each pass a hard limit that they pass
 * together. Uploads through several nodes at once can still pass it by what the others hold unrecorded
 * (their records follow within seconds); one agent migrates through one node.
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

function quotaExceeded(scope: 'account' | 'group', name: string, limitBytes: number, usedBytes: number, bytes: number, action: string): BaksaError {
  const what = scope === 'group' ? `group "${name}"` : `account ${name}`;
  return new BaksaError(
    'QUOTA_EXCEEDED',
    `${action} refused: ${what} is at its hard limit of ${formatBytes(limitBytes)} (${formatBytes(usedBytes)} used, ${formatBytes(bytes)} more asked for)`,
    {
      hint:
        scope === 'group'
          ? `raise the group limit (2baksa groups setlimit ${name} SOFT HARD), remove data, or move the account out of the group`
          : `raise the account limit (2baksa accounts setlimit ${name} SOFT HARD) or remove data`,
      exitCode: ExitCode.unavailable, // as a full disk: no more until space is freed or the limit raised
      details: { scope, name, [scope]: name, limit: 'hard', limitBytes, usedBytes, requestedBytes: bytes },
    },
  );
}

/** Bytes taken for these accounts that their recorded usage does not count yet. */
export type UnrecordedBytes = (accounts: readonly number[]) => Promise<number> | number;

/**
 * May `account` store `bytes` more? Throws ACCOUNT_DISABLED or QUOTA_EXCEEDED; otherwise returns the
 * soft limits the backup leaves exceeded. `unrecorded` counts, on top of the recorded usage, what the
 * node has taken for the account (and for each member of its groups) and not recorded yet.
 */
export async function admitBackup(db: Database, ref: string | number, bytes: number, unrecorded?: UnrecordedBytes, action = 'backup'): Promise<Admission> {
  const account = await resolveAccount(db, ref);
  if (!account.enabled) {
    throw new BaksaError('ACCOUNT_DISABLED', `${action} refused: account ${account.name} (${formatAccountNumber(account.number)}) is disabled`, {
      hint: `enable it with: 2baksa accounts enabled ${account.name} yes`,
      exitCode: ExitCode.data,
      details: { account: account.name },
    });
  }
  const softExceeded: QuotaEvent[] = [];
  const limited = account.hardBytes !== null || account.softBytes !== null;
  const used = account.usedBytes + (unrecorded && limited ? await unrecorded([account.number]) : 0);
  const after = used + bytes;
  if (account.hardBytes !== null && after > account.hardBytes) {
    throw quotaExceeded('account', account.name, account.hardBytes, used, bytes, action);
  }
  if (account.softBytes !== null && after > account.softBytes) {
    softExceeded.push({ scope: 'account', name: account.name, account: account.number, limit: 'soft', limitBytes: account.softBytes, usedBytes: after });
  }
  for (const g of await groupUsageOf(db, account.number)) {
    if (g.hard_bytes === null && g.soft_bytes === null) continue;
    let groupUsed = g.used;
    if (unrecorded) {
      const members = await db.all<{ account: number }>('SELECT account FROM group_members WHERE group_name = ?', [g.name]);
      groupUsed += await unrecorded(members.map((m) => m.account));
    }
    if (g.hard_bytes !== null && groupUsed + bytes > g.hard_bytes) throw quotaExceeded('group', g.name, g.hard_bytes, groupUsed, bytes, action);
    if (g.soft_bytes !== null && groupUsed + bytes > g.soft_bytes) {
      softExceeded.push({ scope: 'group', name: g.name, limit: 'soft', limitBytes: g.soft_bytes, usedBytes: groupUsed + bytes });
    }
  }
  return { account, softExceeded };
}

/** Bytes admitted for an account and not recorded yet; `release` (idempotent) once they count otherwise. */
export interface QuotaHold {
  readonly admission: Admission;
  release(): void;
}

/**
 * One node's admissions: what it has admitted and not recorded, per account, and the other sources of
 * such bytes (the migration queue). Admissions run one at a time, each seeing every hold before it.
 */
export class QuotaHolds {
  private readonly held = new Map<number, number>();
  private readonly sources: UnrecordedBytes[] = [];
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Database) {}

  /** Counts what `source` reports as well (bytes queued for their records, say). */
  countAlso(source: UnrecordedBytes): void {
    if (!this.sources.includes(source)) this.sources.push(source);
  }

  /** Bytes unrecorded for these accounts: holds and every source. */
  async unrecorded(accounts: readonly number[]): Promise<number> {
    let n = 0;
    for (const a of accounts) n += this.held.get(a) ?? 0;
    for (const source of this.sources) n += await source(accounts);
    return n;
  }

  /**
   * Admits `bytes` for the account (admitBackup, counting every hold) and holds them until released;
   * `action` names what a refusal refuses ('backup', 'migration').
   */
  admit(ref: string | number, bytes: number, action = 'backup'): Promise<QuotaHold> {
    const run = this.turn.then(async () => {
      const admission = await admitBackup(this.db, ref, bytes, (accounts) => this.unrecorded(accounts), action);
      const number = admission.account.number;
      this.held.set(number, (this.held.get(number) ?? 0) + bytes);
      let released = false;
      return {
        admission,
        release: () => {
          if (released) return;
          released = true;
          const left = (this.held.get(number) ?? 0) - bytes;
          if (left > 0) this.held.set(number, left);
          else this.held.delete(number);
        },
      };
    });
    this.turn = run.catch(() => undefined);
    return run;
  }
}

const holdsOfDb = new WeakMap<Database, QuotaHolds>();

/** The admissions of the node whose database this is (one per database). */
export function quotaHoldsOf(db: Database): QuotaHolds {
  let holds = holdsOfDb.get(db);
  if (!holds) holdsOfDb.set(db, (holds = new QuotaHolds(db)));
  return holds;
}
