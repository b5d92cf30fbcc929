/**
 * The telemetry shell: one mqtt.js client on the configured broker. On every (re)connect it registers
 * (Register on dc/<cluster>/register) and subscribes to its MonitorConfig; a timer publishes the heartbeat
 * every `heartbeatIntervalS`, independent of backups (so a long backup never delays it); `event` publishes
 * backup-start/finish/ok/error and read-error; `stop` publishes Deregister (an orderly shutdown raises no
 * silence alert) and disconnects. Every payload is a signed MessagePack envelope.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { SigningKeyPair } from '../../shared/crypto/index.ts';
import type { Logger } from '../../shared/log.ts';
import { topics } from '../../shared/protocol/index.ts';
import { within } from '../../shared/within.ts';
import { collectHostMetrics } from './metrics.ts';
import { buildHeartbeat, type HeartbeatInput } from './heartbeat.ts';
import { openMonitorConfig, sealAgentTelemetry, type AgentTelemetryBodies, type AgentTelemetryType, type TelemetryEventName } from './messages.ts';

export interface TelemetryOptions {
  /** One broker URL, or several separated by commas (a cluster's endpoints): tried in turn. */
  broker: string;
  /** Connection options for the broker: the gateway's certificate and CA for mqtts (`tlsClientOptions`). */
  connection?: IClientOptions;
  /** The name of that certificate: the client id is `<name>:telemetry` (default `<nodeId>:telemetry`). */
  clientName?: string;
  site: string;
  account: string;
  /** Envelope sender id (the host name). */
  nodeId: string;
  agentVersion: string;
  cluster?: string;
  signing: SigningKeyPair;
  monitorPublicKey?: Uint8Array;
  heartbeatIntervalS: number;
  /** Path whose file system the disk metrics describe (the state directory). */
  diskPath: string;
  /** What the heartbeat reports; `commit` is called once it was handed to the broker (counters reset). */
  source: () => Promise<{ input: Omit<HeartbeatInput, 'account' | 'host' | 'agentVersion' | 'nowMs' | 'lastConnectionMs' | 'metrics'>; commit: () => Promise<void> }>;
  logger: Logger;
  now?: () => number;
  connectTimeoutMs?: number;
}

/** How long shutdown waits for the Deregister to be acknowledged. */
const DEREGISTER_WAIT_MS = 2000;
/** Wait before connecting again (mqtt.js's reconnect period, or a full turn of several brokers). */
const RECONNECT_MS = 5_000;

/** The brokers of `--broker`: one URL, or several separated by commas. */
export function brokerUrls(broker: string): string[] {
  return broker.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
}

export class TelemetryPublisher {
  private client: MqttClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The next broker's connection, while between two of several. */
  private rotation: NodeJS.Timeout | undefined;
  private stopped = false;
  private beating: Promise<void> | undefined;
  private lastConnectionMs: number | undefined;
  private intervalS: number;
  private monitoring = true;
  /** A monitor config came (the first one is logged, later ones only when they change something). */
  private configApplied = false;
  private sending: Promise<unknown> = Promise.resolve();
  heartbeatsSent = 0;

  constructor(private readonly options: TelemetryOptions) {
    this.intervalS = options.heartbeatIntervalS;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  start(): void {
    this.connect(0);
    this.schedule();
  }

  /**
   * Connects to broker `index` of the list. With one broker mqtt.js reconnects to it by itself; with
   * several (a cluster's endpoints, `--broker URL1,URL2`), a closed connection moves on to the next
   * (at once, and after RECONNECT_MS once every broker was tried): a heartbeat goes through whichever
   * endpoint is up, and the cluster's monitors, subscribed to them all, hear it.
   */
  private connect(index: number): void {
    const o = this.options;
    const urls = brokerUrls(o.broker);
    const url = urls[index % urls.length]!;
    const client = mqtt.connect(url, {
      ...o.connection,
      // "<identity>:…" is how a broker knows the client id is the certificate's own.
      clientId: `${o.clientName ?? o.nodeId}:telemetry`.slice(0, 200),
      connectTimeout: o.connectTimeoutMs ?? 10_000,
      reconnectPeriod: urls.length > 1 ? 0 : RECONNECT_MS,
      // mqtt.js gives up after a refused CONNECT (a site broker refuses a gateway not yet admitted):
      // the heartbeat tries again, as after any other failure.
      reconnectOnConnackError: true,
      clean: true,
    });
    this.client = client;
    client.on('connect', () => {
      this.lastConnectionMs = this.now();
      o.logger.info({ broker: url }, 'telemetry connected');
      if (o.cluster) {
        void this.publish(topics.dc(o.cluster, 'register'), 'Register', {
          account: o.account,
          host: o.nodeId,
          agentVersion: o.agentVersion,
          pubkey: o.signing.publicKey,
          site: o.site,
        });
        if (o.monitorPublicKey) client.subscribe(topics.dc(o.cluster, 'config', o.account), { qos: 1 });
      }
    });
    client.on('message', (_topic, payload) => this.onConfig(payload));
    client.on('error', (error) => o.logger.warn({ err: error.message, broker: url }, 'telemetry connection error'));
    if (urls.length > 1) {
      client.once('close', () => {
        if (this.stopped || this.client !== client) return;
        client.end(true);
        const next = index + 1;
        this.rotation = setTimeout(() => this.connect(next), next % urls.length === 0 ? RECONNECT_MS : 0);
        this.rotation.unref();
      });
    }
  }

  private onConfig(payload: Buffer): void {
    const key = this.options.monitorPublicKey;
    if (!key) return;
    const config = openMonitorConfig(payload, () => key);
    if (!config || config.account !== this.options.account) return;
    // Every monitor of the cluster answers a registration: the same config arrives once per node.
    const changed = !this.configApplied || config.monitoring !== this.monitoring || config.heartbeatIntervalS !== this.intervalS;
    this.configApplied = true;
    this.monitoring = config.monitoring;
    if (config.heartbeatIntervalS !== this.intervalS) {
      this.intervalS = config.heartbeatIntervalS;
      this.schedule();
    }
    if (changed) this.options.logger.info({ intervalS: this.intervalS, monitoring: this.monitoring }, 'monitor config applied');
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      this.beating = this.heartbeat();
    }, this.intervalS * 1000);
    this.timer.unref();
  }

  /** Publishes one heartbeat now (also called by the timer). */
  async heartbeat(): Promise<void> {
    if (!this.monitoring || this.stopped) return;
    const o = this.options;
    const { input, commit } = await o.source();
    const metrics = await collectHostMetrics(o.diskPath);
    // A heartbeat after the Deregister would make the monitor expect more, and alert on the silence.
    if (this.stopped) return;
    const body = buildHeartbeat({
      ...input,
      account: o.account,
      host: o.nodeId,
      agentVersion: o.agentVersion,
      nowMs: this.now(),
      ...(this.lastConnectionMs !== undefined ? { lastConnectionMs: this.lastConnectionMs } : {}),
      metrics,
    });
    if (await this.publish(topics.heartbeat(o.site, o.account), 'Heartbeat', body)) {
      this.heartbeatsSent++;
      await commit().catch((error: Error) => o.logger.warn({ err: error.message }, 'heartbeat counters not reset'));
    }
  }

  event(event: TelemetryEventName, detail: string | undefined, significant: boolean): void {
    const o = this.options;
    void this.publish(topics.event(o.site, o.account), 'TelemetryEvent', {
      account: o.account,
      event,
      significant,
      ...(detail ? { detail: detail.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').slice(0, 1024) } : {}),
    });
  }

  /** Deregisters (orderly shutdown) and disconnects. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.rotation) clearTimeout(this.rotation);
    // A heartbeat published while the broker is away waits in mqtt.js for it to come back: not forever.
    if (this.beating) await within(this.beating.then(() => true, () => true), DEREGISTER_WAIT_MS, false);
    const o = this.options;
    const client = this.client;
    if (!client) return;
    // A broker that refuses a topic (a site broker serves no data-center topics) never acknowledges
    // it, and a client between connections may never end gracefully: shutdown waits for the last
    // publish, the Deregister and the goodbye a moment each, not forever. (The wait holds the process
    // open: with nothing else to do, Node would exit at once with an await unsettled.)
    let acked = await within(this.sending.then(() => true, () => true), DEREGISTER_WAIT_MS, false);
    if (acked && o.cluster && client.connected) {
      acked = await within(this.publish(topics.dc(o.cluster, 'deregister'), 'Deregister', { account: o.account, reason: 'shutdown' }), DEREGISTER_WAIT_MS, false);
    }
    if (!(await within(client.endAsync(!acked).then(() => true, () => true), DEREGISTER_WAIT_MS, false))) client.end(true);
  }

  private async publish<K extends AgentTelemetryType>(topic: string, type: K, body: AgentTelemetryBodies[K]): Promise<boolean> {
    const client = this.client;
    if (!client) return false;
    const o = this.options;
    let payload: Uint8Array;
    try {
      payload = sealAgentTelemetry(type, body, o.nodeId, this.now(), o.signing.privateKey);
    } catch (error) {
      o.logger.error({ err: (error as Error).message, type }, 'telemetry message refused by its schema');
      return false;
    }
    const sent = client
      .publishAsync(topic, Buffer.from(payload), { qos: 1 })
      .then(() => true)
      .catch((error: Error) => {
        o.logger.warn({ err: error.message, topic }, 'telemetry publish failed');
        return false;
      });
    this.sending = sent;
    return sent;
  }
}

