/**
 * Account commands of the state machine: create, enable/disable, limits, config, rename, delete.
 * Each handler validates against the database state and either changes it or throws a refusal.
 */
import type { Database } from '../../shared/db/index.ts';
import { ACCOUNT_NUMBER_MAX, formatAccountNumber, normalizeAccountName, validateClusterName, validateRegions } from './names.ts';
import { accountNotFound, findAccount, findAccountByName, objectsOf } from './queries.ts';
import { recordDeletion } from './apply-objects.ts';
import { validateLimits } from './quota.ts';
import { counter, refuse, setCounter, watchingLimits, type ApplyContext } from './apply-context.ts';
import type { Account, AccountCommand, AccountConfig } from './types.ts';

export const defaultHeartbeatIntervalS = 900;

type AccountCmd = Extract<
  AccountCommand,
  { type: 'CreateAccount' | 'SetAccountEnabled' | 'SetAccountLimits' | 'SetAccountConfig' | 'RenameAccount' | 'DeleteAccount' }
>;

/**
 * The number an automatic CreateAccount gets: one past the highest number ever used (a high-water mark
 * in `meta`, so a deleted account's number is never handed out again). The CLI reads it before building
 * the command; `apply` derives the same value when the command carries `number: null`.
 */
export async function nextAccountNumber(db: Database): Promise<number> {
  const row = await db.get<{ n: number | null }>('SELECT MAX(number) AS n FROM accounts');
  return Math.max(await counter(db, 'next_account_number'), (row?.n ?? 0) + 1);
}

export function accountJson(a: Account): Account & { numberHex: string } {
  return { ...a, numberHex: formatAccountNumber(a.number) };
}

async function mustFind(db: Database, number: number): Promise<Account> {
  const a = await findAccount(db, number);
  if (!a) throw accountNotFound(number);
  return a;
}

async function checkNameFree(db: Database, name: string, except?: number): Promise<void> {
  const other = await findAccountByName(db, name);
  if (other && other.number !== except) {
    throw refuse('ACCOUNT_EXISTS', `an account named ${name} exists (${formatAccountNumber(other.number)})`, 'choose another name', { name });
  }
}

function checkedConfig(cfg: AccountConfig): AccountConfig {
  const out: AccountConfig = {};
  if (cfg.monitoring !== undefined) out.monitoring = cfg.monitoring;
  if (cfg.heartbeatIntervalS !== undefined) out.heartbeatIntervalS = cfg.heartbeatIntervalS;
  if (cfg.primaryCluster !== undefined) {
    out.primaryCluster = cfg.primaryCluster === null ? null : validateClusterName(cfg.primaryCluster, 'primaryCluster');
  }
  if (cfg.secondaryCluster !== undefined) {
    out.secondaryCluster = cfg.secondaryCluster === null ? null : validateClusterName(cfg.secondaryCluster, 'secondaryCluster');
  }
  if (cfg.regions !== undefined) out.regions = validateRegions(cfg.regions);
  return out;
}

async function create(ctx: ApplyContext, cmd: Extract<AccountCmd, { type: 'CreateAccount' }>): Promise<Record<string, unknown>> {
  const { db } = ctx;
  const name = normalizeAccountName(cmd.name);
  validateLimits(cmd.softBytes, cmd.hardBytes);
  const cfg = checkedConfig(cmd);
  await checkNameFree(db, name);
  let number = cmd.number;
  if (number === null) {
    number = await nextAccountNumber(db);
    if (number > ACCOUNT_NUMBER_MAX) {
      throw refuse('ACCOUNT_NUMBERS_EXHAUSTED', 'no automatic account number is left', 'give the number explicitly with --number');
    }
  } else {
    const taken = await findAccount(db, number);
    if (taken) {
      throw refuse('ACCOUNT_NUMBER_TAKEN', `account number ${formatAccountNumber(number)} is taken by ${taken.name}`, 'choose another number, or leave it out', {
        number,
      });
    }
  }
  await db.run(
    `INSERT INTO accounts(number, name, enabled, soft_bytes, hard_bytes, monitoring, heartbeat_interval_s,
       primary_cluster, secondary_cluster, regions, created_ms) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      number,
      name,
      cmd.softBytes,
      cmd.hardBytes,
      cfg.monitoring === false ? 0 : 1,
      cfg.heartbeatIntervalS ?? defaultHeartbeatIntervalS,
      cfg.primaryCluster ?? null,
      cfg.secondaryCluster ?? null,
      JSON.stringify(cfg.regions ?? []),
      cmd.atMs,
    ],
  );
  const hw = await counter(db, 'next_account_number');
  if (number + 1 > hw) await setCounter(db, 'next_account_number', number + 1);
  return accountJson(await mustFind(db, number));
}

async function setConfig(ctx: ApplyContext, cmd: Extract<AccountCmd, { type: 'SetAccountConfig' }>): Promise<Record<string, unknown>> {
  const a = await mustFind(ctx.db, cmd.account);
  const cfg = checkedConfig(cmd);
  const next = {
    monitoring: cfg.monitoring ?? a.monitoring,
    heartbeatIntervalS: cfg.heartbeatIntervalS ?? a.heartbeatIntervalS,
    primaryCluster: cfg.primaryCluster !== undefined ? cfg.primaryCluster : a.primaryCluster,
    secondaryCluster: cfg.secondaryCluster !== undefined ? cfg.secondaryCluster : a.secondaryCluster,
    regions: cfg.regions ?? a.regions,
  };
  await ctx.db.run(
    `UPDATE accounts SET monitoring = ?, heartbeat_interval_s = ?, primary_cluster = ?, secondary_cluster = ?, regions = ?
      WHERE number = ?`,
    [next.monitoring ? 1 : 0, next.heartbeatIntervalS, next.primaryCluster, next.secondaryCluster, JSON.stringify(next.regions), a.number],
  );
  return accountJson(await mustFind(ctx.db, a.number));
}

export async function applyAccountCommand(ctx: ApplyContext, cmd: AccountCmd): Promise<Record<string, unknown>> {
  const { db } = ctx;
  switch (cmd.type) {
    case 'CreateAccount':
      return create(ctx, cmd);
    case 'SetAccountEnabled': {
      const a = await mustFind(db, cmd.account);
      await db.run('UPDATE accounts SET enabled = ? WHERE number = ?', [cmd.enabled ? 1 : 0, a.number]);
      return accountJson(await mustFind(db, a.number));
    }
    case 'SetAccountLimits': {
      const a = await mustFind(db, cmd.account);
      validateLimits(cmd.softBytes, cmd.hardBytes);
      // Lowering a limit below the usage counts as crossing it (an alert, and housekeeping for soft).
      await watchingLimits(ctx, [a.number], cmd.atMs, () =>
        db.run('UPDATE accounts SET soft_bytes = ?, hard_bytes = ? WHERE number = ?', [cmd.softBytes, cmd.hardBytes, a.number]),
      );
      return accountJson(await mustFind(db, a.number));
    }
    case 'SetAccountConfig':
      return setConfig(ctx, cmd);
    case 'RenameAccount': {
      const a = await mustFind(db, cmd.account);
      const name = normalizeAccountName(cmd.name);
      await checkNameFree(db, name, a.number);
      await db.run('UPDATE accounts SET name = ? WHERE number = ?', [name, a.number]);
      return { ...accountJson(await mustFind(db, a.number)), previousName: a.name };
    }
    case 'DeleteAccount': {
      const a = await mustFind(db, cmd.account);
      const objects = await objectsOf(db, a.number);
      await recordDeletion(db, a.number, undefined, cmd.atMs);
      await db.run('DELETE FROM accounts WHERE number = ?', [a.number]);
      // The storage side deletes these objects' shards; the list is the same on every replica.
      return { deleted: accountJson(a), objectsToDelete: objects.map((o) => o.objectId), bytesToDelete: a.usedBytes };
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}
