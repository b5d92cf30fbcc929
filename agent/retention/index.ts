// Retention: restic-style keep rules (pure), forget and prune.
export { applyRetention, isEmptyPolicy, isoWeek } from './policy.ts';
export type { RetentionPolicy, RetentionResult, RetentionOptions, Dated } from './policy.ts';
export { forgetSnapshots, forgetInCluster, migratedSnapshots, migrationGate, prune, NOT_MIGRATED } from './forget.ts';
export type { ClusterForget, ClusterForgetResult, ForgetOptions, ForgetResult, PruneResult } from './forget.ts';
