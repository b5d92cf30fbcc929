/**
 * MQTT sensor capture: subscribes to the configured topic filters on the broker and appends each message
 * as one JSON line `{"ts":ms,"topic":…,"payload":utf8}` (or `"payload_b64"` when it is not UTF-8 text) to a
 * rolling log per topic filter under the capture directory, which is then backed up like any log.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from '../../shared/log.ts';
import { RotatingLog, type RotationPolicy } from './rotating-log.ts';

export interface CaptureOptions extends RotationPolicy {
  broker: string;
  topics: readonly string[];
  dir: string;
  clientId: string;
  logger: Logger;
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

export class SensorCapture {
  readonly logs: Map<string, RotatingLog>;
  private client: MqttClient | undefined;
  messages = 0;

  constructor(private readonly options: CaptureOptions) {
    this.logs = new Map(options.topics.map((f) => [f, new RotatingLog(`${options.dir}/${slugOf(f)}`, slugOf(f), options)]));
  }

  start(): void {
    const o = this.options;
    const client = mqtt.connect(o.broker, { clientId: o.clientId.slice(0, 200), reconnectPeriod: 5_000, clean: false });
    this.client = client;
    client.on('connect', () => {
      client.subscribe([...o.topics], { qos: 1 }, (error) => {
        if (error) o.logger.warn({ err: error.message }, 'capture subscribe failed');
      });
    });
    client.on('message', (topic, payload) => {
      const filter = o.topics.find((f) => topicMatches(f, topic));
      const log = filter === undefined ? undefined : this.logs.get(filter);
      if (!log) return;
      this.messages++;
      log.append(captureLine(topic, payload, Date.now())).catch((error: Error) => o.logger.error({ err: error.message }, 'capture write failed'));
    });
    client.on('error', (error) => o.logger.warn({ err: error.message }, 'capture connection error'));
  }

  /** Closes every live file (before a snapshot, so the backup sees closed files). */
  async rotateAll(): Promise<void> {
    await Promise.all([...this.logs.values()].map((l) => l.rotate()));
  }

  async stop(): Promise<void> {
    await this.client?.endAsync().catch(() => undefined);
    await Promise.all([...this.logs.values()].map((l) => l.close()));
  }
}
