/**
 * aggregator/accounts: the account database (bbstoreaccounts-like) as a deterministic state machine
 * over sqlite — accounts with hex numbers and RFC 1034 names, flat groups with administrators and
 * quotas, usage counters over stored objects, deterministic housekeeping, and `admitBackup`.
 */
export * from './types.ts';
export {
  ACCOUNT_NUMBER_MAX,
  accountNameProblem,
  certificateNameOf,
  formatAccountNumber,
  looksLikeNumber,
  normalizeAccountName,
  normalizeGroupName,
  parseAccountNumber,
  validateContact,
} from './names.ts';
export { ACCOUNT_DB_MIGRATIONS, REPLICATED_TABLES, openAccountDb, type AccountDbOptions } from './schema.ts';
export { HEARTBEAT_INTERVAL_S_MAX, HEARTBEAT_INTERVAL_S_MIN, accountCommandSchema, parseAccountCommand } from './command-schema.ts';
export { REFUSAL_CODES, apply, applyOrThrow } from './state-machine.ts';
export { accountJson, defaultHeartbeatIntervalS, nextAccountNumber } from './apply-accounts.ts';
export { planHousekeeping, type HousekeepingPlan } from './housekeeping.ts';
export { requireResidency } from './residency.ts';
export { admitBackup, crossesUp, groupUsageOf, quotaHoldsOf, QuotaHolds, validateLimits, type Admission, type QuotaHold, type UnrecordedBytes } from './quota.ts';
export {
  accountNotFound,
  checkUsage,
  findAccount,
  findAccountByName,
  findGroup,
  groupNotFound,
  groupStats,
  groupsOf,
  housekeepingOf,
  listAccounts,
  listGroupStats,
  membersOf,
  objectsOf,
  resolveAccount,
  resolveGroup,
  statsOf,
  type GroupStats,
  type HousekeepingRecord,
  type UsageCheck,
} from './queries.ts';
export { dumpState, stateDigest } from './digest.ts';
export { AccountOps, type AccountInfo, type AccountMonitorView, type AccountOpsOptions, type AccountView, type CreateAccountInput, type GroupPatch } from './ops.ts';
