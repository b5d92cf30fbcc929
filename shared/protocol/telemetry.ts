/**
 * The telemetry messages between an agent and the aggregator's monitor (DESIGN §7, Box Backup 3), and
 * their wire form: signed MessagePack envelopes (shared/protocol) on the topics of shared/protocol/topics.
 *
 *   agent → 2baksa/v1/dc/<cluster>/register               Register   {account, host, agentVersion, pubkey}
 *   node  → 2baksa/v1/dc/<cluster>/config/<account>       MonitorConfig {monitoring, heartbeatIntervalS, servers, …}
 *   agent → 2baksa/v1/<site>/telemetry/<account>/heartbeat  Heartbeat
 *   agent → 2baksa/v1/<site>/telemetry/<account>/event      TelemetryEvent
 *   agent → 2baksa/v1/dc/<cluster>/deregister             Deregister (orderly shutdown)
 *   node  → 2baksa/v1/<site>/alert                        Alert
 *
 * Both sides import these schemas from here: the agent seals what the monitor opens. The types live
 * in a private registry (built-ins + these), so nothing here changes the default registry.
 */
import type { KeyObject } from 'node:crypto';
import {
  MessageRegistry,
  accountSchema,
  array,
  bool,
  bytes,
  decodeEnvelope,
  decodeUntrusted,
  object,
  oneOf,
  optional,
  sealEnvelope,
  str,
  uint,
  verifyEnvelope,
  type DecodeLimits,
  type Infer,
  type Schema,
} from './index.ts';

export const TELEMETRY_ERRORS_MAX = 32;
export const TELEMETRY_TEXT_CHARS_MAX = 1024;
export const SERVERS_MAX = 64;

const text = str({ max: TELEMETRY_TEXT_CHARS_MAX, forbidden: /[\u0000-\u0008\u000b-\u001f\u007f]/ });
const shortText = str({ min: 1, max: 128, forbidden: /[\u0000-\u001f\u007f]/ });

export const registerSchema = object({
  account: accountSchema,
  host: shortText,
  agentVersion: shortText,
  /** The agent's raw Ed25519 public key: pinned on first registration (trust on first use). */
  pubkey: bytes({ len: 32 }),
  site: optional(shortText),
});
export type RegisterBody = Infer<typeof registerSchema>;

export const deregisterSchema = object({ account: accountSchema, reason: oneOf(['shutdown', 'uninstall'] as const) });
export type DeregisterBody = Infer<typeof deregisterSchema>;

export const monitorConfigSchema = object({
  account: accountSchema,
  accountNumber: uint({ min: 1, max: 0xffff_ffff }),
  monitoring: bool(),
  heartbeatIntervalS: uint({ min: 1, max: 7 * 24 * 3600 }),
  servers: array(shortText, { max: SERVERS_MAX }),
  primaryCluster: optional(shortText),
  secondaryCluster: optional(shortText),
});
export type MonitorConfigBody = Infer<typeof monitorConfigSchema>;

const errorSchema = object({ atMs: uint(), message: text, significant: bool() });

export const hostMetricsSchema = object({
  cpuLoadPct: optional(uint({ max: 100_00 })),
  memUsedBytes: optional(uint()),
  memTotalBytes: optional(uint()),
  diskUsedBytes: optional(uint()),
  diskTotalBytes: optional(uint()),
  /** Tenths of a degree Celsius above -273.2 °C, so it stays an unsigned integer: (°C + 273.2) × 10. */
  temperatureDeciKelvin: optional(uint({ max: 10_000 })),
});
export type HostMetrics = Infer<typeof hostMetricsSchema>;

export const heartbeatSchema = object({
  account: accountSchema,
  host: shortText,
  agentVersion: shortText,
  backupType: oneOf(['lazy', 'snapshot', 'none'] as const),
  uptimeS: uint(),
  lastConnectionMs: optional(uint()),
  lastSyncMs: optional(uint()),
  lastSyncDurationMs: optional(uint()),
  /** Bytes since the previous heartbeat. */
  bytesSynced: uint(),
  bytesRestored: uint(),
  errors: array(errorSchema, { max: TELEMETRY_ERRORS_MAX }),
  metrics: optional(hostMetricsSchema),
});
export type HeartbeatBody = Infer<typeof heartbeatSchema>;

export const TELEMETRY_EVENTS = ['backup-start', 'backup-finish', 'backup-ok', 'backup-error', 'read-error', 'store-full'] as const;
export const telemetryEventSchema = object({
  account: accountSchema,
  event: oneOf(TELEMETRY_EVENTS),
  detail: optional(text),
  significant: bool(),
});
export type TelemetryEventName = (typeof TELEMETRY_EVENTS)[number];
export type TelemetryEventBody = Infer<typeof telemetryEventSchema>;

export const alertSchema = object({
  alertId: str({ min: 32, max: 32 }),
  event: shortText,
  account: accountSchema,
  accountNumber: uint(),
  atMs: uint(),
  recipients: array(str({ max: 255 }), { max: 64 }),
  detail: text,
});
export type AlertBody = Infer<typeof alertSchema>;

export interface TelemetryBodies {
  Register: RegisterBody;
  Deregister: DeregisterBody;
  MonitorConfig: MonitorConfigBody;
  Heartbeat: HeartbeatBody;
  TelemetryEvent: TelemetryEventBody;
  Alert: AlertBody;
}
export type TelemetryType = keyof TelemetryBodies;

const schemas: { [K in TelemetryType]: Schema<TelemetryBodies[K]> } = {
  Register: registerSchema,
  Deregister: deregisterSchema,
  MonitorConfig: monitorConfigSchema,
  Heartbeat: heartbeatSchema,
  TelemetryEvent: telemetryEventSchema,
  Alert: alertSchema,
};

export const telemetryRegistry: MessageRegistry = (() => {
  const r = MessageRegistry.withBuiltins();
  for (const [type, schema] of Object.entries(schemas)) r.register(type, schema as Schema<unknown>);
  return r;
})();

export type TelemetryMessage = {
  [K in TelemetryType]: { type: K; from: string; id: Uint8Array; ts: number; body: TelemetryBodies[K] };
}[TelemetryType];

/** Signs a telemetry message into envelope bytes. */
export function sealTelemetry<K extends TelemetryType>(
  type: K,
  body: TelemetryBodies[K],
  from: string,
  ts: number,
  privateKey: KeyObject,
): Uint8Array {
  return sealEnvelope({ type, from, ts, body } as never, { privateKey }, telemetryRegistry);
}

export interface DecodeTelemetryOptions {
  keyOf(from: string): Uint8Array | undefined;
  limits?: DecodeLimits;
}

/** Decodes and verifies one envelope of a telemetry type; throws ProtocolError (never anything else). */
export function openTelemetry(bytesIn: Uint8Array, options: DecodeTelemetryOptions): TelemetryMessage {
  const opened = verifyEnvelope(bytesIn, { keyOf: options.keyOf, registry: telemetryRegistry, ...(options.limits ? { limits: options.limits } : {}) });
  return opened.message as unknown as TelemetryMessage;
}

/**
 * What a telemetry envelope says of itself, read without verifying it (a broker deciding what a client
 * may publish; the message's readers verify the signature): its type, sender, and the account its body
 * names. Undefined for anything that does not decode as a telemetry message.
 */
export function peekTelemetry(bytesIn: Uint8Array, limits?: DecodeLimits): { type: string; from: string; account: string | undefined } | undefined {
  try {
    const { message } = decodeEnvelope(bytesIn, { registry: telemetryRegistry, ...(limits ? { limits } : {}) });
    const { type, from, body } = message as { type: string; from: string; body: { account?: unknown } };
    return { type, from, account: typeof body.account === 'string' ? body.account : undefined };
  } catch {
    return undefined;
  }
}

/**
 * The public key a Register message claims for its sender, read without verifying anything (the
 * caller then verifies the envelope with it, and pins it on first use). Undefined for anything else.
 */
export function claimedRegisterKey(bytesIn: Uint8Array, limits?: DecodeLimits): { from: string; pubkey: Uint8Array } | undefined {
  try {
    const outer = decodeUntrusted(bytesIn, limits) as { p?: unknown };
    if (!(outer?.p instanceof Uint8Array)) return undefined;
    const m = decodeUntrusted(outer.p, limits) as { type?: unknown; from?: unknown; body?: { pubkey?: unknown } };
    if (m?.type !== 'Register' || typeof m.from !== 'string' || !(m.body?.pubkey instanceof Uint8Array)) return undefined;
    return { from: m.from, pubkey: m.body.pubkey };
  } catch {
    return undefined;
  }
}
