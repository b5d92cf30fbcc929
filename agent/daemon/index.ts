// The agent daemon: schedule (node-cron snapshots or lazy runs), capture, telemetry, clean shutdown.
export { runDaemon, startDaemon } from './daemon.ts';
export type { DaemonOptions, RunningDaemon } from './daemon.ts';
export { BackupJob } from './jobs.ts';
export type { JobHooks } from './jobs.ts';
export { HeartbeatCounters } from './counters.ts';
export { Housekeeping, defaultHousekeepingIntervalMs } from './housekeeping.ts';
export { runtimeEnv, rerunWith, RUNTIME_MARK } from './runtime.ts';
