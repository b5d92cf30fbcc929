/**
 * A canonical dump of the replicated tables and its SHA-256 digest, for PBFT checkpoints and for the
 * test that two replicas fed the same command log end identical. Rows are dumped in primary-key
 * order, one JSON array per row, so the text (and the digest) depends only on the contents.
 */
import { createHash } from 'node:crypto';
import type { Database } from '../../shared/db/index.ts';
import { REPLICATED_TABLES } from './schema.ts';

const ORDER: Record<(typeof REPLICATED_TABLES)[number], string> = {
  meta: 'key',
  accounts: 'number',
  groups: 'name',
  group_members: 'group_name, account',
  objects: 'account, object_id',
  housekeeping: 'id',
  deletions: 'account, object_id, seq',
  sites: 'name',
  site_accounts: 'account',
};

export async function dumpState(db: Database): Promise<string> {
  const lines: string[] = [];
  for (const table of REPLICATED_TABLES) {
    lines.push(`# ${table}`);
    const rows = await db.all<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY ${ORDER[table]}`);
    for (const row of rows) lines.push(JSON.stringify(Object.keys(row).sort().map((k) => [k, row[k]])));
  }
  return lines.join('\n') + '\n';
}

/** Hex SHA-256 of `dumpState`. */
export async function stateDigest(db: Database): Promise<string> {
  return createHash('sha256').update(await dumpState(db)).digest('hex');
}
