/**
 * The membership shell: binds the pure `MembershipTracker` to one MQTT session per node (Sparkplug style).
 *
 *   start   bdSeq = store.next(); connect with the Last Will {online:false, bdSeq, pubkey} (retained, QoS 1);
 *           subscribe to every node state of the site; publish the birth {online:true, bdSeq, pubkey, …}
 *   reconnect (mqtt.js 'reconnect', before it rebuilds CONNECT)   bdSeq = store.next(); new will
 *   connect (every session)   publish the birth of the current bdSeq
 *   message  verify the envelope (registered key, or the key pinned on first use), feed the tracker,
 *            emit its changes
 *   close({orderly})   orderly: publish {online:false, bdSeq, orderly:true, pubkey}, then DISCONNECT (no will);
 *                      not orderly: drop the socket, so the broker fires the will (tests, crash drills)
 *
 * The retained state is self-healing: when the node sees on its own topic a state older than its current
 * session (a stale will that arrived late and replaced the retained birth), it publishes its birth again,
 * so nodes that subscribe later do not see it dead.
 */
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import { BaksaError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { SigningKeyPair } from '../crypto/sign.ts';
import { filters, parseTopic, topics } from '../protocol/topics.ts';
import type { BdSeqStore } from './bdseq-store.ts';
import { openNodeState, sealNodeState, type NodeCapacity, type NodeStateBody } from './state-message.ts';
import { MembershipTracker, type MemberRecord, type MembershipChange, type MembershipTrackerOptions } from './tracker.ts';

export interface MembershipClientOptions {
  site: string;
  nodeId: string;
  signer: SigningKeyPair;
  /** Opens the MQTT connection, e.g. `(o) => mqtt.connect(url, o)`. */
  connect: (options: IClientOptions) => MqttClient;
  /** Further mqtt.js options (TLS material, username and password, reconnectPeriod, clientId…). */
  mqtt: IClientOptions;
  bdSeq: BdSeqStore;
  /** Registered node keys. Without it, keys are trusted on first use (pinned from births). */
  keyOf?: ((nodeId: string) => Uint8Array | undefined) | undefined;
  /** What the birth announces besides the key. */
  details: () => { capacity?: NodeCapacity; version?: string; validators?: Uint8Array };
  tracker: Partial<MembershipTrackerOptions>;
  /** One tracker tick per interval. */
  tickIntervalMs: number;
  /** Clock for envelope timestamps, ms since the epoch. */
  now: () => number;
  logger: Logger;
}

export type MembershipClientInput = Partial<MembershipClientOptions> &
  Pick<MembershipClientOptions, 'site' | 'nodeId' | 'signer' | 'connect' | 'bdSeq'>;

export const defaultMembershipClientOptions = {
  mqtt: {},
  details: () => ({}),
  tracker: {},
  tickIntervalMs: 1000,
  now: Date.now,
  logger: silentLogger,
} satisfies Partial<MembershipClientOptions>;

export interface MembershipClientStats {
  received: number;
  /** Payloads dropped before the tracker, by code (BAD_SIGNATURE, UNKNOWN_SENDER, SCHEMA, …). */
  refused: Record<string, number>;
  ignoredStale: number;
  ignoredForeignSigner: number;
  births: number;
  /** Births published again because the retained state of our topic was older than our session. */
  reasserted: number;
}

interface MembershipEvents {
  change: [MembershipChange];
  refused: [{ topic: string; code: string; reason: string }];
}

export class MembershipClient extends EventEmitter<MembershipEvents> {
  readonly options: MembershipClientOptions;
  readonly tracker: MembershipTracker;
  private mqttClient: MqttClient | undefined;
  private session = -1;
  /** The session whose birth has been sent. */
  private birthSession = -1;
  private closing = false;
  private ticks = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Ends a `start` still waiting for its first connection (set only while it waits). */
  private abortStart: ((error: Error) => void) | undefined;
  private readonly pinned = new Map<string, Uint8Array>();
  private readonly counters: MembershipClientStats = { received: 0, refused: {}, ignoredStale: 0, ignoredForeignSigner: 0, births: 0, reasserted: 0 };
  private readonly stateTopic: string;

  constructor(input: MembershipClientInput) {
    super();
    this.options = { ...defaultMembershipClientOptions, ...input };
    this.stateTopic = topics.nodeState(this.options.site, this.options.nodeId);
    this.tracker = new MembershipTracker(this.options.tracker);
    this.pinned.set(this.options.nodeId, this.options.signer.publicKey);
  }

  /**
   * Connects, subscribes and publishes the first birth; resolves once the birth is acknowledged. It keeps
   * waiting while the broker is unreachable (mqtt.js retries); it rejects with MEMBERSHIP_REFUSED when the
   * broker refuses the CONNECT (credentials, client id, a will outside this node's topics) or the
   * subscription to the site's node states.
   */
  async start(): Promise<void> {
    if (this.mqttClient) throw new Error('invariant violated: MembershipClient started twice');
    const { options } = this;
    this.session = options.bdSeq.next();
    const client = options.connect({ clean: true, clientId: options.nodeId, ...options.mqtt, will: this.will(this.session) });
    this.mqttClient = client;
    client.on('reconnect', () => {
      if (this.closing) return;
      this.session = options.bdSeq.next();
      client.options.will = this.will(this.session);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.timer = setInterval(() => this.emitAll(this.tracker.tick(++this.ticks)), options.tickIntervalMs);
    this.timer.unref();
    let ready = false;
    await new Promise<void>((resolve, reject) => {
      // `close` before the first connection (a daemon stopped while the broker is down) ends the wait.
      this.abortStart = (error) => {
        this.abortStart = undefined;
        reject(error);
      };
      // refused for good: stop reconnecting; the caller sees the error from start()
      const giveUp = (error: BaksaError) => {
        this.closing = true;
        clearInterval(this.timer);
        client.end(true);
        reject(error);
      };
      client.on('error', (error: Error & { code?: unknown }) => {
        options.logger.warn({ err: error.message, code: error.code }, 'membership MQTT error');
        if (!ready && typeof error.code === 'number' && error.code >= 1 && error.code <= 5) {
          giveUp(new BaksaError('MEMBERSHIP_REFUSED', `the broker refused the connection of ${options.nodeId}: ${error.message}`, {
            hint: 'check the node id, site, credentials and certificate this node uses for the site broker',
            details: { connackCode: error.code },
          }));
        }
      });
      client.on('connect', () => {
        this.onConnect().then(
          () => {
            ready = true;
            this.abortStart = undefined;
            resolve();
          },
          (error: unknown) => {
            if (error instanceof BaksaError && !ready) giveUp(error);
            else options.logger.warn({ err: (error as Error).message }, 'publishing the birth failed; retrying on the next session');
          },
        );
      });
    });
  }

  /** The bdSeq of the current MQTT session. */
  get bdSeq(): number {
    return this.session;
  }

  get client(): MqttClient | undefined {
    return this.mqttClient;
  }

  members(): MemberRecord[] {
    return this.tracker.members();
  }

  get(nodeId: string): MemberRecord | undefined {
    return this.tracker.get(nodeId);
  }

  stats(): MembershipClientStats {
    return { ...this.counters, refused: { ...this.counters.refused } };
  }

  /** Leaves the site: orderly (offline, the default) or by dropping the socket (the will fires: dead). */
  async close(options: { orderly?: boolean } = {}): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.timer);
    this.abortStart?.(new BaksaError('MEMBERSHIP_CLOSED', `${this.options.nodeId} was closed before it reached the broker`, { hint: 'nothing to do: it was stopped' }));
    const client = this.mqttClient;
    if (!client) return;
    if (options.orderly === false) {
      client.stream?.destroy();
      await client.endAsync(true);
      return;
    }
    if (client.connected) {
      const goodbye = this.seal({ online: false, bdSeq: this.session, orderly: true, pubkey: this.options.signer.publicKey });
      await client.publishAsync(this.stateTopic, goodbye, { qos: 1, retain: true }).catch((error: Error) => {
        this.options.logger.warn({ err: error.message }, 'could not publish the orderly offline state');
      });
      await client.endAsync();
    } else {
      await client.endAsync(true);
    }
  }

  private seal(body: NodeStateBody): Buffer {
    const { nodeId, signer, now } = this.options;
    const bytes = sealNodeState(nodeId, body, signer.privateKey, now());
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private will(bdSeq: number): NonNullable<IClientOptions['will']> {
    return { topic: this.stateTopic, payload: this.seal({ online: false, bdSeq, pubkey: this.options.signer.publicKey }), qos: 1, retain: true };
  }

  private birth(bdSeq: number): Buffer {
    const { capacity, version, validators } = this.options.details();
    return this.seal({
      online: true, bdSeq, pubkey: this.options.signer.publicKey,
      ...(capacity ? { capacity } : {}), ...(version ? { version } : {}), ...(validators ? { validators } : {}),
    });
  }

  private async onConnect(): Promise<void> {
    const client = this.mqttClient!;
    const filter = filters.nodeStates(this.options.site);
    if (this.birthSession < 0) {
      const refused = (): BaksaError =>
        new BaksaError('MEMBERSHIP_REFUSED', `the broker refused the subscription to ${filter}`, {
          hint: 'check the broker ACL: a node must be allowed to read its site node states',
        });
      const grants = await client.subscribeAsync(filter, { qos: 1 }).catch((error: { packet?: { granted?: number[] } }) => {
        throw error.packet?.granted?.includes(128) ? refused() : error;
      });
      if (grants.some((g) => g.qos === 128)) throw refused();
    }
    const session = this.session;
    // from here on a stale state on our topic is worth correcting (see reassert)
    this.birthSession = session;
    this.counters.births++;
    await client.publishAsync(this.stateTopic, this.birth(session), { qos: 1, retain: true });
    this.options.logger.info({ node: this.options.nodeId, bdSeq: session }, 'birth published');
  }

  private keyOf = (nodeId: string): Uint8Array | undefined => {
    if (nodeId === this.options.nodeId) return this.options.signer.publicKey;
    return this.options.keyOf ? this.options.keyOf(nodeId) : this.pinned.get(nodeId);
  };

  private onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.kind !== 'nodeState' || parsed.site !== this.options.site) return;
    this.counters.received++;
    const reading = openNodeState(payload, { keyOf: this.keyOf, trustOnFirstUse: this.options.keyOf === undefined });
    if (!reading.ok) {
      this.counters.refused[reading.code] = (this.counters.refused[reading.code] ?? 0) + 1;
      this.options.logger.warn({ topic, code: reading.code, reason: reading.reason }, 'node state dropped');
      this.emit('refused', { topic, code: reading.code, reason: reading.reason });
      return;
    }
    const { signer, body, pinKey } = reading.state;
    if (pinKey && signer === parsed.nodeId) this.pinned.set(signer, pinKey);
    if (signer === this.options.nodeId && parsed.nodeId === this.options.nodeId) this.reassert(body);
    this.emitAll(this.tracker.step({ kind: 'state', nodeId: parsed.nodeId, signer, ...body }));
  }

  /** Restores our retained birth when something older replaced it (see the file comment). */
  private reassert(body: NodeStateBody): void {
    const client = this.mqttClient;
    if (this.closing || !client?.connected || this.birthSession !== this.session) return;
    if (body.bdSeq > this.session) {
      this.options.logger.error({ bdSeq: body.bdSeq, ours: this.session }, 'a newer session of this node id exists: another process uses our key, or the bdSeq store went back');
      return;
    }
    if (body.bdSeq === this.session && body.online) return;
    this.counters.reasserted++;
    client.publish(this.stateTopic, this.birth(this.session), { qos: 1, retain: true });
  }

  private emitAll(changes: MembershipChange[]): void {
    for (const change of changes) {
      if (change.kind === 'ignored') {
        if (change.reason === 'stale') this.counters.ignoredStale++;
        else this.counters.ignoredForeignSigner++;
      }
      this.emit('change', change);
    }
  }
}
