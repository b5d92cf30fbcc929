/**
 * The socket guard: a Duplex that stands between a client socket and aedes.
 *
 * Reading: every chunk goes through a `FixedHeaderScanner` before aedes sees it. A packet that declares a
 * remaining length above the cap (`connectBytesMax` for the CONNECT, `packetBytesMax` once
 * `authenticated()` is called) or that is not MQTT at all destroys the connection at its header, so an
 * unauthenticated client cannot make the broker buffer a body. Until the client is authenticated, the
 * guard forwards the CONNECT only and stops reading the socket (at most the rest of one chunk is held),
 * so an unauthenticated connection costs at most `connectBytesMax` plus one chunk. Chunks pass through
 * unchanged and unbuffered otherwise; backpressure from aedes pauses the socket.
 *
 * Writing: aedes waits for 'drain' on a connection whose write returned false, and while it waits its
 * message emitter holds the delivery slot, so one subscriber that stops reading would stall delivery to
 * every other client. The guard therefore never pushes back: it hands each write to the socket and
 * acknowledges at once, and when the bytes queued on the socket for a reader that does not read pass
 * `outgoingBytesMax`, it cuts that client off (`slow-consumer`). Memory per client stays bounded and the
 * others never wait.
 */
import { Duplex } from 'node:stream';
import { FixedHeaderScanner, type ScanRefusal, type ScanRefusalReason } from './header-scanner.ts';

export interface GuardLimits {
  /** Largest remaining length of any packet before the client has authenticated (CONNECT included). */
  connectBytesMax: number;
  /** Largest remaining length of a packet once authenticated. */
  packetBytesMax: number;
  /** Bytes queued for a client that does not read before it is disconnected. */
  outgoingBytesMax: number;
}

export type GuardRefusalReason = ScanRefusalReason | 'slow-consumer';

export interface GuardRefusal extends Omit<ScanRefusal, 'reason' | 'packetType'> {
  reason: GuardRefusalReason;
  packetType?: number;
  /** Bytes queued on the socket, for `slow-consumer`. */
  queuedBytes?: number;
}

/** The socket kinds the guard wraps (net.Socket and tls.TLSSocket both qualify). */
export type GuardedSocket = Duplex & { readonly writableLength: number; cork(): void; uncork(): void };

export class GuardedConnection extends Duplex {
  readonly socket: GuardedSocket;
  private readonly limits: GuardLimits;
  private readonly scanner: FixedHeaderScanner;
  private readonly onRefused: (refusal: GuardRefusal) => void;
  private refusal: GuardRefusal | undefined;
  private isAuthenticated = false;
  /** The CONNECT went to aedes; nothing more is read until authentication. */
  private connectForwarded = false;
  /** Bytes that arrived behind the CONNECT, waiting for authentication. */
  private held: Buffer[] = [];
  /** The client ended its side while bytes were held; end ours once they are forwarded. */
  private endHeld = false;
  /** aedes asked us to stop (push returned false). */
  private backpressured = false;
  /** Bytes handed on to aedes. */
  bytesForwarded = 0;

  constructor(socket: GuardedSocket, limits: GuardLimits, onRefused: (refusal: GuardRefusal) => void = () => {}) {
    // writes are acknowledged at once (see above), so nothing ever waits in our writable buffer; a mark this
    // high makes write() return true for any packet, and aedes never waits for 'drain'
    super({ allowHalfOpen: false, writableHighWaterMark: 2 ** 30 });
    this.socket = socket;
    this.limits = limits;
    this.onRefused = onRefused;
    this.scanner = new FixedHeaderScanner(limits.connectBytesMax);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      if (this.held.length > 0) this.endHeld = true;
      else this.push(null);
    });
    socket.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    socket.on('error', (error: Error) => {
      if (!this.destroyed) this.destroy(error);
    });
  }

  /** Raises the inbound cap from `connectBytesMax` to `packetBytesMax` and reads on. */
  authenticated(): void {
    if (this.isAuthenticated) return;
    this.isAuthenticated = true;
    this.scanner.limitBytes = this.limits.packetBytesMax;
    const held = this.held;
    this.held = [];
    for (const chunk of held) this.onData(chunk);
    if (this.endHeld) this.push(null);
    if (!this.backpressured && !this.refusal && !this.socket.destroyed) this.socket.resume();
  }

  /** Why the guard cut this connection, if it did. */
  get refused(): GuardRefusal | undefined {
    return this.refusal;
  }

  private onData(chunk: Buffer): void {
    if (this.refusal || this.destroyed) return;
    if (!this.isAuthenticated) {
      if (this.connectForwarded) {
        this.held.push(chunk);
        this.socket.pause();
        return;
      }
      const refusal = this.scanner.feed(chunk, true);
      if (refusal) return this.refuse(refusal);
      const n = this.scanner.consumed;
      if (this.scanner.packets >= 1 && this.scanner.atBoundary) {
        this.connectForwarded = true;
        this.socket.pause();
        if (n < chunk.length) this.held.push(chunk.subarray(n));
      }
      this.forward(n === chunk.length ? chunk : chunk.subarray(0, n));
      return;
    }
    const refusal = this.scanner.feed(chunk);
    if (refusal) return this.refuse(refusal);
    this.forward(chunk);
  }

  private forward(chunk: Buffer): void {
    this.bytesForwarded += chunk.length;
    if (!this.push(chunk)) {
      this.backpressured = true;
      this.socket.pause();
    }
  }

  private refuse(refusal: GuardRefusal): void {
    this.refusal = refusal;
    this.socket.destroy();
    this.onRefused(refusal);
    this.destroy(new Error(`connection refused by the packet guard: ${refusal.reason}`));
  }

  private checkBacklog(): void {
    const queuedBytes = this.socket.writableLength;
    if (queuedBytes > this.limits.outgoingBytesMax && !this.refusal) {
      this.refuse({ reason: 'slow-consumer', queuedBytes, limitBytes: this.limits.outgoingBytesMax });
    }
  }

  override _read(): void {
    this.backpressured = false;
    if (!this.socket.destroyed && (this.isAuthenticated || !this.connectForwarded)) this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.socket.destroyed && !this.refusal) {
      this.socket.write(chunk);
      this.checkBacklog();
    }
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (!this.socket.destroyed && !this.refusal) {
      this.socket.cork();
      for (const { chunk } of chunks) this.socket.write(chunk);
      this.socket.uncork();
      this.checkBacklog();
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}
