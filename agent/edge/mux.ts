/**
 * One MQTT inbox, three endpoints. Every node of an edge cluster runs a PBFT replica, a PBFT client (it
 * submits its own backups' CommitRequests) and the services (ledger signatures, the hybrid commit, shard
 * reads), but has one inbox topic and one signing key. The first byte of every frame says which endpoint
 * it is for, so the three never see each other's traffic:
 *
 *   0  replica → replica         1  client → replica (delivered as from `<node>~client`)
 *   2  replica → client          3  service → service
 *
 * A client link is named `<node>~client` on the replica side, so the replica core tells requests from
 * replica messages by name, as it does on TLS. Frames to this node itself are delivered locally (on the
 * next turn of the event loop, never re-entrantly) instead of through the broker.
 *
 * Validators (the members the cluster started with) run replicas; storage members (admitted later,
 * shared/ledger/members.ts) run only a client and the services. So replica frames and client replies are
 * taken from validators only, requests go to validators only, and the services reach every member.
 */
import { emptyStats, type FrameHandler, type Transport, type TransportStats } from '../../shared/transport/index.ts';

export const CLIENT_SUFFIX = '~client';

const Channel = { replica: 0, request: 1, reply: 2, service: 3 } as const;
type Channel = (typeof Channel)[keyof typeof Channel];

export const clientLinkName = (node: string): string => `${node}${CLIENT_SUFFIX}`;
const CHANNEL_BYTES = [0, 1, 2, 3].map((c) => Uint8Array.of(c));

class Endpoint implements Transport {
  handler: FrameHandler = () => {};
  readonly counters = emptyStats();
  constructor(
    readonly self: string,
    private readonly mux: EdgeMux,
    private readonly route: (to: string) => { node: string; channel: Channel } | undefined,
    private readonly peerList: () => readonly string[],
  ) {}

  send(to: string, frame: Uint8Array): boolean {
    const r = this.route(to);
    const ok = r !== undefined && this.mux.send(r.node, r.channel, frame);
    if (ok) {
      this.counters.framesSent++;
      this.counters.bytesSent += frame.length;
    } else this.counters.framesDropped++;
    return ok;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  peers(): readonly string[] {
    return this.peerList();
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {}

  deliver(from: string, frame: Uint8Array): void {
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
    this.handler(from, frame);
  }
}

export class EdgeMux {
  readonly replica: Endpoint;
  readonly client: Endpoint;
  readonly service: Endpoint;
  private closed = false;

  private readonly storage = new Set<string>();

  constructor(
    private readonly inner: Transport,
    readonly validators: readonly string[],
  ) {
    const self = inner.self;
    const isValidator = (id: string) => validators.includes(id);
    this.replica = new Endpoint(
      self,
      this,
      (to) =>
        isValidator(to)
          ? { node: to, channel: Channel.replica }
          : to.endsWith(CLIENT_SUFFIX) && this.isMember(to.slice(0, -CLIENT_SUFFIX.length))
            ? { node: to.slice(0, -CLIENT_SUFFIX.length), channel: Channel.reply }
            : undefined,
      () => validators.filter((m) => m !== self),
    );
    this.client = new Endpoint(clientLinkName(self), this, (to) => (isValidator(to) ? { node: to, channel: Channel.request } : undefined), () => validators);
    this.service = new Endpoint(self, this, (to) => (this.isMember(to) ? { node: to, channel: Channel.service } : undefined), () => this.members().filter((m) => m !== self));
    inner.onFrame((from, frame) => this.receive(from, frame));
  }

  /** A storage member admitted by the ledger: its services and its client's requests are taken from now on. */
  addMember(id: string): void {
    this.storage.add(id);
  }

  isMember(id: string): boolean {
    return this.validators.includes(id) || this.storage.has(id);
  }

  /** Validators, then storage members in admission order. */
  members(): string[] {
    return [...this.validators, ...[...this.storage].filter((m) => !this.validators.includes(m))];
  }

  send(to: string, channel: Channel, frame: Uint8Array): boolean {
    if (this.closed) return false;
    if (to !== this.inner.self && this.inner.sendParts) return this.inner.sendParts(to, [CHANNEL_BYTES[channel]!, frame]); // joined in the envelope, not here
    const framed = new Uint8Array(frame.length + 1);
    framed[0] = channel;
    framed.set(frame, 1);
    if (to === this.inner.self) {
      setImmediate(() => {
        if (!this.closed) this.receive(to, framed);
      });
      return true;
    }
    return this.inner.send(to, framed);
  }

  private receive(from: string, framed: Uint8Array): void {
    if (framed.length < 1 || !this.isMember(from)) return;
    const frame = framed.subarray(1);
    const validator = this.validators.includes(from);
    switch (framed[0]) {
      case Channel.replica:
        return validator ? this.replica.deliver(from, frame) : undefined;
      case Channel.request:
        return this.replica.deliver(clientLinkName(from), frame);
      case Channel.reply:
        return validator ? this.client.deliver(from, frame) : undefined;
      case Channel.service:
        return this.service.deliver(from, frame);
      default:
        return; // a channel this version does not know: dropped
    }
  }

  stats(): TransportStats {
    return this.inner.stats();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner.close();
  }
}
