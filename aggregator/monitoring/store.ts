/**
 * Heartbeat state and counters in the account database (node-local tables), written in batches.
 *
 * Ingestion only touches memory: each account's pending change is merged (latest values win, counters
 * add up), and `flush` writes all of them in one transaction with multi-row upserts — one statement per
 * `batchRowsMax` accounts instead of one per heartbeat. The counters (heartbeats, bytes synced and
 * restored, errors) also go to a per-day table for billing and audit (Box Backup 3).
 */
import type { Database } from '../../shared/db/index.ts';
import type { HeartbeatBody } from './messages.ts';

export interface HeartbeatStoreOptions {
  /** Accounts per multi-row statement (each row binds ~20 values). */
  batchRowsMax: number;
  /** Pending error records kept before the oldest are dropped (counted, not stored). */
  pendingErrorsMax: number;
}

export const defaultHeartbeatStoreOptions: HeartbeatStoreOptions = { batchRowsMax: 400, pendingErrorsMax: 10_000 };

interface Pending {
  registered: 0 | 1 | null;
  registeredMs: number | null;
  deregisteredMs: number | null;
  lastHeartbeatMs: number | null;
  lastConnectionMs: number | null;
  lastSyncMs: number | null;
  lastSyncDurationMs: number | null;
  backupType: string | null;
  agentVersion: string | null;
  hostId: string | null;
  uptimeS: number | null;
  hostMetrics: string | null;
  alertState: string | null;
  site: string | null;
  heartbeats: number;
  bytesSynced: number;
  bytesRestored: number;
  errors: number;
}

interface Daily {
  account: number;
  day: number;
  heartbeats: number;
  bytesSynced: number;
  bytesRestored: number;
  errors: number;
}

const COLUMNS = [
  'account', 'registered', 'registered_ms', 'deregistered_ms', 'last_heartbeat_ms', 'last_connection_ms', 'last_sync_ms',
  'last_sync_duration_ms', 'last_backup_type', 'agent_version', 'host_id', 'uptime_s', 'host_metrics', 'alert_state', 'site',
  'heartbeats', 'bytes_synced', 'bytes_restored', 'errors',
] as const;

const KEEP = (c: string) => `${c} = COALESCE(excluded.${c}, ${c})`;
const ADD = (c: string) => `${c} = ${c} + excluded.${c}`;
const UPSERT_TAIL = `ON CONFLICT(account) DO UPDATE SET
  registered = COALESCE(excluded.registered, registered),
  registered_ms = COALESCE(excluded.registered_ms, registered_ms),
  deregistered_ms = CASE WHEN excluded.registered = 1 THEN NULL ELSE COALESCE(excluded.deregistered_ms, deregistered_ms) END,
  ${['last_heartbeat_ms', 'last_connection_ms', 'last_sync_ms', 'last_sync_duration_ms', 'last_backup_type', 'agent_version', 'host_id', 'uptime_s', 'host_metrics', 'alert_state', 'site'].map(KEEP).join(',\n  ')},
  ${['heartbeats', 'bytes_synced', 'bytes_restored', 'errors'].map(ADD).join(', ')}`;

const DAY_MS = 86_400_000;

function dayText(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

function empty(): Pending {
  return {
    registered: null, registeredMs: null, deregisteredMs: null, lastHeartbeatMs: null, lastConnectionMs: null, lastSyncMs: null,
    lastSyncDurationMs: null, backupType: null, agentVersion: null, hostId: null, uptimeS: null, hostMetrics: null,
    alertState: null, site: null, heartbeats: 0, bytesSynced: 0, bytesRestored: 0, errors: 0,
  };
}

export class HeartbeatStore {
  readonly options: HeartbeatStoreOptions;
  private pending = new Map<number, Pending>();
  private daily = new Map<string, Daily>();
  private errorRows: [number, number, string, number][] = [];
  /** Error records dropped because too many were pending. */
  droppedErrors = 0;

  constructor(
    private readonly db: Database,
    options: Partial<HeartbeatStoreOptions> = {},
  ) {
    this.options = { ...defaultHeartbeatStoreOptions, ...options };
  }

  /** Accounts with a change waiting for `flush`. */
  get pendingAccounts(): number {
    return this.pending.size;
  }

  private row(account: number): Pending {
    let p = this.pending.get(account);
    if (!p) {
      p = empty();
      this.pending.set(account, p);
    }
    return p;
  }

  private addDaily(account: number, atMs: number, d: Omit<Daily, 'account' | 'day'>): void {
    const day = Math.floor(atMs / DAY_MS);
    const key = `${account}|${day}`;
    const cur = this.daily.get(key);
    if (cur) {
      cur.heartbeats += d.heartbeats;
      cur.bytesSynced += d.bytesSynced;
      cur.bytesRestored += d.bytesRestored;
      cur.errors += d.errors;
    } else this.daily.set(key, { account, day, ...d });
  }

  recordHeartbeat(account: number, atMs: number, hb: HeartbeatBody, site?: string): void {
    const p = this.row(account);
    p.lastHeartbeatMs = atMs;
    if (hb.lastConnectionMs !== undefined) p.lastConnectionMs = hb.lastConnectionMs;
    if (hb.lastSyncMs !== undefined) p.lastSyncMs = hb.lastSyncMs;
    if (hb.lastSyncDurationMs !== undefined) p.lastSyncDurationMs = hb.lastSyncDurationMs;
    p.backupType = hb.backupType;
    p.agentVersion = hb.agentVersion;
    p.hostId = hb.host;
    p.uptimeS = hb.uptimeS;
    if (hb.metrics !== undefined) p.hostMetrics = JSON.stringify(hb.metrics);
    if (site !== undefined) p.site = site;
    p.heartbeats += 1;
    p.bytesSynced += hb.bytesSynced;
    p.bytesRestored += hb.bytesRestored;
    p.errors += hb.errors.length;
    this.addDaily(account, atMs, { heartbeats: 1, bytesSynced: hb.bytesSynced, bytesRestored: hb.bytesRestored, errors: hb.errors.length });
    for (const e of hb.errors) this.recordErrorRow(account, e.atMs, e.message, e.significant);
  }

  recordRegistration(account: number, atMs: number, host: string, agentVersion: string, site?: string): void {
    const p = this.row(account);
    p.registered = 1;
    p.registeredMs = atMs;
    p.deregisteredMs = null;
    p.hostId = host;
    p.agentVersion = agentVersion;
    p.alertState = 'ok';
    if (site !== undefined) p.site = site;
  }

  recordDeregistration(account: number, atMs: number): void {
    const p = this.row(account);
    p.registered = 0;
    p.deregisteredMs = atMs;
  }

  setAlertState(account: number, state: 'ok' | 'silent'): void {
    this.row(account).alertState = state;
  }

  /** An error reported outside a heartbeat (a telemetry event). */
  recordError(account: number, atMs: number, message: string, significant: boolean): void {
    this.row(account).errors += 1;
    this.addDaily(account, atMs, { heartbeats: 0, bytesSynced: 0, bytesRestored: 0, errors: 1 });
    this.recordErrorRow(account, atMs, message, significant);
  }

  private recordErrorRow(account: number, atMs: number, message: string, significant: boolean): void {
    if (this.errorRows.length >= this.options.pendingErrorsMax) {
      this.errorRows.shift();
      this.droppedErrors++;
    }
    this.errorRows.push([account, atMs, message, significant ? 1 : 0]);
  }

  /** Writes every pending change in one transaction; returns the number of accounts written. */
  async flush(): Promise<number> {
    if (this.pending.size === 0 && this.daily.size === 0 && this.errorRows.length === 0) return 0;
    const pending = this.pending;
    const daily = [...this.daily.values()];
    const errors = this.errorRows;
    this.pending = new Map();
    this.daily = new Map();
    this.errorRows = [];
    const rows = [...pending.entries()];
    const n = this.options.batchRowsMax;
    await this.db.transaction(async (db) => {
      for (let i = 0; i < rows.length; i += n) {
        const slice = rows.slice(i, i + n);
        const params: unknown[] = [];
        for (const [account, p] of slice) {
          params.push(
            account, p.registered, p.registeredMs, p.deregisteredMs, p.lastHeartbeatMs, p.lastConnectionMs, p.lastSyncMs,
            p.lastSyncDurationMs, p.backupType, p.agentVersion, p.hostId, p.uptimeS, p.hostMetrics, p.alertState, p.site,
            p.heartbeats, p.bytesSynced, p.bytesRestored, p.errors,
          );
        }
        const values = slice.map(() => `(${COLUMNS.map(() => '?').join(',')})`).join(',');
        await db.run(`INSERT INTO hb_state(${COLUMNS.join(',')}) VALUES ${values} ${UPSERT_TAIL}`, params);
      }
      for (let i = 0; i < daily.length; i += n) {
        const slice = daily.slice(i, i + n);
        const params = slice.flatMap((d) => [d.account, dayText(d.day), d.heartbeats, d.bytesSynced, d.bytesRestored, d.errors]);
        await db.run(
          `INSERT INTO hb_daily(account, day, heartbeats, bytes_synced, bytes_restored, errors) VALUES ${slice.map(() => '(?,?,?,?,?,?)').join(',')}
           ON CONFLICT(account, day) DO UPDATE SET heartbeats = heartbeats + excluded.heartbeats,
             bytes_synced = bytes_synced + excluded.bytes_synced, bytes_restored = bytes_restored + excluded.bytes_restored,
             errors = errors + excluded.errors`,
          params,
        );
      }
      for (let i = 0; i < errors.length; i += n) {
        const slice = errors.slice(i, i + n);
        await db.run(`INSERT INTO hb_errors(account, at_ms, message, significant) VALUES ${slice.map(() => '(?,?,?,?)').join(',')}`, slice.flat());
      }
    });
    return rows.length;
  }
}

/** The pinned agent keys (trust on first use), by node id. */
export interface PinnedKey {
  account: number;
  nodeId: string;
  pubkey: Uint8Array;
}

export async function loadPinnedKeys(db: Database): Promise<PinnedKey[]> {
  const rows = await db.all<{ account: number; node_id: string; pubkey: Buffer }>(
    'SELECT account, node_id, pubkey FROM hb_state WHERE pubkey IS NOT NULL AND node_id IS NOT NULL',
  );
  return rows.map((r) => ({ account: r.account, nodeId: r.node_id, pubkey: new Uint8Array(r.pubkey) }));
}

export async function pinKey(db: Database, key: PinnedKey): Promise<void> {
  await db.run(
    `INSERT INTO hb_state(account, node_id, pubkey) VALUES (?, ?, ?)
     ON CONFLICT(account) DO UPDATE SET node_id = excluded.node_id, pubkey = excluded.pubkey`,
    [key.account, key.nodeId, Buffer.from(key.pubkey)],
  );
}

/** Forgets an account's pinned key, so its next registration pins a new one (a re-installed gateway). */
export async function unpinKey(db: Database, account: number): Promise<boolean> {
  const r = await db.run('UPDATE hb_state SET pubkey = NULL, node_id = NULL WHERE account = ? AND pubkey IS NOT NULL', [account]);
  return r.changes > 0;
}
