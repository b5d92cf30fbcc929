// Firmware profiles: the typed schema, loading by name or path, and hardware auto-detection.
export { parseProfile, checkProfile, compressionAlgorithms, backupModes, priorityClasses } from './schema.ts';
export type { Profile, RetentionRules, CompressionAlgorithm, BackupMode, PriorityClass } from './schema.ts';
export { loadProfile, builtinProfileNames, profilesDir } from './load.ts';
export { pickProfileName, detectHardware, detectProfileName } from './auto.ts';
export type { Hardware } from './auto.ts';
