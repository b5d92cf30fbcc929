/** shared/db: the sqlite3 wrapper (promises, durable pragmas, serialized transactions) and migrations. */
export { Database, defaultDatabaseOptions, type DatabaseOptions, type RunResult, type SqlParams } from './sqlite.ts';
export { migrate, type MigrateResult } from './migrate.ts';
export { DbErrorCode, mapSqliteError } from './errors.ts';
