/**
 * The heartbeat's content (DESIGN §7, Box Backup "heart beat packet"), built by a pure function from what
 * the daemon knows, plus the conversion of systeminformation readings into the wire's integer units.
 */
import type { HeartbeatBody, HostMetrics } from './messages.ts';
import { TELEMETRY_ERRORS_MAX, TELEMETRY_TEXT_CHARS_MAX } from './messages.ts';

export interface SignificantError {
  atMs: number;
  message: string;
}

export interface HeartbeatInput {
  account: string;
  host: string;
  agentVersion: string;
  lastBackupType: 'lazy' | 'snapshot' | undefined;
  startedMs: number;
  nowMs: number;
  lastConnectionMs?: number;
  lastSyncMs?: number;
  lastSyncDurationMs?: number;
  bytesSynced: number;
  bytesRestored: number;
  errors: readonly SignificantError[];
  metrics?: HostMetrics;
}

export function buildHeartbeat(i: HeartbeatInput): HeartbeatBody {
  const body: HeartbeatBody = {
    account: i.account,
    host: i.host.slice(0, 128),
    agentVersion: i.agentVersion,
    backupType: i.lastBackupType ?? 'none',
    uptimeS: Math.max(0, Math.floor((i.nowMs - i.startedMs) / 1000)),
    bytesSynced: Math.max(0, Math.floor(i.bytesSynced)),
    bytesRestored: Math.max(0, Math.floor(i.bytesRestored)),
    errors: i.errors.slice(-TELEMETRY_ERRORS_MAX).map((e) => ({
      atMs: Math.max(0, Math.floor(e.atMs)),
      // The wire refuses control characters: flatten newlines and tabs.
      message: e.message.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, TELEMETRY_TEXT_CHARS_MAX),
      significant: true,
    })),
  };
  if (i.lastConnectionMs !== undefined) body.lastConnectionMs = Math.floor(i.lastConnectionMs);
  if (i.lastSyncMs !== undefined) body.lastSyncMs = Math.floor(i.lastSyncMs);
  if (i.lastSyncDurationMs !== undefined) body.lastSyncDurationMs = Math.floor(i.lastSyncDurationMs);
  if (i.metrics) body.metrics = i.metrics;
  return body;
}

export interface RawMetrics {
  cpuLoadPercent?: number;
  memUsedBytes?: number;
  memTotalBytes?: number;
  diskUsedBytes?: number;
  diskTotalBytes?: number;
  temperatureC?: number | null;
}

const uintOrUndefined = (v: number | undefined | null, max = Number.MAX_SAFE_INTEGER): number | undefined =>
  v === undefined || v === null || !Number.isFinite(v) || v < 0 ? undefined : Math.min(max, Math.round(v));

/** systeminformation readings → wire units (hundredths of %, bytes, deci-kelvin); bad readings are left out. */
export function hostMetricsOf(raw: RawMetrics): HostMetrics {
  const m: HostMetrics = {};
  const cpu = uintOrUndefined(raw.cpuLoadPercent === undefined ? undefined : raw.cpuLoadPercent * 100, 100_00);
  if (cpu !== undefined) m.cpuLoadPct = cpu;
  const mu = uintOrUndefined(raw.memUsedBytes);
  if (mu !== undefined) m.memUsedBytes = mu;
  const mt = uintOrUndefined(raw.memTotalBytes);
  if (mt !== undefined) m.memTotalBytes = mt;
  const du = uintOrUndefined(raw.diskUsedBytes);
  if (du !== undefined) m.diskUsedBytes = du;
  const dt = uintOrUndefined(raw.diskTotalBytes);
  if (dt !== undefined) m.diskTotalBytes = dt;
  // systeminformation reports -1 or null when there is no sensor.
  if (typeof raw.temperatureC === 'number' && raw.temperatureC > -100 && raw.temperatureC < 500) {
    m.temperatureDeciKelvin = Math.round((raw.temperatureC + 273.2) * 10);
  }
  return m;
}
