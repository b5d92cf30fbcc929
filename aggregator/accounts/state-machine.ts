/**
 * `apply(db, command) → result`: the account database as a deterministic state machine.
 *
 * Each command runs in one transaction (a savepoint when the caller batches several): either all of
 * it lands or nothing does. A refusal (unknown account, name taken, limits inverted, …) is a result
 * value, `{ok: false, error}`, identical on every replica; only failures of this node (disk full, I/O)
 * throw. Numbers and sequence counters come from the `meta` table, never from the clock or chance, so
 * the same command log gives byte-identical replicated tables on every replica (`stateDigest`).
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode, unreachable } from '../../shared/errors.ts';
import { applyAccountCommand } from './apply-accounts.ts';
import { applyGroupCommand } from './apply-groups.ts';
import { applyObjectCommand } from './apply-objects.ts';
import { applySiteCommand } from './apply-sites.ts';
import { parseAccountCommand } from './command-schema.ts';
import type { ApplyContext } from './apply-context.ts';
import type { AccountCommand, ApplyError, ApplyResult, QuotaEvent } from './types.ts';

export { refuse, type ApplyContext } from './apply-context.ts';

/** Codes that mean "this command is refused" (deterministic), as opposed to a failure of this node. */
export const REFUSAL_CODES: ReadonlySet<string> = new Set([
  'INVALID_COMMAND',
  'INVALID_ARGUMENT',
  'LIMITS_INVALID',
  'ACCOUNT_NOT_FOUND',
  'ACCOUNT_EXISTS',
  'ACCOUNT_NUMBER_TAKEN',
  'ACCOUNT_NUMBERS_EXHAUSTED',
  'GROUP_NOT_FOUND',
  'GROUP_EXISTS',
  'ALREADY_MEMBER',
  'NOT_MEMBER',
  'OBJECT_EXISTS',
  'OBJECT_NOT_FOUND',
  'SITE_NOT_FOUND',
  'SITE_ACCOUNT_TAKEN',
]);

async function dispatch(ctx: ApplyContext, cmd: AccountCommand): Promise<Record<string, unknown>> {
  switch (cmd.type) {
    case 'CreateAccount':
    case 'SetAccountEnabled':
    case 'SetAccountLimits':
    case 'SetAccountConfig':
    case 'RenameAccount':
    case 'DeleteAccount':
      return applyAccountCommand(ctx, cmd);
    case 'CreateGroup':
    case 'SetGroup':
    case 'DeleteGroup':
    case 'AddMember':
    case 'RemoveMember':
      return applyGroupCommand(ctx, cmd);
    case 'RecordObject':
    case 'RecordObjects':
    case 'MarkObject':
    case 'Housekeep':
    case 'RecomputeUsage':
      return applyObjectCommand(ctx, cmd);
    case 'RegisterSite':
    case 'DeleteSite':
      return applySiteCommand(ctx, cmd);
    default:
      return unreachable(cmd, 'account command');
  }
}

function toApplyError(e: BaksaError): ApplyError {
  return { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: e.details } : {}) };
}

function isRefusal(e: unknown): e is BaksaError {
  return e instanceof BaksaError && REFUSAL_CODES.has(e.code);
}

/** Applies one command (an untrusted value: its shape is checked first). */
export async function apply(db: Database, command: unknown): Promise<ApplyResult> {
  let cmd: AccountCommand;
  try {
    cmd = parseAccountCommand(command);
  } catch (e) {
    if (isRefusal(e)) return { ok: false, error: toApplyError(e) };
    throw e;
  }
  try {
    return await db.transaction(async () => {
      const ctx: ApplyContext = { db, quotaEvents: [] };
      const value = await dispatch(ctx, cmd);
      return { ok: true as const, value, quotaEvents: ctx.quotaEvents };
    });
  } catch (e) {
    if (isRefusal(e)) return { ok: false, error: toApplyError(e) };
    throw e;
  }
}

/** Applies a command and turns a refusal into a thrown BaksaError (for the CLI and the API). */
export async function applyOrThrow(db: Database, command: AccountCommand): Promise<{ value: Record<string, unknown>; quotaEvents: QuotaEvent[] }> {
  const result = await apply(db, command);
  if (result.ok) return { value: result.value, quotaEvents: result.quotaEvents };
  const exitCode = result.error.code === 'INVALID_ARGUMENT' || result.error.code === 'INVALID_COMMAND' || result.error.code === 'LIMITS_INVALID'
    ? ExitCode.usage
    : ExitCode.data;
  throw new BaksaError(result.error.code, result.error.message, {
    ...(result.error.hint ? { hint: result.error.hint } : {}),
    exitCode,
    ...(result.error.details ? { details: result.error.details } : {}),
  });
}
