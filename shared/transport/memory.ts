/**
 * An in-memory network for tests: frames are delivered asynchronously (on a later macrotask), in
 * order per link, and links can be cut and restored. The deterministic simulator in test/sim drives
 * the consensus core directly; this transport lets the shells and the contract suite run in-process.
 */
import { emptyStats, type FrameHandler, type Transport, type TransportStats } from './transport.ts';

export class MemoryNetwork {
  private readonly nodes = new Map<string, MemoryTransport>();
  private readonly cut = new Set<string>();

  join(id: string, frameBytesMax = 16 * 1024 * 1024): MemoryTransport {
    const transport = new MemoryTransport(id, this, frameBytesMax);
    this.nodes.set(id, transport);
    return transport;
  }

  leave(id: string): void {
    this.nodes.delete(id);
  }

  /** Stops delivery from `a` to `b` (one way). */
  cutLink(a: string, b: string): void {
    this.cut.add(`${a}>${b}`);
  }

  restoreLink(a: string, b: string): void {
    this.cut.delete(`${a}>${b}`);
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  /** @internal */
  deliver(from: string, to: string, frame: Uint8Array): boolean {
    const target = this.nodes.get(to);
    if (!target || this.cut.has(`${from}>${to}`)) return false;
    const copy = new Uint8Array(frame);
    setImmediate(() => target.receive(from, copy));
    return true;
  }
}

export class MemoryTransport implements Transport {
  private handler: FrameHandler = () => {};
  private closed = false;
  private readonly counters = emptyStats();

  constructor(
    readonly self: string,
    private readonly network: MemoryNetwork,
    private readonly frameBytesMax: number,
  ) {}

  send(to: string, frame: Uint8Array): boolean {
    const ok = !this.closed && to !== this.self && frame.length <= this.frameBytesMax && this.network.deliver(this.self, to, frame);
    if (ok) {
      this.counters.framesSent++;
      this.counters.bytesSent += frame.length;
    } else {
      this.counters.framesDropped++;
    }
    return ok;
  }

  onFrame(handler: FrameHandler): void {
    this.handler = handler;
  }

  peers(): readonly string[] {
    return this.network.ids().filter((id) => id !== this.self);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** @internal */
  receive(from: string, frame: Uint8Array): void {
    if (this.closed) return;
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
    this.handler(from, frame);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.network.leave(this.self);
  }
}
