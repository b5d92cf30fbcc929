/**
 * The firmware profile: one typed schema for every gateway class (firmware-profiles/*.json).
 * A profile is data; `parseProfile` checks it field by field and refuses a wrong field by its name.
 */
import { array, bool, int, object, oneOf, optional, refine, str, withDefault, type Infer } from './validate.ts';

export const compressionAlgorithms = ['none', 'gzip', 'brotli', 'zstd'] as const;
export type CompressionAlgorithm = (typeof compressionAlgorithms)[number];
export const backupModes = ['lazy', 'snapshot'] as const;
export type BackupMode = (typeof backupModes)[number];
/** Migration priority classes, most urgent first: this order is the order snapshots go to the cloud in. */
export const priorityClasses = ['alarm', 'high', 'normal', 'bulk'] as const;
export type PriorityClass = (typeof priorityClasses)[number];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const hhmm = /^([01]\d|2[0-3]):[0-5]\d$/;
/** Five or six cron fields; node-cron validates the details when the daemon starts. */
const cronPattern = /^\s*(\S+\s+){4,5}\S+\s*$/;

const retention = object({
  keepLast: int(-1, 1_000_000),
  keepHourly: int(-1, 1_000_000),
  keepDaily: int(-1, 1_000_000),
  keepWeekly: int(-1, 1_000_000),
  keepMonthly: int(-1, 1_000_000),
  keepYearly: optional(int(-1, 1_000_000)),
});

export const checkProfile = refine(
  object({
    name: str(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a lower-case name (letters, digits, dashes)'),
    description: optional(str()),
    /** Which hardware `--profile auto` gives this profile to. */
    hardware: object({
      arch: array(oneOf(['arm', 'arm64', 'x64', 'ia32'] as const), 8),
      memoryBytesMax: optional(int(64 * MiB, 1024 * GiB)),
    }),
    chunking: refine(
      object({ minBytes: int(4 * KiB, 64 * MiB), avgBytes: int(4 * KiB, 64 * MiB), maxBytes: int(4 * KiB, 64 * MiB) }),
      (c) =>
        c.minBytes >= c.avgBytes
          ? ['minBytes', `must be less than avgBytes (${c.avgBytes})`]
          : c.avgBytes >= c.maxBytes
            ? ['maxBytes', `must be greater than avgBytes (${c.avgBytes})`]
            : undefined,
    ),
    erasure: refine(object({ k: int(1, 64), m: int(0, 64) }), (e) =>
      e.k + e.m > 255 ? ['m', 'k + m must be at most 255'] : undefined,
    ),
    /** Max bytes of chunk data in flight in the backup/restore pipeline (read, compressed, encoded). */
    memoryBudgetBytes: int(1 * MiB, 64 * GiB),
    /** Levels: gzip 0–9 (10 and 11 are taken as 9), brotli 0–11, zstd -7–19 (below 1: zstd's fast modes). */
    compression: refine(object({ algorithm: oneOf(compressionAlgorithms), level: int(-7, 19) }), (c) =>
      c.algorithm === 'zstd' || c.algorithm === 'none' || (c.level >= 0 && c.level <= 11)
        ? undefined
        : ['level', `must be 0 to 11 for ${c.algorithm} (zstd takes -7 to 19)`],
    ),
    /** `cron` drives snapshot mode; lazy mode scans every `scanIntervalS` and needs none. */
    schedule: refine(
      object({
        mode: oneOf(backupModes),
        cron: optional(str(cronPattern, 'a cron expression (5 or 6 fields)')),
        settleS: int(0, 7 * 86_400),
        scanIntervalS: int(1, 86_400),
        /**
         * Lazy mode: a file that never holds still for `settleS` (a live log) is taken anyway once it has
         * waited this long (Box Backup's MaxUploadWait; default 3600).
         */
        maxWaitS: optional(int(0, 30 * 86_400)),
      }),
      (s) => (s.mode === 'snapshot' && s.cron === undefined ? ['cron', 'is missing: snapshot mode backs up on this schedule (e.g. "*/15 * * * *")'] : undefined),
    ),
    heartbeatIntervalS: int(5, 86_400),
    migration: object({
      bandwidthBytesPerS: int(0),
      window: object({ start: str(hhmm, 'a time HH:MM'), end: str(hhmm, 'a time HH:MM') }),
      /** The class of this profile's snapshots: pending snapshots migrate by class, oldest first within one. */
      priority: withDefault(oneOf(priorityClasses), 'normal'),
    }),
    retention,
    writeOnly: optional(bool()),
    /**
     * Worker threads allowed (each costs a thread's memory): a backup seals chunks (compress, encrypt,
     * erasure-code, hash the shards) and a restore opens them, on one thread per core beyond the first
     * (at most 3). The name is older than the sealers: it stays for the profiles already written.
     */
    storeWorker: optional(bool()),
    /**
     * Process settings. For small memory (the daemon restarts itself with them; set them in the service
     * unit for one-shot commands): V8 young-generation size and glibc malloc arenas. For CPU, where memory
     * allows: V8's old-generation growing factor for the daemon, 1 + heapGrowingPercent / 100
     * (shared/heap-growth.ts; 0 or absent: V8's own).
     */
    runtime: optional(object({
      maxSemiSpaceMiB: optional(int(1, 64)),
      mallocArenaMax: optional(int(1, 64)),
      heapGrowingPercent: optional(int(0, 1000)),
    })),
  }),
  (p) =>
    p.memoryBudgetBytes < 2 * p.chunking.maxBytes
      ? ['memoryBudgetBytes', `must be at least twice chunking.maxBytes (${2 * p.chunking.maxBytes})`]
      : p.writeOnly
        ? ['writeOnly', 'write-only mode (chunk keys wrapped to the tenant X25519 key) is not supported by this agent yet']
        : undefined,
);

export type Profile = Infer<typeof checkProfile>;
export type RetentionRules = Profile['retention'];

/** Checks untrusted JSON as a profile; throws CONFIG_INVALID naming the field. */
export function parseProfile(value: unknown, origin = 'profile'): Profile {
  try {
    return checkProfile(value, '');
  } catch (error) {
    if (error instanceof Error) error.message = `${origin}: ${error.message}`;
    throw error;
  }
}
