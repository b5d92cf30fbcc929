/**
 * The simulated network: every packet gets a random delay (so packets reorder), may be lost or
 * duplicated, and never crosses a link that is down. Links go down one way at a time, which builds
 * partitions (majority/minority, isolation, one-way) and swizzle-clogging. In manual mode (scripted
 * scenarios) packets wait in a queue until the script delivers or drops them.
 */
import type { Message } from '../../shared/consensus/index.ts';
import type { Prng } from './prng.ts';

export interface NetworkOptions {
  lossRate: number;
  duplicateRate: number;
  delayTicksMin: number;
  delayTicksMax: number;
}

export const perfectNetwork: NetworkOptions = { lossRate: 0, duplicateRate: 0, delayTicksMin: 1, delayTicksMax: 1 };

export interface Packet {
  readonly id: number;
  readonly from: string;
  readonly to: string;
  readonly payload: Message | Uint8Array;
  readonly deliverAt: number;
}

export class SimNetwork {
  private readonly buckets = new Map<number, Packet[]>();
  private readonly down = new Set<string>();
  /** Manual mode: packets in send order, waiting for the script. */
  readonly queue: Packet[] = [];
  private nextId = 1;
  readonly stats = { sent: 0, lost: 0, blocked: 0, duplicated: 0, delivered: 0 };

  constructor(
    private readonly rng: Prng,
    public options: NetworkOptions,
    readonly manual = false,
  ) {}

  send(from: string, to: string, payload: Message | Uint8Array, now: number): void {
    this.stats.sent += 1;
    if (this.isDown(from, to)) {
      this.stats.blocked += 1;
      return;
    }
    if (this.manual) {
      this.queue.push({ id: this.nextId++, from, to, payload, deliverAt: now });
      return;
    }
    const { lossRate, duplicateRate, delayTicksMin, delayTicksMax } = this.options;
    if (lossRate > 0 && this.rng.chance(lossRate)) {
      this.stats.lost += 1;
      return;
    }
    const copies = duplicateRate > 0 && this.rng.chance(duplicateRate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated += 1;
    for (let i = 0; i < copies; i++) {
      const deliverAt = now + this.rng.range(delayTicksMin, delayTicksMax);
      let bucket = this.buckets.get(deliverAt);
      if (!bucket) this.buckets.set(deliverAt, (bucket = []));
      bucket.push({ id: this.nextId++, from, to, payload, deliverAt });
    }
  }

  /** Packets due at `now`, in random order, minus those whose link went down meanwhile. */
  due(now: number): Packet[] {
    const bucket = this.buckets.get(now);
    if (!bucket) return [];
    this.buckets.delete(now);
    const out = bucket.filter((p) => !this.isDown(p.from, p.to));
    this.stats.blocked += bucket.length - out.length;
    this.stats.delivered += out.length;
    return this.rng.shuffle(out);
  }

  inFlight(): number {
    let count = this.queue.length;
    for (const b of this.buckets.values()) count += b.length;
    return count;
  }

  isDown(from: string, to: string): boolean {
    return this.down.size > 0 && this.down.has(`${from}>${to}`);
  }

  linkDown(from: string, to: string): void {
    this.down.add(`${from}>${to}`);
  }

  linkUp(from: string, to: string): void {
    this.down.delete(`${from}>${to}`);
  }

  downLinks(): string[] {
    return [...this.down];
  }

  /** Cuts every link between the groups (both ways); links inside a group stay. */
  partition(groups: readonly (readonly string[])[]): void {
    for (const a of groups) for (const b of groups) {
      if (a === b) continue;
      for (const x of a) for (const y of b) this.linkDown(x, y);
    }
  }

  heal(): void {
    this.down.clear();
  }
}
