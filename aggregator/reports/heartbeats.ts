/**
 * The heartbeat board: every account's monitoring state, last heartbeat, last sync and lag, from the
 * account database (Box Backup 3: "time/date of last successful sync, duration of last successful sync").
 *
 * States: disabled (account disabled or monitoring off), unregistered (never seen), deregistered (orderly
 * shutdown), silent (no heartbeat for silenceFactor × interval: alerted), late (more than lateFactor ×
 * interval), ok.
 */
import type { Database } from '../../shared/db/index.ts';
import { formatAccountNumber } from '../accounts/names.ts';

export interface BoardOptions {
  lateFactor: number;
  silenceFactor: number;
}

export const defaultBoardOptions: BoardOptions = { lateFactor: 1.25, silenceFactor: 2 };

export type BoardState = 'ok' | 'late' | 'silent' | 'deregistered' | 'unregistered' | 'disabled';

export interface BoardInput {
  enabled: boolean;
  monitoring: boolean;
  registered: boolean | null;
  lastSeenMs: number | null;
  intervalS: number;
}

export function boardState(input: BoardInput, nowMs: number, options: BoardOptions = defaultBoardOptions): BoardState {
  if (!input.enabled || !input.monitoring) return 'disabled';
  if (input.registered === false) return 'deregistered';
  if (input.lastSeenMs === null) return 'unregistered';
  const lagMs = nowMs - input.lastSeenMs;
  if (lagMs >= options.silenceFactor * input.intervalS * 1000) return 'silent';
  if (lagMs > options.lateFactor * input.intervalS * 1000) return 'late';
  return 'ok';
}

export interface BoardRow {
  account: string;
  number: string;
  state: BoardState;
  intervalS: number;
  lastHeartbeat: string | null;
  lagS: number | null;
  lastSync: string | null;
  lastSyncDurationS: number | null;
  lastConnection: string | null;
  heartbeats: number;
  bytesSynced: number;
  bytesRestored: number;
  errors: number;
  agentVersion: string | null;
  host: string | null;
  site: string | null;
}

interface Row {
  number: number;
  name: string;
  enabled: number;
  monitoring: number;
  heartbeat_interval_s: number;
  registered: number | null;
  registered_ms: number | null;
  last_heartbeat_ms: number | null;
  last_connection_ms: number | null;
  last_sync_ms: number | null;
  last_sync_duration_ms: number | null;
  heartbeats: number | null;
  bytes_synced: number | null;
  bytes_restored: number | null;
  errors: number | null;
  agent_version: string | null;
  host_id: string | null;
  site: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export async function heartbeatBoard(db: Database, nowMs: number, options: BoardOptions = defaultBoardOptions): Promise<BoardRow[]> {
  const rows = await db.all<Row>(
    `SELECT a.number, a.name, a.enabled, a.monitoring, a.heartbeat_interval_s, h.registered, h.registered_ms, h.last_heartbeat_ms,
            h.last_connection_ms, h.last_sync_ms, h.last_sync_duration_ms, h.heartbeats, h.bytes_synced, h.bytes_restored, h.errors,
            h.agent_version, h.host_id, h.site
       FROM accounts a LEFT JOIN hb_state h ON h.account = a.number ORDER BY a.number`,
  );
  return rows.map((r) => {
    const lastSeenMs = r.last_heartbeat_ms ?? r.registered_ms;
    return {
      account: r.name,
      number: formatAccountNumber(r.number),
      state: boardState(
        {
          enabled: r.enabled === 1,
          monitoring: r.monitoring === 1,
          registered: r.registered === null ? null : r.registered === 1,
          lastSeenMs,
          intervalS: r.heartbeat_interval_s,
        },
        nowMs,
        options,
      ),
      intervalS: r.heartbeat_interval_s,
      lastHeartbeat: iso(r.last_heartbeat_ms),
      lagS: lastSeenMs === null ? null : Math.max(0, Math.round((nowMs - lastSeenMs) / 1000)),
      lastSync: iso(r.last_sync_ms),
      lastSyncDurationS: r.last_sync_duration_ms === null ? null : r.last_sync_duration_ms / 1000,
      lastConnection: iso(r.last_connection_ms),
      heartbeats: r.heartbeats ?? 0,
      bytesSynced: r.bytes_synced ?? 0,
      bytesRestored: r.bytes_restored ?? 0,
      errors: r.errors ?? 0,
      agentVersion: r.agent_version,
      host: r.host_id,
      site: r.site,
    };
  });
}
