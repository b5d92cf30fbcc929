// Restore (whole snapshot, subtree or file; atomic writes) and compare (bbackupquery-style verify).
export { runRestore, restoreSnapshot, tempBeside, utimesTimeOf } from './restore.ts';
export type { RestoreOptions, RestoreProgress, RestoreSummary, RestorableSnapshot } from './restore.ts';
export { compareTree, isoNs } from './compare.ts';
export type { CompareOptions, CompareResult, Difference } from './compare.ts';
export { normalizeSelector, pathSuggester, selected } from './select.ts';
