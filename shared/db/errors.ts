/**
 * sqlite error codes become BaksaErrors with stable codes and a hint. Errors that are bugs in our own
 * SQL (SQLITE_ERROR: syntax, no such table, SQLITE_MISUSE, SQLITE_RANGE) stay plain Errors so they crash
 * loudly, with the statement added to the message.
 */
import { BaksaError, ExitCode } from '../errors.ts';

export const DbErrorCode = {
  diskFull: 'DISK_FULL',
  corrupt: 'DB_CORRUPT',
  busy: 'DB_BUSY',
  cantOpen: 'DB_CANTOPEN',
  readonly: 'DB_READONLY',
  io: 'DB_IO',
  constraint: 'DB_CONSTRAINT',
  tooNew: 'DB_TOO_NEW',
} as const;

interface Mapping {
  code: string;
  exitCode: number;
  hint: (path: string) => string;
}

const MAPPINGS: Record<string, Mapping> = {
  SQLITE_FULL: {
    code: DbErrorCode.diskFull,
    exitCode: ExitCode.unavailable,
    hint: (p) => `free space on the disk that holds ${p} and try again`,
  },
  SQLITE_CORRUPT: {
    code: DbErrorCode.corrupt,
    exitCode: ExitCode.data,
    hint: (p) => `the database ${p} is damaged: restore it from a backup or move it away so it is rebuilt`,
  },
  SQLITE_NOTADB: {
    code: DbErrorCode.corrupt,
    exitCode: ExitCode.data,
    hint: (p) => `${p} is not a sqlite database: check the path, or move the file away`,
  },
  SQLITE_BUSY: {
    code: DbErrorCode.busy,
    exitCode: ExitCode.unavailable,
    hint: (p) => `another process holds ${p} locked: stop the other 2baksa process using it, or retry`,
  },
  SQLITE_LOCKED: {
    code: DbErrorCode.busy,
    exitCode: ExitCode.unavailable,
    hint: (p) => `${p} is locked by another statement: retry`,
  },
  SQLITE_CANTOPEN: {
    code: DbErrorCode.cantOpen,
    exitCode: ExitCode.unavailable,
    hint: (p) => `check that the directory of ${p} exists and that this user may write to it`,
  },
  SQLITE_READONLY: {
    code: DbErrorCode.readonly,
    exitCode: ExitCode.unavailable,
    hint: (p) => `${p} is read-only: check file permissions, or open it without readonly`,
  },
  SQLITE_IOERR: {
    code: DbErrorCode.io,
    exitCode: ExitCode.unavailable,
    hint: (p) => `the disk that holds ${p} reported an I/O error: check the disk and the kernel log`,
  },
  SQLITE_PERM: {
    code: DbErrorCode.cantOpen,
    exitCode: ExitCode.unavailable,
    hint: (p) => `this user may not access ${p}: check file permissions`,
  },
  SQLITE_CONSTRAINT: {
    code: DbErrorCode.constraint,
    exitCode: ExitCode.data,
    hint: () => 'the row conflicts with one already stored (unique, foreign key or check constraint)',
  },
};

/** Turns an error from the sqlite3 driver into a BaksaError (operating errors) or a plain Error (bugs). */
export function mapSqliteError(err: unknown, path: string, sql?: string): Error {
  if (err instanceof BaksaError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const sqliteCode = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const mapping = sqliteCode === undefined ? undefined : MAPPINGS[sqliteCode];
  if (mapping === undefined) {
    const plain = new Error(sql === undefined ? message : `${message} (in: ${sql.trim().slice(0, 200)})`, { cause: err });
    if (sqliteCode !== undefined) (plain as Error & { code: string }).code = sqliteCode;
    return plain;
  }
  return new BaksaError(mapping.code, `${path}: ${message}`, {
    hint: mapping.hint(path),
    exitCode: mapping.exitCode,
    details: { path, sqliteCode, ...(sql === undefined ? {} : { sql: sql.trim().slice(0, 200) }) },
    cause: err,
  });
}
