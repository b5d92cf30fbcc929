// One backup run (scan → read/chunk → store → manifest → snapshot), its events, the file reader with
// incremental and consistency rules, the state-directory lock, fault injection for tests.
export { runBackup, sourcesOf, checkpointBytesFor } from './run.ts';
export type { BackupOptions, BackupSummary } from './run.ts';
export { emptyCounters } from './events.ts';
export type { BackupCounters, BackupEvent, BackupListener } from './events.ts';
export { backupFile, defaultFileReadOptions, inodeOf, unchanged } from './file-reader.ts';
export type { FileReadOptions, FileResult } from './file-reader.ts';
export { acquireLock, readLock, processAlive, processStartTicks } from '../../shared/process-lock.ts';
export type { HeldLock } from '../../shared/process-lock.ts';
export { openRepo, rollBackStaged } from './open.ts';
export type { OpenedRepo } from './open.ts';
export { faultsFromEnv } from './faults.ts';
export type { Faults } from './faults.ts';
