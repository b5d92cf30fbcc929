/**
 * aggregator/monitoring: heartbeat monitoring and alerts (Box Backup 3, DESIGN §7).
 * A pure deadline tracker, the telemetry messages, the ingestion path with batched DB writes, the
 * alert dispatcher (notify hook, MQTT alert topic, log; one alert per event), and the MQTT shell.
 */
export { HeartbeatTracker, defaultTrackerOptions, type TrackedAccount, type TrackerAction, type TrackerEvent, type TrackerOptions, type TrackerState } from './tracker.ts';
export { alertIdOf, alertOwner, rendezvousOrder, type AlertEvent } from './alert-id.ts';
export {
  TELEMETRY_EVENTS,
  claimedRegisterKey,
  openTelemetry,
  sealTelemetry,
  telemetryRegistry,
  type AlertBody,
  type DeregisterBody,
  type HeartbeatBody,
  type HostMetrics,
  type MonitorConfigBody,
  type RegisterBody,
  type TelemetryBodies,
  type TelemetryEventBody,
  type TelemetryMessage,
  type TelemetryType,
} from './messages.ts';
export { HeartbeatStore, defaultHeartbeatStoreOptions, loadPinnedKeys, pinKey, unpinKey, type HeartbeatStoreOptions, type PinnedKey } from './store.ts';
export { AlertDispatcher, defaultNotifyOptions, recipientsOf, type Alert, type AlertRequest, type NotifyOptions } from './notify.ts';
export { HeartbeatIngest, defaultIngestOptions, monitorConfigOf, type IngestAction, type IngestOptions } from './ingest.ts';
export { monitorMetrics, type MonitorMetrics } from './metrics.ts';
export { MonitorService, defaultMonitorServiceOptions, type MonitorServiceOptions } from './service.ts';
export { quotaAlertRequests, quotaAlerter } from './quota-alerts.ts';
