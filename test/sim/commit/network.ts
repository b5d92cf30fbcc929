/**
 * The simulated network: every message gets a random delay (which reorders), may be lost or duplicated,
 * and is dropped when its receiver is down at delivery time. Deterministic under the world's Prng.
 */
import type { Prng } from '../prng.ts';

export interface NetworkFaults {
  lossP: number;
  duplicateP: number;
  delayTicksMin: number;
  delayTicksMax: number;
}

export interface Packet<P> {
  from: string;
  to: string;
  payload: P;
  due: number;
  seq: number;
}

export class SimNetwork<P> {
  private queue: Packet<P>[] = [];
  private seq = 0;
  sent = 0;
  lost = 0;

  constructor(private readonly prng: Prng, public faults: NetworkFaults) {}

  send(from: string, to: string, payload: P, now: number): void {
    this.sent++;
    if (this.prng.chance(this.faults.lossP)) {
      this.lost++;
      return;
    }
    const copies = this.prng.chance(this.faults.duplicateP) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const due = now + this.prng.range(this.faults.delayTicksMin, this.faults.delayTicksMax);
      this.queue.push({ from, to, payload, due, seq: this.seq++ });
    }
  }

  /** Packets due by `now`, in (due, seq) order, removed from the queue. */
  due(now: number): Packet<P>[] {
    const ready = this.queue.filter((p) => p.due <= now).sort((a, b) => a.due - b.due || a.seq - b.seq);
    if (ready.length) this.queue = this.queue.filter((p) => p.due > now);
    return ready;
  }

  get inFlight(): number {
    return this.queue.length;
  }
}
