// The simulator's network behind the Transport interface, held to the same contract as TLS and MQTT
// (perfect-network settings: the contract checks delivery and order, the simulator's faults are
// exercised by test/sim). A pump on the event loop advances the simulated clock.
import { Prng } from '../../sim/prng.ts';
import { SimNetwork, perfectNetwork } from '../../sim/network.ts';
import { emptyStats, type FrameHandler, type Transport } from '../../../shared/transport/index.ts';
import { transportContract } from './contract.ts';

const FRAME_BYTES_MAX = 16 * 1024 * 1024;

class SimClock {
  now = 0;
  delivered = 0;
  readonly handlers = new Map<string, FrameHandler>();
  private timer: NodeJS.Immediate | undefined;
  constructor(readonly network: SimNetwork) {}

  schedule(): void {
    this.timer ??= setImmediate(() => {
      this.timer = undefined;
      while (this.delivered < this.now + 1) {
        this.delivered++;
        for (const p of this.network.due(this.delivered)) this.handlers.get(p.to)?.(p.from, p.payload as Uint8Array);
      }
      if (this.network.inFlight() > 0) this.schedule();
    });
  }
}

class SimTransport implements Transport {
  private closed = false;
  private readonly counters = emptyStats();
  constructor(
    readonly self: string,
    private readonly clock: SimClock,
    private readonly ids: string[],
  ) {
    clock.handlers.set(self, () => {});
  }
  send(to: string, frame: Uint8Array): boolean {
    if (this.closed || to === this.self || !this.ids.includes(to) || frame.length > FRAME_BYTES_MAX) {
      this.counters.framesDropped++;
      return false;
    }
    this.counters.framesSent++;
    this.clock.network.send(this.self, to, new Uint8Array(frame), ++this.clock.now);
    this.clock.schedule();
    return true;
  }
  onFrame(handler: FrameHandler): void {
    this.clock.handlers.set(this.self, (from, frame) => {
      if (this.closed) return;
      this.counters.framesReceived++;
      handler(from, frame);
    });
  }
  peers(): readonly string[] {
    return this.ids.filter((id) => id !== this.self);
  }
  stats() {
    return { ...this.counters };
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

transportContract('simulator network', async (ids) => {
  const clock = new SimClock(new SimNetwork(new Prng(7), perfectNetwork));
  const transports = ids.map((id) => new SimTransport(id, clock, ids));
  return { transports, cleanup: async () => void (await Promise.all(transports.map((t) => t.close()))) };
}).run();
