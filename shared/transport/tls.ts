/**
 * TLS 1.3 mesh between replicas (DESIGN §5, cloud). Every node listens, and dials every peer; the
 * outbound link carries what this node sends, inbound links carry what peers send. Both ends present
 * certificates from the cluster CA: the listener learns who dialed from the client certificate's
 * common name, the dialer checks that the server is the peer it meant. No broker sits in this path.
 *
 * Clients (agents, tools submitting consensus requests) are not mesh peers: with `acceptClient` set, a
 * listener also takes links from certificates it maps to a client id, and frames to that id go back over
 * the client's own link. A client runs this transport with `listen: false`: it only dials, and reads
 * the replies that come back on its outbound links.
 *
 * Frames are length-prefixed (framing.ts) and bounded by `frameBytesMax`; an oversize frame closes
 * that link. Each peer has a bounded send queue that keeps the newest frames while the link is down,
 * and a dropped link is re-dialed with exponential backoff and jitter.
 */
import { createServer, connect, type TLSSocket, type Server, type PeerCertificate } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { BoundedFrameQueue, emptyStats, type FrameHandler, type Transport, type TransportStats } from './transport.ts';
import { FrameDecoder, encodeFrameHeader } from './framing.ts';
import { silentLogger, type Logger } from '../log.ts';
import { listenOn } from './listen.ts';
import { endRevoked } from '../crypto/revocation-watch.ts';
import { withCrl } from '../crypto/pki-read.ts';

export interface TlsPeer {
  id: string;
  host: string;
  port: number;
}

export interface TlsMaterial {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  /** The CA's revocation list: a certificate it lists is refused either way (`revocationsChanged` replaces it). */
  crl?: string | Buffer;
}

/** What both ends of a link present and accept: mutual TLS 1.3 with the cluster CA (and its revocation list). */
function secureContextOf(tls: TlsMaterial): { ca: string | Buffer; cert: string | Buffer; key: string | Buffer; crl?: string | Buffer; minVersion: 'TLSv1.3' } {
  return { ca: tls.ca, cert: tls.cert, key: tls.key, ...(tls.crl !== undefined ? { crl: tls.crl } : {}), minVersion: 'TLSv1.3' };
}

export interface TlsTransportOptions {
  self: string;
  /** false for a client that only dials. */
  listen: boolean;
  listenHost: string;
  /** 0 picks a free port; read it back from `port` after `start()`. */
  listenPort: number;
  peers: TlsPeer[];
  tls: TlsMaterial;
  frameBytesMax: number;
  sendQueueFramesMax: number;
  sendQueueBytesMax: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  /** Maps a verified peer certificate to a node id; the default takes the subject CN. */
  identify: (cert: PeerCertificate) => string | undefined;
  /** Maps the certificate of a non-peer to a client id (its role checked by the caller); undefined refuses. */
  acceptClient: ((cert: PeerCertificate) => string | undefined) | undefined;
  /** Bytes buffered on one client link before further frames to it are dropped. */
  clientBufferBytesMax: number;
  logger: Logger;
}

export const defaultTlsTransportOptions = {
  listen: true,
  acceptClient: undefined,
  clientBufferBytesMax: 16 * 1024 * 1024,
  listenHost: '127.0.0.1',
  listenPort: 0,
  frameBytesMax: 16 * 1024 * 1024,
  sendQueueFramesMax: 10_000,
  sendQueueBytesMax: 64 * 1024 * 1024,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 5_000,
  identify: (cert: PeerCertificate) => (typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined),
  logger: silentLogger,
} satisfies Partial<TlsTransportOptions>;

interface Link {
  peer: TlsPeer;
  socket: TLSSocket | undefined;
  connected: boolean;
  queue: BoundedFrameQueue;
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  /** A flush is queued for the end of this turn (every frame sent until then goes in one write). */
  flushQueued: boolean;
}

export class TlsTransport implements Transport {
  readonly self: string;
  private readonly options: TlsTransportOptions;
  /** The material links are made with now (`options.tls`, then each revocation list `revocationsChanged` gives). */
  private tls: TlsMaterial;
  private readonly links = new Map<string, Link>();
  private readonly inbound = new Set<TLSSocket>();
  private readonly clients = new Map<string, TLSSocket>();
  private server: Server | undefined;
  private handler: FrameHandler = () => {};
  private closed = false;
  private readonly counters = emptyStats();
  private boundPort = 0;

  constructor(options: Partial<TlsTransportOptions> & Pick<TlsTransportOptions, 'self' | 'peers' | 'tls'>) {
    this.options = { ...defaultTlsTransportOptions, ...options };
    this.tls = options.tls;
    this.self = options.self;
    for (const peer of this.options.peers) {
      if (peer.id === this.self) continue;
      this.links.set(peer.id, {
        peer,
        socket: undefined,
        connected: false,
        queue: new BoundedFrameQueue(this.options.sendQueueFramesMax, this.options.sendQueueBytesMax),
        backoffMs: this.options.reconnectDelayMsMin,
        timer: undefined,
        flushQueued: false,
      });
    }
  }

  /** The port the listener is bound to (after `start`). */
  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    if (!this.options.listen) {
      for (const link of this.links.values()) this.dial(link);
      return;
    }
    const server = createServer({ ...secureContextOf(this.tls), requestCert: true, rejectUnauthorized: true });
    server.on('secureConnection', (socket) => this.accept(socket));
    server.on('tlsClientError', (error) => this.options.logger.debug({ err: error.message }, 'tls client refused'));
    await listenOn(server, this.options.listenPort, this.options.listenHost);
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
    for (const link of this.links.values()) this.dial(link);
  }

  /**
   * A new revocation list (RevocationWatch): the handshakes to come, either way, check it, and the
   * links open to or from a certificate it revokes are ended (a revoked peer's dial is then refused).
   */
  revocationsChanged(crl: string | undefined, revoked: ReadonlySet<string>): void {
    this.tls = withCrl(this.tls, crl);
    this.server?.setSecureContext(secureContextOf(this.tls));
    const ended = endRevoked([...this.inbound, ...[...this.links.values()].flatMap((l) => (l.socket ? [l.socket] : []))], revoked);
    if (ended > 0) this.options.logger.warn({ ended }, 'closed links of revoked certificates');
  }

  /** Points a peer at a new address (a restarted node on another port) and re-dials it. */
  updatePeer(peer: TlsPeer): void {
    const link = this.links.get(peer.id);
    if (!link) return;
    link.peer = peer;
    link.socket?.destroy();
  }

  send(to: string, frame: Uint8Array): boolean {
    const client = this.clients.get(to);
    if (client && !this.links.has(to)) return this.sendToClient(client, frame);
    const link = this.links.get(to);
    if (!link || this.closed || frame.length > this.options.frameBytesMax) {
      this.counters.framesDropped++;
      return false;
    }
    const droppedBefore = link.queue.dropped;
    link.queue.push(frame);
    this.counters.framesDropped += link.queue.dropped - droppedBefore;
    if (!link.flushQueued) {
      link.flushQueued = true;
      process.nextTick(() => {
        link.flushQueued = false;
        if (!this.closed) this.flush(link);
      });
    }
    return link.queue.dropped === droppedBefore;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  peers(): readonly string[] {
    return [...this.links.keys()];
  }

  /** Peers whose link from this node is up now (a liveness hint: alert ownership, status). */
  connectedPeers(): string[] {
    return [...this.links.values()].filter((l) => l.connected).map((l) => l.peer.id);
  }

  /** Client ids with a live link to this node. */
  connectedClients(): string[] {
    return [...this.clients.keys()];
  }

  private sendToClient(socket: TLSSocket, frame: Uint8Array): boolean {
    if (this.closed || frame.length > this.options.frameBytesMax || socket.writableLength > this.options.clientBufferBytesMax) {
      this.counters.framesDropped++;
      return false;
    }
    this.counters.framesSent++;
    this.counters.bytesSent += frame.length;
    socket.cork();
    socket.write(encodeFrameHeader(frame.length));
    socket.write(frame);
    process.nextTick(() => socket.uncork());
    return true;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.links.values()) {
      clearTimeout(link.timer);
      link.socket?.destroy();
      link.queue.clear();
    }
    for (const socket of this.inbound) socket.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: TLSSocket): void {
    const cert = socket.getPeerCertificate();
    let from = this.options.identify(cert);
    if (!from || !this.links.has(from)) {
      from = this.options.acceptClient?.(cert);
      if (!from || this.links.has(from) || from === this.self) {
        this.options.logger.warn({ from }, 'refusing a link from a certificate that is neither a peer nor a client');
        socket.destroy();
        return;
      }
      const client = from;
      this.clients.get(client)?.destroy();
      this.clients.set(client, socket);
      socket.on('close', () => {
        if (this.clients.get(client) === socket) this.clients.delete(client);
      });
    }
    this.inbound.add(socket);
    socket.setNoDelay(true);
    this.receiveFrames(socket, from);
    socket.on('error', () => {});
    socket.on('close', () => this.inbound.delete(socket));
  }

  private receiveFrames(socket: TLSSocket, from: string): void {
    const decoder = new FrameDecoder(this.options.frameBytesMax);
    socket.on('data', (data: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = decoder.push(data);
      } catch (error) {
        this.options.logger.warn({ from, err: (error as Error).message }, 'closing a link that sent an oversize frame');
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        this.counters.framesReceived++;
        this.counters.bytesReceived += frame.length;
        try {
          this.handler(from, frame);
        } catch (error) {
          this.options.logger.error({ from, err: (error as Error).message }, 'frame handler threw');
        }
      }
    });
  }

  private dial(link: Link): void {
    if (this.closed) return;
    const expected = link.peer.id;
    const socket = connect({
      host: link.peer.host,
      port: link.peer.port,
      ...secureContextOf(this.tls),
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) =>
        this.options.identify(cert) === expected ? undefined : new Error(`server is not peer ${expected}`),
    });
    link.socket = socket;
    socket.setNoDelay(true);
    socket.on('secureConnect', () => {
      link.connected = true;
      link.backoffMs = this.options.reconnectDelayMsMin;
      this.flush(link);
    });
    socket.on('drain', () => this.flush(link));
    // Frames may come back on an outbound link (replies to a client).
    this.receiveFrames(socket, expected);
    socket.on('error', (error) => this.options.logger.debug({ peer: expected, err: error.message }, 'link error'));
    socket.on('close', () => {
      if (link.socket !== socket) return;
      link.connected = false;
      link.socket = undefined;
      if (this.closed) return;
      const jitter = 0.5 + Math.random() / 2;
      const delay = Math.round(link.backoffMs * jitter);
      link.backoffMs = Math.min(link.backoffMs * 2, this.options.reconnectDelayMsMax);
      link.timer = setTimeout(() => this.dial(link), delay);
      link.timer.unref?.();
    });
  }

  private flush(link: Link): void {
    const socket = link.socket;
    if (!link.connected || !socket || socket.writableNeedDrain) return;
    // Corked, so a header and its frame (and a burst of frames) go out as one TLS record write.
    socket.cork();
    try {
      for (;;) {
        const frame = link.queue.shift();
        if (!frame) return;
        this.counters.framesSent++;
        this.counters.bytesSent += frame.length;
        socket.write(encodeFrameHeader(frame.length));
        if (!socket.write(frame)) return;
      }
    } finally {
      socket.uncork();
    }
  }
}
