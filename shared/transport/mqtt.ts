/**
 * Frames over MQTT (DESIGN §4, edge): a node subscribes to its own `.../node/<id>/in` topic and
 * publishes to its peers' topics. MQTT does not tell a subscriber who published, so every payload is
 * sealed by the caller's `FrameSealer` (the protocol's signed envelope in production): `open` returns
 * the authenticated sender, or undefined for bytes that fail the check, which are counted and dropped.
 *
 * QoS 1 by default, so a broker reconnect does not silently drop what mqtt.js had queued; the
 * protocols above are idempotent, so a duplicate is harmless. Outgoing publishes are bounded by
 * `sendQueueFramesMax`: past it, sends are refused rather than buffered without end.
 */
import type { MqttClient } from 'mqtt';
import { emptyStats, type FrameHandler, type Transport, type TransportStats } from './transport.ts';
import { silentLogger, type Logger } from '../log.ts';

export interface FrameSealer {
  seal(to: string, frame: Uint8Array): Uint8Array;
  /** `seal` of the concatenation of `parts` (the frame of a multiplexed endpoint: its channel, then its bytes). */
  sealParts?(to: string, parts: readonly Uint8Array[]): Uint8Array;
  /** Returns the authenticated sender and the frame, or undefined for a payload that fails checks. */
  open(payload: Uint8Array): { from: string; to: string | undefined; frame: Uint8Array } | undefined;
}

export interface MqttTransportOptions {
  self: string;
  peers: string[];
  client: MqttClient;
  /** The inbox topic of a node, e.g. `topics.nodeIn(site, id)`. */
  inTopic: (id: string) => string;
  sealer: FrameSealer;
  qos: 0 | 1;
  frameBytesMax: number;
  sendQueueFramesMax: number;
  logger: Logger;
}

export const defaultMqttTransportOptions = {
  qos: 1 as 0 | 1,
  frameBytesMax: 4 * 1024 * 1024,
  sendQueueFramesMax: 10_000,
  logger: silentLogger,
} satisfies Partial<MqttTransportOptions>;

export class MqttTransport implements Transport {
  readonly self: string;
  private readonly options: MqttTransportOptions;
  private handler: FrameHandler = () => {};
  private readonly counters = emptyStats();
  private inFlight = 0;
  private closed = false;
  private readonly topic: string;
  private readonly onMessage = (topic: string, payload: Buffer) => this.receive(topic, payload);

  constructor(options: Partial<MqttTransportOptions> & Pick<MqttTransportOptions, 'self' | 'peers' | 'client' | 'inTopic' | 'sealer'>) {
    this.options = { ...defaultMqttTransportOptions, ...options, peers: [...options.peers] };
    this.self = options.self;
    this.topic = this.options.inTopic(this.self);
  }

  async start(): Promise<void> {
    const { client, qos } = this.options;
    client.on('message', this.onMessage);
    await client.subscribeAsync(this.topic, { qos });
  }

  send(to: string, frame: Uint8Array): boolean {
    return this.sendParts(to, [frame]);
  }

  sendParts(to: string, parts: readonly Uint8Array[]): boolean {
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (this.closed || !this.options.peers.includes(to) || bytes > this.options.frameBytesMax || this.inFlight >= this.options.sendQueueFramesMax) {
      this.counters.framesDropped++;
      return false;
    }
    const { sealer } = this.options;
    const payload = parts.length === 1 ? sealer.seal(to, parts[0]!) : sealer.sealParts ? sealer.sealParts(to, parts) : sealer.seal(to, Buffer.concat(parts));
    this.inFlight++;
    this.counters.framesSent++;
    this.counters.bytesSent += payload.length;
    this.options.client.publish(this.options.inTopic(to), Buffer.from(payload.buffer, payload.byteOffset, payload.length), { qos: this.options.qos }, () => {
      this.inFlight--;
    });
    return true;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  /** Lets `peer` send to and receive from this node from now on (a member admitted while it runs). */
  addPeer(peer: string): void {
    if (!this.options.peers.includes(peer)) this.options.peers.push(peer);
  }

  peers(): readonly string[] {
    return this.options.peers.filter((p) => p !== this.self);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.options.client.off('message', this.onMessage);
    if (this.options.client.connected) await this.options.client.unsubscribeAsync(this.topic).catch(() => {});
  }

  private receive(topic: string, payload: Buffer): void {
    if (topic !== this.topic || this.closed) return;
    if (payload.length > this.options.frameBytesMax + 1024) {
      this.counters.framesDropped++;
      return;
    }
    const opened = this.options.sealer.open(new Uint8Array(payload.buffer, payload.byteOffset, payload.length));
    if (!opened || (opened.to !== undefined && opened.to !== this.self) || !this.options.peers.includes(opened.from)) {
      this.counters.framesDropped++;
      this.options.logger.debug({ topic }, 'dropped an MQTT frame that failed its checks');
      return;
    }
    this.counters.framesReceived++;
    this.counters.bytesReceived += opened.frame.length;
    try {
      this.handler(opened.from, opened.frame);
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'frame handler threw');
    }
  }
}
