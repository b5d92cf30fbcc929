/**
 * Options of the embedded site broker (`2baksa agent run --broker-listen PORT`). The CLI maps flags and
 * config onto `SiteBrokerOptions`; everything but `site` and `tls` has a default here.
 *
 * `tls` is either the node's TLS material (mqtts with mutual certificates, the default in production) or
 * `false` for plain mqtt on trusted links, where clients log in with username = node id and password =
 * `plainSecret`; `allowAnonymous: true` drops the password (tests only). Plain mode without a secret and
 * without `allowAnonymous` is refused.
 */
import { configError } from '../../shared/errors.ts';
import type { TlsMaterial } from '../../shared/crypto/pki.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { topics } from '../../shared/protocol/topics.ts';

export interface SiteBrokerOptions {
  /** The site this broker serves; every client belongs to it. */
  site: string;
  /** mqtts with mutual TLS 1.3 (our CA), or false for plain mqtt. */
  tls: TlsMaterial | false;
  /** TCP port; 0 picks a free one. */
  port: number;
  host: string;
  /** Plain mode: the password every node presents. */
  plainSecret?: string | undefined;
  /** Plain mode: accept clients without a password (tests only). */
  allowAnonymous: boolean;
  /** An agent certificate's identity → its node id (default: the identity); undefined refuses the agent. */
  nodeOf: (identity: string) => string | undefined;
  /** Accounts whose telemetry topics an agent may use (default: its node id). */
  accountsOf: (nodeId: string) => readonly string[];
  /** Largest remaining length of a packet before authentication (CONNECT and anything queued behind it). */
  connectBytesMax: number;
  /** Largest remaining length of any packet after authentication. */
  packetBytesMax: number;
  /** Bytes queued for a client that stops reading before it is cut off as a slow consumer. */
  outgoingBytesMax: number;
  /** Packets aedes queues per client while its CONNECT is being authenticated (aedes `queueLimit`). */
  connectQueuePacketsMax: number;
  /** Messages aedes delivers at once (aedes `concurrency`). */
  deliveryConcurrency: number;
  /** Time a connection has to complete TLS and send CONNECT. */
  connectTimeoutMs: number;
  connectionsMax: number;
  logger: Logger;
}

export type SiteBrokerInput = Partial<SiteBrokerOptions> & Pick<SiteBrokerOptions, 'site' | 'tls'>;

export const MQTTS_PORT = 8883;
export const MQTT_PORT = 1883;

/** `port` defaults to 8883 with TLS and 1883 without. */
export const defaultSiteBrokerOptions = {
  port: MQTTS_PORT,
  host: '0.0.0.0',
  allowAnonymous: false,
  nodeOf: (identity: string): string | undefined => identity,
  accountsOf: (nodeId: string): readonly string[] => [nodeId],
  connectBytesMax: 64 * 1024,
  packetBytesMax: 8 * 1024 * 1024,
  outgoingBytesMax: 32 * 1024 * 1024,
  connectQueuePacketsMax: 42,
  deliveryConcurrency: 1000,
  connectTimeoutMs: 10_000,
  connectionsMax: 1024,
  logger: silentLogger,
} satisfies Omit<SiteBrokerOptions, 'site' | 'tls'>;

function positiveInt(field: string, value: number, min = 1): void {
  if (!Number.isSafeInteger(value) || value < min) throw configError(`broker.${field}`, `${String(value)} is not a whole number ≥ ${min}`);
}

/** Merges defaults and refuses bad values with the field name. */
export function resolveSiteBrokerOptions(input: SiteBrokerInput): SiteBrokerOptions {
  const port = input.port ?? (input.tls === false ? MQTT_PORT : MQTTS_PORT);
  const o: SiteBrokerOptions = { ...defaultSiteBrokerOptions, ...input, port };
  try {
    topics.ledger(o.site);
  } catch (error) {
    throw configError('broker.site', (error as Error).message);
  }
  if (!Number.isSafeInteger(o.port) || o.port < 0 || o.port > 65535) throw configError('broker.port', `${String(o.port)} is not a TCP port`);
  for (const field of ['connectBytesMax', 'packetBytesMax', 'outgoingBytesMax', 'connectQueuePacketsMax', 'deliveryConcurrency', 'connectTimeoutMs', 'connectionsMax'] as const) {
    positiveInt(field, o[field]);
  }
  if (o.connectBytesMax > o.packetBytesMax) throw configError('broker.connectBytesMax', 'must not exceed packetBytesMax');
  if (o.packetBytesMax > 268_435_455) throw configError('broker.packetBytesMax', 'MQTT cannot carry packets above 256 MiB');
  if (o.tls === false) {
    if (!o.allowAnonymous && (o.plainSecret === undefined || o.plainSecret.length < 16)) {
      throw configError('broker.plainSecret', 'plain mqtt needs a shared secret of at least 16 characters', 'set broker.plainSecret, or use TLS (the default)');
    }
  } else if (typeof o.tls !== 'object' || !o.tls.ca || !o.tls.cert || !o.tls.key) {
    throw configError('broker.tls', 'TLS needs the CA certificate, the certificate and the key', 'issue one with 2baksa pki issue --role agent');
  }
  return o;
}
