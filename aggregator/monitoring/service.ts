/**
 * The monitor's thin shell: an mqtt.js client on each of the cluster's MQTT endpoints feeds `HeartbeatIngest`, one
 * timer drives the tracker (set to the next deadline, at most `tickIntervalMsMax` away), another flushes
 * the batched heartbeat store, and the actions come out as MQTT publishes (MonitorConfig replies, alerts)
 * and `AlertDispatcher.raise` calls (hook, alert topic, log).
 *
 * Messages are collected as they arrive, up to `inboxItemsMax` or until the event loop's next check
 * phase (setImmediate), and handed to the ingest as one batch: their signatures are verified together
 * on the VerifyPool's worker threads while the main thread decodes the next batch, and they are admitted
 * in arrival order.
 *
 * Subscriptions: every site's heartbeats and events, and this cluster's register/deregister channels,
 * on every endpoint (`mqttUrl`: one URL, or several separated by commas). An agent heartbeats through
 * one endpoint at a time and moves to another when its own goes away, so each heartbeat arrives once.
 * Silence is judged while at least one endpoint is heard; losing one of several is a moment of
 * deafness (the tracker's `listening` hold): the gateways that used it get a full window to come back
 * through another before any of them counts as silent. Configs and alerts go out on every endpoint
 * that is up.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Registry } from 'prom-client';
import type { SigningKeyPair } from '../../shared/crypto/sign.ts';
import { VerifyPool, defaultVerifyPoolSize, type BatchVerifier } from '../../shared/crypto/verify-pool.ts';
import type { Database } from '../../shared/db/index.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { within } from '../../shared/within.ts';
import { filters, topics } from '../../shared/protocol/index.ts';
import { HeartbeatIngest, type IncomingMessage, type IngestAction, type IngestOptions } from './ingest.ts';
import { sealTelemetry } from './messages.ts';
import { monitorMetrics, type MonitorMetrics } from './metrics.ts';
import { AlertDispatcher, defaultNotifyOptions, type Alert, type AlertRequest } from './notify.ts';

export interface MonitorServiceOptions {
  db: Database;
  /** The endpoint's URL, or several endpoints' separated by commas. */
  mqttUrl: string;
  mqttOptions?: IClientOptions;
  cluster: string;
  nodeId: string;
  /** Signs MonitorConfig replies and alerts. */
  signer: SigningKeyPair;
  adminContact: string;
  hookPath?: string;
  hookTimeoutMs?: number;
  liveNodes?: () => readonly string[];
  servers?: Record<string, string[]>;
  silenceFactor?: number;
  defaultSite?: string;
  flushIntervalMs?: number;
  tickIntervalMsMax?: number;
  accountRefreshMs?: number;
  /** Messages handed to the ingest as one batch at most. */
  inboxItemsMax?: number;
  /** Signature checks: a shared verifier (not closed by the service), else a VerifyPool of `verifyWorkers`. */
  verifier?: BatchVerifier;
  /** Worker threads of the service's own VerifyPool; 0 verifies on the main thread. */
  verifyWorkers?: number;
  registry?: Registry;
  logger?: Logger;
  now?: () => number;
  onAlert?: (alert: Alert) => void;
  /** Resolve `start` only once subscribed (default); false: start at once and connect in the background. */
  waitForBroker?: boolean;
}

/** How long a config or alert publish is waited for on one endpoint. */
const PUBLISH_WAIT_MS = 10_000;
/** How long stopping waits for an endpoint to take its last messages. */
const END_WAIT_MS = 2_000;

export const defaultMonitorServiceOptions = {
  flushIntervalMs: 250,
  tickIntervalMsMax: 1_000,
  accountRefreshMs: 5_000,
  inboxItemsMax: 512,
} as const;

export class MonitorService {
  readonly ingest: HeartbeatIngest;
  readonly dispatcher: AlertDispatcher;
  /** One client per endpoint, in the order of `mqttUrl`. */
  readonly clients: readonly MqttClient[];
  /** The endpoints subscribed to now. */
  private readonly heard = new Set<MqttClient>();
  private readonly metrics: MonitorMetrics | undefined;
  private readonly logger: Logger;
  private readonly now: () => number;
  private tickTimer: NodeJS.Timeout | undefined;
  private timerDueMs = Infinity;
  private flushTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<unknown> = Promise.resolve();
  private lastRefreshMs = 0;
  private lastParkedMs = 0;
  private stopped = false;
  /** Not hearing heartbeats: before the first subscription, and while the broker connection is down. */
  private deaf = true;
  private heardBefore = false;
  private work = new Set<Promise<unknown>>();
  private readonly alertQueue: AlertRequest[] = [];
  private alertPump: Promise<void> | undefined;
  private inbox: IncomingMessage[] = [];
  private inboxScheduled = false;
  /** The pool this service started (and stops); undefined when given a verifier. */
  private readonly ownPool: VerifyPool | undefined;

  private constructor(
    private readonly options: MonitorServiceOptions,
    clients: MqttClient[],
  ) {
    this.clients = clients;
    this.logger = options.logger ?? createLogger('monitor');
    this.now = options.now ?? Date.now;
    this.metrics = options.registry ? monitorMetrics(options.registry) : undefined;
    const ingestOptions: Partial<IngestOptions> & { cluster: string } = { cluster: options.cluster };
    if (options.servers) ingestOptions.servers = options.servers;
    if (options.silenceFactor !== undefined) ingestOptions.silenceFactor = options.silenceFactor;
    if (options.defaultSite) ingestOptions.defaultSite = options.defaultSite;
    this.ownPool = options.verifier ? undefined : new VerifyPool({ size: options.verifyWorkers ?? defaultVerifyPoolSize() });
    this.ingest = new HeartbeatIngest(options.db, ingestOptions, this.metrics, options.verifier ?? this.ownPool);
    this.dispatcher = new AlertDispatcher(options.db, {
      nodeId: options.nodeId,
      liveNodes: options.liveNodes ?? (() => [options.nodeId]),
      adminContact: options.adminContact,
      hookPath: options.hookPath,
      hookTimeoutMs: options.hookTimeoutMs ?? defaultNotifyOptions.hookTimeoutMs,
      hookConcurrencyMax: defaultNotifyOptions.hookConcurrencyMax,
      hookQueueMax: defaultNotifyOptions.hookQueueMax,
      publish: (alert) => this.publishAlert(alert),
      logger: this.logger,
      onAlert: (alert) => {
        this.metrics?.alertsRaised.inc({ event: alert.event });
        options.onAlert?.(alert);
      },
    });
  }

  /** Connects, subscribes, restores the tracker from the database and starts the timers. */
  static async start(options: MonitorServiceOptions): Promise<MonitorService> {
    const urls = options.mqttUrl.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
    const clients = urls.map((url) =>
      mqtt.connect(url, {
        // `<node>:…`: an mqtts endpoint holds a certificate's clients to ids of their own (node/broker.ts).
        clientId: `${options.nodeId}:monitor-${process.pid}`,
        reconnectPeriod: 1000,
        // mqtt.js gives up on a broker that answers CONNECT with a refusal (not authorized, unavailable):
        // the monitor tries again, as after any other failure.
        reconnectOnConnackError: true,
        ...options.mqttOptions,
      }),
    );
    const service = new MonitorService(options, clients);
    try {
      await service.ingest.start();
      // Subscribed again on every connection (a clean session forgets them); an endpoint may come up
      // after us, or restart, so a refused connection is retried, never fatal.
      const subscribed = new Promise<void>((resolve) => {
        for (const [i, client] of clients.entries()) {
          const url = urls[i]!;
          client.on('message', (topic, payload) => service.onMessage(topic, payload));
          const subscribe = () => {
            client
              .subscribeAsync(
                [filters.heartbeats(), filters.events(), topics.dc(options.cluster, 'register'), topics.dc(options.cluster, 'deregister')],
                { qos: 1 },
              )
              .then(() => {
                service.logger.info({ broker: url }, 'monitor subscribed');
                service.heardFrom(client);
                resolve();
              })
              .catch((err: Error) => service.logger.warn({ err: err.message, broker: url }, 'monitor: subscribe failed'));
          };
          client.on('connect', subscribe);
          // The connection may have come up while the ingest was starting.
          if (client.connected) subscribe();
          // A node that is down is tried every second: say so once a minute, or when the error changes.
          let said = { message: '', atMs: 0 };
          client.on('error', (err) => {
            const now = Date.now();
            if (err.message === said.message && now - said.atMs < 60_000) return;
            said = { message: err.message, atMs: now };
            service.logger.warn({ err: err.message, broker: url }, 'monitor: broker connection error');
          });
          client.on('close', () => service.lostFrom(client, url));
        }
      });
      if (options.waitForBroker !== false) await subscribed;
      service.flushTimer = setInterval(() => service.flush(), options.flushIntervalMs ?? defaultMonitorServiceOptions.flushIntervalMs);
      service.refreshTimer = setInterval(() => service.track(service.refresh()), options.accountRefreshMs ?? defaultMonitorServiceOptions.accountRefreshMs);
      service.schedule();
    } catch (err) {
      await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
      await service.ownPool?.close();
      throw err;
    }
    return service;
  }

  private track<T>(p: Promise<T>): void {
    this.work.add(p);
    void p
      .catch((err: unknown) => this.logger.error({ err }, 'monitor: background work failed'))
      .finally(() => this.work.delete(p));
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (this.stopped) return;
    this.inbox.push({ topic, payload, receivedMs: this.now() });
    if (this.inbox.length >= (this.options.inboxItemsMax ?? defaultMonitorServiceOptions.inboxItemsMax)) this.dispatchInbox();
    else if (!this.inboxScheduled) {
      this.inboxScheduled = true;
      setImmediate(() => this.dispatchInbox());
    }
  }

  private dispatchInbox(): void {
    this.inboxScheduled = false;
    if (this.inbox.length === 0) return;
    const batch = this.inbox;
    this.inbox = [];
    this.track(
      this.ingest.handleBatch(batch).then(async ({ actions, errors }) => {
        for (const err of errors) this.logger.error({ err }, 'monitor: handling a message failed');
        // A new account (or a shorter interval) may bring a deadline before the timer: re-aim it.
        const next = this.ingest.tracker.nextDeadlineMs();
        if (next !== undefined && next < this.timerDueMs) this.schedule();
        await this.run([...actions, ...this.ingest.takeConfigPushes()]);
      }),
    );
  }

  /**
   * Alerts go through one pump: while a batch is being recorded, new alerts queue up and go together in
   * the next batch, so a burst (many gateways silent at once) costs a few transactions, not one each.
   */
  private enqueueAlerts(requests: readonly AlertRequest[]): Promise<void> {
    this.alertQueue.push(...requests);
    return this.pumpAlerts();
  }

  private pumpAlerts(): Promise<void> {
    if (this.alertPump) return this.alertPump;
    const loop = async () => {
      while (this.alertQueue.length > 0) {
        const batch = this.alertQueue.splice(0, this.alertQueue.length);
        await this.dispatcher.raiseMany(batch).catch((err: unknown) => this.logger.error({ err }, 'monitor: recording alerts failed'));
      }
    };
    this.alertPump = loop().finally(() => {
      this.alertPump = undefined;
      // Alerts queued between the loop's last check and here start the next round.
      if (this.alertQueue.length > 0) void this.pumpAlerts();
    });
    return this.alertPump;
  }

  private async run(actions: readonly IngestAction[]): Promise<void> {
    const alerts = actions.flatMap((a) => (a.type === 'alert' ? [a.request] : []));
    if (alerts.length > 0) await this.enqueueAlerts(alerts);
    for (const a of actions) {
      if (a.type === 'alert') continue;
      if (a.type === 'publish') {
        const payload = sealTelemetry('MonitorConfig', a.body, this.options.nodeId, this.now(), this.options.signer.privateKey);
        await this.publishEverywhere(a.topic, payload);
      } else if (a.type === 'admitParked') await this.admitParked();
      else await this.refresh();
    }
  }

  private async refresh(): Promise<void> {
    const now = this.now();
    if (now - this.lastRefreshMs < 1000) return;
    this.lastRefreshMs = now;
    await this.ingest.refreshAccounts(now);
    this.schedule();
    await this.run(this.ingest.takeConfigPushes());
  }

  /** Registrations waiting for their account (created through another node, not executed here yet): at most once a second. */
  private async admitParked(): Promise<void> {
    const now = this.now();
    if (now - this.lastParkedMs < 1000) return;
    this.lastParkedMs = now;
    const { actions, errors } = await this.ingest.admitParked();
    for (const err of errors) this.logger.error({ err }, 'monitor: admitting a waiting registration failed');
    await this.run(actions);
  }

  /** One timer: the next deadline, or `tickIntervalMsMax` from now, whichever is sooner. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    const now = this.now();
    const next = this.ingest.tracker.nextDeadlineMs();
    const max = this.options.tickIntervalMsMax ?? defaultMonitorServiceOptions.tickIntervalMsMax;
    const delay = next === undefined || this.deaf ? max : Math.max(0, Math.min(max, next - now));
    this.timerDueMs = now + delay;
    this.tickTimer = setTimeout(() => {
      this.timerDueMs = Infinity;
      if (!this.deaf) this.track(this.run(this.ingest.tick(this.now())));
      this.schedule();
    }, delay);
  }

  /**
   * An endpoint is subscribed. The first of them (after none): heartbeats are heard from now on, and
   * deadlines that passed, or pass within a window, while this node could not hear are held (tracker
   * `listening`): a silence it did not witness is no silence, and heartbeats sent meanwhile are lost to
   * it (a clean session).
   */
  private heardFrom(client: MqttClient): void {
    if (this.stopped) return;
    this.heard.add(client);
    if (!this.deaf) return;
    this.deaf = false;
    this.ingest.listening(this.now());
    if (this.heardBefore) this.logger.info('monitor: hearing heartbeats again; silence is judged from now on');
    this.heardBefore = true;
    this.schedule();
  }

  /**
   * An endpoint's connection is gone. The last one: no silence is judged until one is back. One of
   * several: the gateways that used it move to another, and may lose a heartbeat on the way, so every
   * deadline gets a full window again (the tracker's `listening` hold), as after deafness.
   */
  private lostFrom(client: MqttClient, url: string): void {
    if (!this.heard.delete(client) || this.stopped) return;
    if (this.heard.size === 0) {
      this.deaf = true;
      this.logger.warn({ broker: url }, 'monitor: broker connection lost; no gateway is judged silent until it is back');
      return;
    }
    this.ingest.listening(this.now());
    this.logger.warn({ broker: url, heard: this.heard.size }, 'monitor: lost one endpoint; the gateways on it get a full window to come back through another');
    this.schedule();
  }

  /** Whether this monitor hears heartbeats now (its broker connection is up and subscribed). */
  get listening(): boolean {
    return !this.deaf;
  }

  private flush(): void {
    this.flushing = this.flushing.then(() => this.ingest.store.flush()).catch((err: unknown) => this.logger.error({ err }, 'monitor: flush failed'));
    this.track(this.flushing);
  }

  private async publishAlert(alert: Alert): Promise<void> {
    let topic: string;
    try {
      topic = topics.alert(alert.site ?? this.ingest.options.defaultSite);
    } catch {
      topic = topics.alert(this.ingest.options.defaultSite);
    }
    const body = {
      alertId: alert.alertId,
      event: alert.event,
      account: alert.accountName,
      accountNumber: alert.account,
      atMs: alert.atMs,
      recipients: alert.recipients.slice(0, 64),
      detail: alert.detail.slice(0, 1024),
    };
    const payload = sealTelemetry('Alert', body, this.options.nodeId, this.now(), this.options.signer.privateKey);
    await this.publishEverywhere(topic, payload);
  }

  /**
   * On every endpoint heard now, where the agents are; with none, on all of them (mqtt.js sends it when
   * one is back).
   */
  private async publishEverywhere(topic: string, payload: Uint8Array): Promise<void> {
    const targets = this.heard.size > 0 ? [...this.heard] : this.clients;
    // An endpoint that went away mid-publish acknowledges only once it is back (mqtt.js keeps the
    // message and sends it then): the monitor's work, and its shutdown, do not wait for that.
    await Promise.all(targets.map((c) => within(c.publishAsync(topic, Buffer.from(payload), { qos: 1 }).then(() => true), PUBLISH_WAIT_MS, false)));
  }

  /** Waits for in-flight messages, writes pending state, waits for hooks. */
  async drain(): Promise<void> {
    this.dispatchInbox();
    while (this.work.size > 0 || this.alertPump) {
      await Promise.allSettled([...this.work]);
      if (this.alertPump) await this.alertPump;
    }
    await this.ingest.store.flush();
    await this.dispatcher.idle();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.tickTimer, this.flushTimer, this.refreshTimer]) if (t) clearTimeout(t);
    await this.drain();
    await this.ownPool?.close();
    // A graceful end waits for every unacknowledged publish: not longer than a moment.
    await Promise.all(
      this.clients.map(async (c) => {
        if (!(await within(c.endAsync().then(() => true, () => true), END_WAIT_MS, false))) c.end(true);
      }),
    );
  }
}
