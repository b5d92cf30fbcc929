/**
 * The telemetry messages the agent sends (DESIGN §7, Box Backup heartbeat): the schemas of
 * shared/protocol/telemetry.ts, which the monitor decodes with. The agent seals only its own types.
 *
 *   2baksa/v1/dc/<cluster>/register                  Register       {account, host, agentVersion, pubkey, site}
 *   2baksa/v1/dc/<cluster>/config/<account>          MonitorConfig  (from the monitor: interval, monitoring on/off)
 *   2baksa/v1/<site>/telemetry/<account>/heartbeat   Heartbeat
 *   2baksa/v1/<site>/telemetry/<account>/event       TelemetryEvent {event: backup-start|…|read-error, detail, significant}
 *   2baksa/v1/dc/<cluster>/deregister                Deregister     (orderly shutdown: no silence alert follows)
 */
import type { KeyObject } from 'node:crypto';
import { sealEnvelope, verifyEnvelope } from '../../shared/protocol/index.ts';
import {
  telemetryRegistry,
  type DeregisterBody,
  type HeartbeatBody,
  type MonitorConfigBody,
  type RegisterBody,
  type TelemetryEventBody,
} from '../../shared/protocol/telemetry.ts';

export {
  TELEMETRY_ERRORS_MAX,
  TELEMETRY_EVENTS,
  TELEMETRY_TEXT_CHARS_MAX,
  deregisterSchema,
  heartbeatSchema,
  hostMetricsSchema,
  monitorConfigSchema,
  registerSchema,
  telemetryEventSchema,
  type DeregisterBody,
  type HeartbeatBody,
  type HostMetrics,
  type MonitorConfigBody,
  type RegisterBody,
  type TelemetryEventBody,
  type TelemetryEventName,
  telemetryRegistry,
} from '../../shared/protocol/telemetry.ts';

export interface AgentTelemetryBodies {
  Register: RegisterBody;
  Deregister: DeregisterBody;
  MonitorConfig: MonitorConfigBody;
  Heartbeat: HeartbeatBody;
  TelemetryEvent: TelemetryEventBody;
}
export type AgentTelemetryType = keyof AgentTelemetryBodies;

export function sealAgentTelemetry<K extends AgentTelemetryType>(type: K, body: AgentTelemetryBodies[K], from: string, ts: number, privateKey: KeyObject): Uint8Array {
  return sealEnvelope({ type, from, ts, body } as never, { privateKey }, telemetryRegistry);
}

/** Verifies a MonitorConfig from the monitor; undefined for anything else or anything bad. */
export function openMonitorConfig(bytesIn: Uint8Array, monitorKey: (from: string) => Uint8Array | undefined): MonitorConfigBody | undefined {
  try {
    const opened = verifyEnvelope(bytesIn, { keyOf: monitorKey, registry: telemetryRegistry });
    const m = opened.message as unknown as { type: string; body: MonitorConfigBody };
    return m.type === 'MonitorConfig' ? m.body : undefined;
  } catch {
    return undefined;
  }
}
