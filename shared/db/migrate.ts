/**
 * Schema migrations by `PRAGMA user_version`: migration i (0-based) moves the schema from version i to
 * i+1. Each runs in its own transaction together with the version bump, so a crash leaves the database
 * at a whole version and re-running `migrate` continues where it stopped. Never edit or reorder a
 * shipped migration; append a new one.
 */
import { BaksaError, ExitCode } from '../errors.ts';
import type { Database } from './sqlite.ts';

export interface MigrateResult {
  from: number;
  to: number;
}

export async function migrate(db: Database, migrations: readonly string[]): Promise<MigrateResult> {
  const row = await db.get<{ user_version: number }>('PRAGMA user_version');
  const from = row?.user_version ?? 0;
  if (from > migrations.length) {
    throw new BaksaError('DB_TOO_NEW', `${db.path}: schema version ${from} is newer than this program knows (${migrations.length})`, {
      hint: 'this database was written by a newer 2baksa: upgrade 2baksa, or point it at another state directory',
      exitCode: ExitCode.data,
      details: { path: db.path, version: from, known: migrations.length },
    });
  }
  for (let version = from; version < migrations.length; version++) {
    const sql = migrations[version]!;
    await db.transaction(async (tx) => {
      // Re-read inside the lock: another process may have migrated meanwhile.
      const now = (await tx.get<{ user_version: number }>('PRAGMA user_version'))?.user_version ?? 0;
      if (now !== version) return;
      await tx.exec(sql);
      await tx.exec(`PRAGMA user_version = ${version + 1}`);
    });
  }
  return { from, to: Math.max(from, migrations.length) };
}
