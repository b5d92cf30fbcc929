/**
 * What every state-machine handler shares: the context (database inside the command's transaction,
 * collected quota events), refusals, the deterministic counters in `meta`, and the limit watcher that
 * turns "this change pushed usage over a limit" into quota events and housekeeping requests.
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { groupUsageOf } from './quota.ts';
import type { QuotaEvent } from './types.ts';

export function refuse(code: string, message: string, hint: string, details: Record<string, unknown> = {}): BaksaError {
  return new BaksaError(code, message, { hint, exitCode: ExitCode.data, details });
}

/** What a handler gets: the database (inside the command's transaction) and a place for quota events. */
export interface ApplyContext {
  db: Database;
  quotaEvents: QuotaEvent[];
}

/** Counters in `meta`: the next value is max(stored, floor); `bump` stores value + 1. */
export async function counter(db: Database, key: string, floor = 1): Promise<number> {
  const row = await db.get<{ value: number }>('SELECT value FROM meta WHERE key = ?', [key]);
  return Math.max(row?.value ?? floor, floor);
}

export async function setCounter(db: Database, key: string, value: number): Promise<void> {
  await db.run('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value', [key, value]);
}

export async function nextId(db: Database, key: string): Promise<number> {
  const id = await counter(db, key);
  await setCounter(db, key, id + 1);
  return id;
}

/** Which limits of the account and its groups are exceeded: keys like `account:5:soft`, `group:g:hard`. */
async function overLimits(db: Database, account: number): Promise<Map<string, QuotaEvent>> {
  const out = new Map<string, QuotaEvent>();
  const a = await db.get<{ name: string; used_bytes: number; soft_bytes: number | null; hard_bytes: number | null }>(
    'SELECT name, used_bytes, soft_bytes, hard_bytes FROM accounts WHERE number = ?',
    [account],
  );
  if (!a) return out;
  for (const limit of ['soft', 'hard'] as const) {
    const bytes = limit === 'soft' ? a.soft_bytes : a.hard_bytes;
    if (bytes !== null && a.used_bytes > bytes) {
      out.set(`account:${account}:${limit}`, { scope: 'account', name: a.name, account, limit, limitBytes: bytes, usedBytes: a.used_bytes });
    }
  }
  for (const g of await groupUsageOf(db, account)) {
    for (const limit of ['soft', 'hard'] as const) {
      const bytes = limit === 'soft' ? g.soft_bytes : g.hard_bytes;
      if (bytes !== null && g.used > bytes) {
        out.set(`group:${g.name}:${limit}`, { scope: 'group', name: g.name, limit, limitBytes: bytes, usedBytes: g.used });
      }
    }
  }
  return out;
}

/**
 * Runs `change` and reports every limit of `account` (and its groups) that it pushed over. A soft limit
 * crossed records aggressive housekeeping requests: for the account, or for every member of the group.
 */
export async function watchingLimits<T>(
  ctx: ApplyContext,
  accounts: readonly number[],
  atMs: number,
  change: () => Promise<T>,
): Promise<T> {
  const over = async () => {
    const all = new Map<string, QuotaEvent>();
    for (const a of accounts) for (const [k, v] of await overLimits(ctx.db, a)) all.set(k, v);
    return all;
  };
  const before = await over();
  const result = await change();
  const after = await over();
  for (const [key, event] of after) {
    if (before.has(key)) continue;
    ctx.quotaEvents.push(event);
    if (event.limit !== 'soft') continue;
    const targets =
      event.scope === 'account'
        ? [event.account!]
        : (await ctx.db.all<{ account: number }>('SELECT account FROM group_members WHERE group_name = ? ORDER BY account', [event.name])).map(
            (r) => r.account,
          );
    const reason = `soft limit of ${event.scope} ${event.name} crossed`;
    for (const target of targets) {
      const id = await nextId(ctx.db, 'next_housekeeping_id');
      await ctx.db.run('INSERT INTO housekeeping(id, account, aggressive, reason, requested_ms) VALUES (?, ?, 1, ?, ?)', [id, target, reason, atMs]);
    }
  }
  return result;
}

