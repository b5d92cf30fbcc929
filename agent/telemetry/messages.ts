/**
 * The telemetry messages the agent sends (DESIGN §7, Box Backup heartbeat), as signed MessagePack
 * envelopes of shared/protocol:
 *
 *   2baksa/v1/dc/<cluster>/register                  Register       {account, host, agentVersion, pubkey, site}
 *   2baksa/v1/dc/<cluster>/config/<account>          MonitorConfig  (from the monitor: interval, monitoring on/off)
 *   2baksa/v1/<site>/telemetry/<account>/heartbeat   Heartbeat
 *   2baksa/v1/<site>/telemetry/<account>/event       TelemetryEvent {event: backup-start|…|read-error, detail, significant}
 *   2baksa/v1/dc/<cluster>/deregister                Deregister     (orderly shutdown: no silence alert follows)
 *
 * Wire-compatible with aggregator/monitoring/messages.ts (the monitor that reads them; a contract test
 * decodes our envelopes with its decoder). agent/ may not import aggregator/, so the schemas are
 * repeated here until they move to shared/protocol, where both sides belong.
 */
import type { KeyObject } from 'node:crypto';
import {
  MessageRegistry,
  accountSchema,
  array,
  bool,
  bytes,
  object,
  oneOf,
  optional,
  sealEnvelope,
  str,
  uint,
  verifyEnvelope,
  type Infer,
  type Schema,
} from '../../shared/protocol/index.ts';

export const TELEMETRY_ERRORS_MAX = 32;
export const TELEMETRY_TEXT_CHARS_MAX = 1024;

const text = str({ max: TELEMETRY_TEXT_CHARS_MAX, forbidden: /[\u0000-\u0008\u000b-\u001f\u007f]/ });
const shortText = str({ min: 1, max: 128, forbidden: /[\u0000-\u001f\u007f]/ });

export const registerSchema = object({
  account: accountSchema,
  host: shortText,
  agentVersion: shortText,
  pubkey: bytes({ len: 32 }),
  site: optional(shortText),
});
export const deregisterSchema = object({ account: accountSchema, reason: oneOf(['shutdown', 'uninstall'] as const) });
export const monitorConfigSchema = object({
  account: accountSchema,
  accountNumber: uint({ min: 1, max: 0xffff_ffff }),
  monitoring: bool(),
  heartbeatIntervalS: uint({ min: 1, max: 7 * 24 * 3600 }),
  servers: array(shortText, { max: 64 }),
  primaryCluster: optional(shortText),
  secondaryCluster: optional(shortText),
});
const errorSchema = object({ atMs: uint(), message: text, significant: bool() });
export const hostMetricsSchema = object({
  /** Hundredths of a percent. */
  cpuLoadPct: optional(uint({ max: 100_00 })),
  memUsedBytes: optional(uint()),
  memTotalBytes: optional(uint()),
  diskUsedBytes: optional(uint()),
  diskTotalBytes: optional(uint()),
  /** (°C + 273.2) × 10, so it stays an unsigned integer. */
  temperatureDeciKelvin: optional(uint({ max: 10_000 })),
});
export const heartbeatSchema = object({
  account: accountSchema,
  host: shortText,
  agentVersion: shortText,
  backupType: oneOf(['lazy', 'snapshot', 'none'] as const),
  uptimeS: uint(),
  lastConnectionMs: optional(uint()),
  lastSyncMs: optional(uint()),
  lastSyncDurationMs: optional(uint()),
  bytesSynced: uint(),
  bytesRestored: uint(),
  errors: array(errorSchema, { max: TELEMETRY_ERRORS_MAX }),
  metrics: optional(hostMetricsSchema),
});
export const TELEMETRY_EVENTS = ['backup-start', 'backup-finish', 'backup-ok', 'backup-error', 'read-error', 'store-full'] as const;
export const telemetryEventSchema = object({
  account: accountSchema,
  event: oneOf(TELEMETRY_EVENTS),
  detail: optional(text),
  significant: bool(),
});

export type RegisterBody = Infer<typeof registerSchema>;
export type DeregisterBody = Infer<typeof deregisterSchema>;
export type MonitorConfigBody = Infer<typeof monitorConfigSchema>;
export type HostMetrics = Infer<typeof hostMetricsSchema>;
export type HeartbeatBody = Infer<typeof heartbeatSchema>;
export type TelemetryEventName = (typeof TELEMETRY_EVENTS)[number];
export type TelemetryEventBody = Infer<typeof telemetryEventSchema>;

export interface AgentTelemetryBodies {
  Register: RegisterBody;
  Deregister: DeregisterBody;
  MonitorConfig: MonitorConfigBody;
  Heartbeat: HeartbeatBody;
  TelemetryEvent: TelemetryEventBody;
}
export type AgentTelemetryType = keyof AgentTelemetryBodies;

const schemas: { [K in AgentTelemetryType]: Schema<AgentTelemetryBodies[K]> } = {
  Register: registerSchema,
  Deregister: deregisterSchema,
  MonitorConfig: monitorConfigSchema,
  Heartbeat: heartbeatSchema,
  TelemetryEvent: telemetryEventSchema,
};

/** A private registry (built-ins + telemetry), so the default registry stays untouched. */
export const agentTelemetryRegistry: MessageRegistry = (() => {
  const r = MessageRegistry.withBuiltins();
  for (const [type, schema] of Object.entries(schemas)) r.register(type, schema as Schema<unknown>);
  return r;
})();

export function sealAgentTelemetry<K extends AgentTelemetryType>(type: K, body: AgentTelemetryBodies[K], from: string, ts: number, privateKey: KeyObject): Uint8Array {
  return sealEnvelope({ type, from, ts, body } as never, { privateKey }, agentTelemetryRegistry);
}

/** Verifies a MonitorConfig from the monitor; undefined for anything else or anything bad. */
export function openMonitorConfig(bytesIn: Uint8Array, monitorKey: (from: string) => Uint8Array | undefined): MonitorConfigBody | undefined {
  try {
    const opened = verifyEnvelope(bytesIn, { keyOf: monitorKey, registry: agentTelemetryRegistry });
    const m = opened.message as unknown as { type: string; body: MonitorConfigBody };
    return m.type === 'MonitorConfig' ? m.body : undefined;
  } catch {
    return undefined;
  }
}
