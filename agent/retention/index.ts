// Retention: restic-style keep rules (pure), forget and prune.
export { applyRetention, isEmptyPolicy, isoWeek } from './policy.ts';
export type { RetentionPolicy, RetentionResult, RetentionOptions, Dated } from './policy.ts';
export { forgetSnapshots, prune } from './forget.ts';
export type { ForgetResult, PruneResult } from './forget.ts';
