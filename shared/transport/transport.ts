/**
 * A transport moves opaque frames between named nodes. Consensus, the hybrid commit and shard transfer
 * sit on top of it and never see sockets or brokers. Three implementations share one contract
 * (test/unit/transport/contract.ts): TLS 1.3 links between replicas (cloud), MQTT `.../node/<id>/in`
 * topics (edge), and an in-memory network (tests and simulation).
 *
 * Delivery is best effort: a frame may be lost when a link is down and its bounded queue is full.
 * Protocols above retransmit; a transport never blocks its caller and never grows without bound.
 * `from` in a delivered frame is authenticated by the transport (a TLS certificate, or a signed
 * envelope on MQTT), so a peer cannot speak under another node's name.
 */

export type FrameHandler = (from: string, frame: Uint8Array) => void;

export interface TransportStats {
  framesSent: number;
  framesReceived: number;
  framesDropped: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface Transport {
  /** This node's id. */
  readonly self: string;
  /** Queues one frame for `to`. Returns false when it was dropped (unknown peer, queue full, closed). */
  send(to: string, frame: Uint8Array): boolean;
  /** `send` of the concatenation of `parts`, for a transport that can write them without joining them first. */
  sendParts?(to: string, parts: readonly Uint8Array[]): boolean;
  /** Sets the one handler that receives every frame addressed to this node. */
  onFrame(handler: FrameHandler): void;
  /** The peers this node can address. */
  peers(): readonly string[];
  stats(): TransportStats;
  close(): Promise<void>;
}

export function emptyStats(): TransportStats {
  return { framesSent: 0, framesReceived: 0, framesDropped: 0, bytesSent: 0, bytesReceived: 0 };
}

/**
 * A FIFO of frames with a frame and a byte bound. When a push would pass either bound the oldest
 * frames go first: for consensus traffic the newest state is the one worth sending.
 */
export class BoundedFrameQueue {
  private frames: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;
  dropped = 0;

  constructor(
    readonly framesMax: number,
    readonly bytesMax: number,
  ) {}

  get length(): number {
    return this.frames.length - this.head;
  }

  get byteLength(): number {
    return this.bytes;
  }

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.bytes += frame.length;
    while (this.length > this.framesMax || (this.bytes > this.bytesMax && this.length > 1)) {
      this.bytes -= this.frames[this.head]!.length;
      this.frames[this.head++] = EMPTY;
      this.dropped++;
    }
    this.compact();
  }

  shift(): Uint8Array | undefined {
    if (this.length === 0) return undefined;
    const frame = this.frames[this.head]!;
    this.frames[this.head++] = EMPTY;
    this.bytes -= frame.length;
    this.compact();
    return frame;
  }

  clear(): void {
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
