/**
 * Replay protection (DESIGN §8): a message is fresh when its signed timestamp lies within ±windowMs of our
 * clock and its (sender, id) pair was not seen before. Pure: the clock is an argument. Admit only messages
 * whose signature verified (openEnvelope does), so every sender here is a known peer.
 *
 * Memory is bounded by `idsMax`. Ids leave the set when they fall out of the window, or, under a flood,
 * oldest-inserted first. Either way the guard raises that sender's floor to the departing timestamp and
 * refuses anything from the sender at or below it, so forgetting an id can never let its message back in:
 * at worst a late but genuine message is dropped as STALE during a flood. Floors are per sender, so a peer
 * with a fast clock that floods cannot shut out anyone but itself.
 */
import { ProtocolError } from './errors.ts';

export interface ReplayGuardOptions {
  /** Accepted distance between the sender's timestamp and our clock, either way. */
  windowMs: number;
  /** Most (sender, id) pairs remembered at once. */
  idsMax: number;
}

export const defaultReplayGuardOptions: ReplayGuardOptions = Object.freeze({ windowMs: 5 * 60_000, idsMax: 100_000 });

interface Seen {
  from: string;
  ts: number;
}

export class ReplayGuard {
  readonly options: ReplayGuardOptions;
  /** (sender, id) key → sender and timestamp, in insertion order. */
  private readonly seen = new Map<string, Seen>();
  /** Per sender: every timestamp at or below this was possibly forgotten; refuse it. */
  private readonly floors = new Map<string, number>();

  constructor(options: Partial<ReplayGuardOptions> = {}) {
    this.options = { ...defaultReplayGuardOptions, ...options };
    if (!(this.options.windowMs >= 0) || !(this.options.idsMax >= 1)) {
      throw new RangeError('ReplayGuard needs windowMs ≥ 0 and idsMax ≥ 1');
    }
  }

  /** Ids remembered now. */
  get size(): number {
    return this.seen.size;
  }

  private static key(from: string, id: Uint8Array): string {
    return `${from}\u0000${Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('base64')}`;
  }

  /** The code this message would be refused with, or undefined when it is fresh. Changes nothing. */
  check(from: string, id: Uint8Array, ts: number, now: number): 'STALE' | 'REPLAY' | undefined {
    if (!(Math.abs(now - ts) <= this.options.windowMs)) return 'STALE';
    if (ts <= (this.floors.get(from) ?? -Infinity)) return 'STALE';
    if (this.seen.has(ReplayGuard.key(from, id))) return 'REPLAY';
    return undefined;
  }

  /** Accepts a fresh message and remembers it, or throws ProtocolError STALE / REPLAY. */
  admit(from: string, id: Uint8Array, ts: number, now: number): void {
    const { windowMs } = this.options;
    if (!(Math.abs(now - ts) <= windowMs)) {
      throw new ProtocolError('STALE', `timestamp ${ts} is ${now - ts} ms from our clock (window ±${windowMs} ms)`);
    }
    const floor = this.floors.get(from);
    if (floor !== undefined && ts <= floor) {
      throw new ProtocolError('STALE', `timestamp ${ts} is older than the replay memory for ${from} reaches (${floor})`);
    }
    const key = ReplayGuard.key(from, id);
    if (this.seen.has(key)) throw new ProtocolError('REPLAY', `message id already seen from ${from}`);
    this.forget(now - windowMs);
    this.seen.set(key, { from, ts });
  }

  /** Drops expired ids from the front, then the oldest ones while at the bound; raises their senders' floors. */
  private forget(expiredBeforeTs: number): void {
    for (const [key, { from, ts }] of this.seen) {
      if (ts >= expiredBeforeTs && this.seen.size < this.options.idsMax) break;
      this.seen.delete(key);
      if (ts > (this.floors.get(from) ?? -Infinity)) this.floors.set(from, ts);
    }
    if (this.floors.size > this.options.idsMax) {
      // a floor below the window refuses nothing the window does not already refuse
      for (const [from, ts] of this.floors) if (ts < expiredBeforeTs) this.floors.delete(from);
    }
  }
}
