// check (structure, --read-data, --repair) and the reachability mark shared with prune.
export { runCheck, checkExitCode } from './check.ts';
export type { CheckOptions, CheckReport, CheckIssue, Severity } from './check.ts';
export { markReachable } from './reachability.ts';
export type { MarkResult } from './reachability.ts';
