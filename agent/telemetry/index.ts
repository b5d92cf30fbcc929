// Telemetry: the heartbeat and events of DESIGN §7 as signed MessagePack envelopes over MQTT.
export { TelemetryPublisher } from './publisher.ts';
export type { TelemetryOptions } from './publisher.ts';
export { buildHeartbeat, hostMetricsOf } from './heartbeat.ts';
export type { HeartbeatInput, RawMetrics, SignificantError } from './heartbeat.ts';
export { collectHostMetrics } from './metrics.ts';
export {
  TELEMETRY_EVENTS,
  telemetryRegistry,
  heartbeatSchema,
  openMonitorConfig,
  sealAgentTelemetry,
  telemetryEventSchema,
} from './messages.ts';
export type { HeartbeatBody, HostMetrics, TelemetryEventBody, TelemetryEventName, AgentTelemetryBodies, AgentTelemetryType } from './messages.ts';
