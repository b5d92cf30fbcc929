/**
 * MQTT sensor capture: subscribes to the configured topic filters on the broker and appends each message
 * as one JSON line `{"ts":ms,"topic":…,"payload":utf8}` (or `"payload_b64"` when it is not UTF-8 text) to a
 * rolling log per topic filter under the capture directory, which is then backed up like any log.
 *
 * Nothing the broker let go of is lost to a crash of the agent: the session is persistent (clean: false)
 * at QoS 1, and a message is acknowledged (PUBACK) only once its line is written to the log, so a
 * message the agent had not written when it died is delivered again when it reconnects. mqtt.js sends
 * the PUBACK when `handleMessage` calls back, which is where the write is awaited; messages are taken
 * one at a time, in order. A write that fails is not acknowledged: the link is dropped and the broker
 * delivers the message again on the reconnect. Lines reach the disk (fdatasync) within SYNC_INTERVAL_MS,
 * and at every rotation.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from '../../shared/log.ts';
import { RotatingLog, type RotationPolicy } from './rotating-log.ts';

export interface CaptureOptions extends RotationPolicy {
  broker: string;
  topics: readonly string[];
  dir: string;
  clientId: string;
  logger: Logger;
  /** Wait between connection attempts (default 5 s). */
  reconnectMs?: number;
  /** Connection options for the broker: the gateway's certificate and CA for mqtts (`tlsClientOptions`). */
  connection?: IClientOptions;
}

/** A directory/file prefix for a topic filter: `sensors/+/temp` → `sensors_+_temp`. */
export function slugOf(filter: string): string {
  const slug = filter.replace(/#/g, 'all').replace(/[^A-Za-z0-9+._-]/g, '_').replace(/^[._]+/, '');
  return slug.slice(0, 100) || 'topic';
}

/** MQTT filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export function captureLine(topic: string, payload: Uint8Array, ms: number): string {
  let text: string | undefined;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    text = undefined;
  }
  return JSON.stringify(text !== undefined ? { ts: ms, topic, payload: text } : { ts: ms, topic, payload_b64: Buffer.from(payload).toString('base64') });
}

/** How often the live logs are made durable (a power cut loses at most this much of what was acknowledged). */
export const SYNC_INTERVAL_MS = 1000;

export class SensorCapture {
  readonly logs: Map<string, RotatingLog>;
  private client: MqttClient | undefined;
  private syncTimer: NodeJS.Timeout | undefined;
  messages = 0;

  constructor(private readonly options: CaptureOptions) {
    this.logs = new Map(options.topics.map((f) => [f, new RotatingLog(`${options.dir}/${slugOf(f)}`, slugOf(f), options)]));
  }

  start(): void {
    const o = this.options;
    const client = mqtt.connect(o.broker, {
      ...o.connection,
      clientId: o.clientId.slice(0, 200),
      reconnectPeriod: o.reconnectMs ?? 5_000,
      clean: false,
      // mqtt.js gives up after a refused CONNECT (a broker not ready, an ACL loading): capture keeps trying.
      reconnectOnConnackError: true,
    });
    this.client = client;
    client.on('connect', () => {
      client.subscribe([...o.topics], { qos: 1 }, (error) => {
        if (error) o.logger.warn({ err: error.message }, 'capture subscribe failed');
      });
    });
    // The PUBACK of a QoS 1 message goes out when this calls back: after its line is written.
    client.handleMessage = (packet, done) => {
      const filter = o.topics.find((f) => topicMatches(f, packet.topic));
      const log = filter === undefined ? undefined : this.logs.get(filter);
      if (!log) return done();
      log.append(captureLine(packet.topic, packet.payload as Uint8Array, Date.now())).then(
        () => {
          this.messages++;
          done();
        },
        (error: Error) => {
          o.logger.error({ err: error.message, topic: packet.topic }, 'capture write failed: the message is not acknowledged, and comes again after a reconnect');
          client.stream?.destroy();
          done(error);
        },
      );
    };
    client.on('error', (error) => o.logger.warn({ err: error.message }, 'capture connection error'));
    this.syncTimer = setInterval(() => {
      for (const log of this.logs.values()) log.sync().catch((error: Error) => o.logger.error({ err: error.message }, 'capture sync failed'));
    }, SYNC_INTERVAL_MS);
    this.syncTimer.unref();
  }

  /** Closes every live file (before a snapshot, so the backup sees closed files). */
  async rotateAll(): Promise<void> {
    await Promise.all([...this.logs.values()].map((l) => l.rotate()));
  }

  async stop(): Promise<void> {
    clearInterval(this.syncTimer);
    await this.client?.endAsync().catch(() => undefined);
    await Promise.all([...this.logs.values()].map((l) => l.close()));
  }
}
