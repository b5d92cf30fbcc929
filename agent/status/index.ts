// STATE/status.json (last run, counters for the heartbeat) and the `status` view.
export { readStatus, writeStatus, updateStatus, recordRun, recordRestore, emptyStatus } from './record.ts';
export type { RunStatus } from './record.ts';
export { collectStatus, daemonPid } from './collect.ts';
export type { AgentStatus } from './collect.ts';
