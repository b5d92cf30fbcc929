/**
 * The account database schema (its own sqlite file, `accounts.db`, on every aggregator node).
 *
 * Two kinds of tables share the file:
 * - replicated tables (accounts, groups, members, objects, housekeeping, deletions, meta, sites) change only
 *   through `apply(command)`, identically on every replica; `stateDigest` covers exactly these;
 * - node-local tables (heartbeat state and counters, alerts, volumes, jobs) record what this node saw;
 *   they are for billing, audit and reports, and are not part of the digest.
 * Never edit a shipped migration; append one.
 */
import { Database, migrate } from '../../shared/db/index.ts';

export const REPLICATED_TABLES = ['meta', 'accounts', 'groups', 'group_members', 'objects', 'housekeeping', 'deletions', 'sites', 'site_accounts'] as const;

export const ACCOUNT_DB_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
  CREATE TABLE accounts (
    number INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    enabled INTEGER NOT NULL DEFAULT 1,
    soft_bytes INTEGER,
    hard_bytes INTEGER,
    monitoring INTEGER NOT NULL DEFAULT 1,
    heartbeat_interval_s INTEGER NOT NULL DEFAULT 900,
    primary_cluster TEXT,
    secondary_cluster TEXT,
    regions TEXT NOT NULL DEFAULT '[]',
    created_ms INTEGER NOT NULL,
    used_bytes INTEGER NOT NULL DEFAULT 0,
    object_count INTEGER NOT NULL DEFAULT 0,
    store_marker INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE groups (
    name TEXT PRIMARY KEY,
    admin TEXT NOT NULL,
    soft_bytes INTEGER,
    hard_bytes INTEGER,
    created_ms INTEGER NOT NULL
  );
  CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
    account INTEGER NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,
    added_ms INTEGER NOT NULL,
    PRIMARY KEY (group_name, account)
  );
  CREATE INDEX group_members_account ON group_members(account);
  CREATE TABLE objects (
    account INTEGER NOT NULL REFERENCES accounts(number) ON DELETE CASCADE,
    object_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('current', 'old', 'deleted')),
    stored_ms INTEGER NOT NULL,
    PRIMARY KEY (account, object_id)
  );
  CREATE INDEX objects_seq ON objects(account, seq);
  CREATE TABLE housekeeping (
    id INTEGER PRIMARY KEY,
    account INTEGER NOT NULL,
    aggressive INTEGER NOT NULL,
    reason TEXT NOT NULL,
    requested_ms INTEGER NOT NULL,
    done_ms INTEGER,
    removed_objects INTEGER,
    removed_bytes INTEGER
  );
  CREATE INDEX housekeeping_pending ON housekeeping(account, done_ms);
  CREATE TABLE deletions (
    account INTEGER NOT NULL,
    object_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    deleted_ms INTEGER NOT NULL,
    PRIMARY KEY (account, object_id, seq)
  );

  CREATE TABLE hb_state (
    account INTEGER PRIMARY KEY,
    registered INTEGER,
    registered_ms INTEGER,
    deregistered_ms INTEGER,
    last_heartbeat_ms INTEGER,
    last_connection_ms INTEGER,
    last_sync_ms INTEGER,
    last_sync_duration_ms INTEGER,
    last_backup_type TEXT,
    agent_version TEXT,
    host_id TEXT,
    uptime_s INTEGER,
    heartbeats INTEGER NOT NULL DEFAULT 0,
    bytes_synced INTEGER NOT NULL DEFAULT 0,
    bytes_restored INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    host_metrics TEXT,
    alert_state TEXT,
    site TEXT,
    node_id TEXT,
    pubkey BLOB
  );
  CREATE TABLE hb_daily (
    account INTEGER NOT NULL,
    day TEXT NOT NULL,
    heartbeats INTEGER NOT NULL DEFAULT 0,
    bytes_synced INTEGER NOT NULL DEFAULT 0,
    bytes_restored INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account, day)
  );
  CREATE TABLE hb_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    message TEXT NOT NULL,
    significant INTEGER NOT NULL
  );
  CREATE INDEX hb_errors_account ON hb_errors(account, at_ms);
  CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    account INTEGER NOT NULL,
    event TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    deadline_ms INTEGER,
    recipients TEXT NOT NULL,
    details TEXT NOT NULL,
    sent INTEGER NOT NULL
  );
  CREATE TABLE volumes (
    cluster TEXT NOT NULL,
    node TEXT NOT NULL,
    volume TEXT NOT NULL,
    bytes_used INTEGER NOT NULL,
    bytes_total INTEGER,
    objects INTEGER,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (cluster, node, volume)
  );
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    account INTEGER NOT NULL,
    state TEXT NOT NULL,
    object_id TEXT,
    bytes INTEGER,
    error TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
  );
  `,
  // Where an object's bytes live in the cluster (its erasure-coded layout, JSON), replicated with its record.
  `
  ALTER TABLE objects ADD COLUMN layout TEXT;
  `,
  // Edge sites: the validator keys their ledger blocks are checked against, and the accounts whose
  // migrations must carry such blocks (DESIGN §6).
  `
  CREATE TABLE sites (
    name TEXT PRIMARY KEY,
    validators TEXT NOT NULL,
    registered_ms INTEGER NOT NULL
  );
  CREATE TABLE site_accounts (
    account TEXT PRIMARY KEY,
    site TEXT NOT NULL REFERENCES sites(name) ON DELETE CASCADE
  );
  CREATE INDEX site_accounts_site ON site_accounts(site);
  `,
  // A removed object's layout, kept with its deletion: the object row is gone by the time the storage
  // side frees its shards (housekeeping, a deleted account), and this is where it finds them.
  `
  ALTER TABLE deletions ADD COLUMN layout TEXT;
  `,
];

export interface AccountDbOptions {
  /** fsync every commit (WAL + synchronous=FULL); false for tests and benchmarks. */
  durable?: boolean;
  readonly?: boolean;
}

/** Opens (creating and migrating unless readonly) an account database file. */
export async function openAccountDb(path: string, options: AccountDbOptions = {}): Promise<Database> {
  const db = await Database.open(path, { durable: options.durable ?? true, readonly: options.readonly ?? false });
  try {
    if (!options.readonly) await migrate(db, ACCOUNT_DB_MIGRATIONS);
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}
