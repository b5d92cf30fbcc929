/**
 * Fault injection for tests that run real processes: BAKSA_FAULTS is JSON
 *   {"readError": "<regex>", "mutate": {"match": "<regex>", "times": N, "append": false}, "killAfterChunks": N, "killAfterCommittedChunks": N,
 *    "killAfterRestoredBytes": N}
 * - readError: reading a matching file fails with EIO (an unreadable file, even as root).
 * - mutate: while a matching file is read, a concurrent writer changes it on the first N attempts: it
 *   overwrites its first bytes in place, or with `append` adds a line at its end (a live log).
 * - killAfterChunks: the process SIGKILLs itself after N new chunks (a crash at a chosen moment).
 * - killAfterCommittedChunks: the same once N new chunks are checkpointed (a crash after a checkpoint,
 *   whatever the machine's load; checked at every file, not only when progress is reported).
 * - killAfterRestoredBytes: a restore SIGKILLs itself once N bytes of chunked files are written (a
 *   crash with a half-written temp in the target).
 * Never set in production; unknown or malformed values are ignored.
 */
export interface Faults {
  readError?: RegExp;
  mutate?: { match: RegExp; times: number; append?: boolean };
  killAfterChunks?: number;
  killAfterCommittedChunks?: number;
  killAfterRestoredBytes?: number;
}

export function faultsFromEnv(env: NodeJS.ProcessEnv = process.env): Faults {
  const text = env.BAKSA_FAULTS;
  if (!text) return {};
  try {
    const raw = JSON.parse(text) as { readError?: string; mutate?: { match?: string; times?: number; append?: boolean }; killAfterChunks?: number; killAfterCommittedChunks?: number; killAfterRestoredBytes?: number };
    const faults: Faults = {};
    if (typeof raw.readError === 'string') faults.readError = new RegExp(raw.readError);
    if (raw.mutate && typeof raw.mutate.match === 'string') faults.mutate = { match: new RegExp(raw.mutate.match), times: raw.mutate.times ?? 1, append: raw.mutate.append === true };
    if (typeof raw.killAfterChunks === 'number') faults.killAfterChunks = raw.killAfterChunks;
    if (typeof raw.killAfterCommittedChunks === 'number') faults.killAfterCommittedChunks = raw.killAfterCommittedChunks;
    if (typeof raw.killAfterRestoredBytes === 'number') faults.killAfterRestoredBytes = raw.killAfterRestoredBytes;
    return faults;
  } catch {
    return {};
  }
}
