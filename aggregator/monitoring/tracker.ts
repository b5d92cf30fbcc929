/**
 * The heartbeat deadline tracker: a pure state machine (no clock, no timers, no I/O).
 *
 *   step({type: 'register' | 'heartbeat' | 'deregister' | 'configure' | 'forget' | 'tick', …}) → actions
 *
 * Every monitored account has one row in one table: its interval, when it was last seen, and its
 * deadline = last seen + silenceFactor × interval (Box Backup 3: "no heart beat message from the
 * client after approximately 2 x the heart beat interval"). A `tick` whose `now` passes a deadline
 * yields exactly one `alert` for that silence; the next heartbeat yields `clear`. An orderly
 * shutdown (`deregister`) drops the deadline, so no alert follows. Accounts with monitoring off are
 * remembered but never alerted on. Time only enters as the `now` of each event; the shell supplies
 * it (and uses `nextDeadlineMs()` to set its one timer).
 *
 * Silence is only silence if the monitor was listening: `listening` says it (re)started hearing
 * heartbeats at `now` (a node started after being down, or its broker connection came back). A deadline
 * that falls before now + silenceFactor × interval is then held until that time, since a heartbeat
 * sent while the monitor could not hear is lost to it: without the hold, a node restarted after an
 * outage of two intervals alerted at once on every gateway it owned an alert of. The alert, if it
 * comes, keeps the deadline as its time (so its id is the one the nodes that kept listening gave it).
 */
import { unreachable } from '../../shared/errors.ts';
import { DeadlineHeap } from './deadline-heap.ts';

export interface TrackerOptions {
  /** Silence for this many intervals raises an alert. */
  silenceFactor: number;
}

export const defaultTrackerOptions: TrackerOptions = { silenceFactor: 2 };

export type TrackerState = 'ok' | 'silent' | 'deregistered';

export interface TrackedAccount {
  key: string;
  intervalS: number;
  monitored: boolean;
  state: TrackerState;
  lastSeenMs: number;
  /** When silence becomes an alert; undefined when nothing is pending (deregistered, unmonitored, alerted). */
  deadlineMs: number | undefined;
  /** No alert before this: the monitor began listening late (`listening`); undefined when it did not. */
  holdUntilMs: number | undefined;
  version: number;
}

export type TrackerEvent =
  | { type: 'register'; key: string; now: number; intervalS: number; monitored: boolean }
  | { type: 'heartbeat'; key: string; now: number; intervalS: number; monitored: boolean }
  | { type: 'deregister'; key: string; now: number }
  /**
   * A changed interval or monitoring switch. With `now`, a shorter interval gives the agent until
   * now + silenceFactor × the new interval to send on it (it learns it now), never a deadline already
   * past; a longer one counts from the last heartbeat as usual.
   */
  | { type: 'configure'; key: string; intervalS: number; monitored: boolean; now?: number }
  | { type: 'forget'; key: string }
  /** The monitor (re)started hearing heartbeats at `now`: deadlines before a full window from now are held. */
  | { type: 'listening'; now: number }
  | { type: 'tick'; now: number };

export type TrackerAction =
  | { type: 'alert'; key: string; event: 'silent'; deadlineMs: number; lastSeenMs: number; intervalS: number }
  | { type: 'clear'; key: string; event: 'silent'; atMs: number; silentSinceMs: number };

export class HeartbeatTracker {
  readonly options: TrackerOptions;
  private readonly table = new Map<string, TrackedAccount>();
  private readonly heap = new DeadlineHeap();

  constructor(options: Partial<TrackerOptions> = {}) {
    this.options = { ...defaultTrackerOptions, ...options };
  }

  step(event: TrackerEvent): TrackerAction[] {
    switch (event.type) {
      case 'register':
      case 'heartbeat':
        return this.seen(event);
      case 'deregister': {
        const row = this.table.get(event.key);
        if (!row) return [];
        row.state = 'deregistered';
        row.lastSeenMs = Math.max(row.lastSeenMs, event.now);
        this.setDeadline(row, undefined);
        return [];
      }
      case 'configure': {
        const row = this.table.get(event.key);
        if (!row) return [];
        const before = row.deadlineMs;
        row.intervalS = event.intervalS;
        row.monitored = event.monitored;
        if (row.state === 'ok') {
          let deadline = this.deadlineOf(row);
          if (deadline !== undefined && event.now !== undefined) {
            const grace = event.now + Math.round(this.options.silenceFactor * row.intervalS * 1000);
            deadline = Math.max(deadline, Math.min(before ?? grace, grace));
          }
          const held = row.holdUntilMs;
          this.setDeadline(row, deadline);
          if (held !== undefined) this.hold(row, held);
        }
        return [];
      }
      case 'forget': {
        const row = this.table.get(event.key);
        if (row) {
          row.version++;
          this.table.delete(event.key);
        }
        return [];
      }
      case 'listening':
        this.listening(event.now);
        return [];
      case 'tick':
        return this.tick(event.now);
      default:
        return unreachable(event, 'tracker event');
    }
  }

  private seen(event: Extract<TrackerEvent, { type: 'register' | 'heartbeat' }>): TrackerAction[] {
    const actions: TrackerAction[] = [];
    let row = this.table.get(event.key);
    if (!row) {
      row = {
        key: event.key,
        intervalS: event.intervalS,
        monitored: event.monitored,
        state: 'ok',
        lastSeenMs: event.now,
        deadlineMs: undefined,
        holdUntilMs: undefined,
        version: 0,
      };
      this.table.set(event.key, row);
    }
    // Heartbeats may arrive out of order (QoS 1 redelivery): an older one never moves the deadline back.
    if (event.now < row.lastSeenMs && row.state !== 'deregistered') return [];
    if (row.state === 'silent') actions.push({ type: 'clear', key: row.key, event: 'silent', atMs: event.now, silentSinceMs: row.lastSeenMs });
    row.state = 'ok';
    row.lastSeenMs = event.now;
    row.intervalS = event.intervalS;
    row.monitored = event.monitored;
    // A hold outlives heartbeats: those an agent queued while the monitor could not hear arrive late,
    // stamped when they were sent, and would otherwise set a deadline already past.
    const held = row.holdUntilMs;
    this.setDeadline(row, this.deadlineOf(row));
    if (held !== undefined) this.hold(row, held);
    return actions;
  }

  private deadlineOf(row: TrackedAccount): number | undefined {
    if (!row.monitored) return undefined;
    return row.lastSeenMs + Math.round(this.options.silenceFactor * row.intervalS * 1000);
  }

  private setDeadline(row: TrackedAccount, deadlineMs: number | undefined): void {
    row.version++;
    row.deadlineMs = deadlineMs;
    row.holdUntilMs = undefined;
    if (deadlineMs !== undefined) this.heap.push({ deadlineMs, key: row.key, version: row.version });
    if (this.heap.size > 64 && this.heap.size > 2 * this.table.size) this.heap.compact((e) => this.isLive(e.key, e.version));
  }

  private isLive(key: string, version: number): boolean {
    const row = this.table.get(key);
    return row !== undefined && row.version === version && row.deadlineMs !== undefined;
  }

  private listening(now: number): void {
    for (const row of this.table.values()) this.hold(row, now + Math.round(this.options.silenceFactor * row.intervalS * 1000));
  }

  /** No alert for `row` before `until` (when its deadline is earlier). */
  private hold(row: TrackedAccount, until: number): void {
    if (row.deadlineMs === undefined || until <= row.deadlineMs || (row.holdUntilMs !== undefined && until <= row.holdUntilMs)) return;
    // Same version: the entry at the deadline stays live and is passed over while held (tick, nextDeadlineMs).
    row.holdUntilMs = until;
    this.heap.push({ deadlineMs: until, key: row.key, version: row.version });
  }

  /** A live entry before its row's hold: the entry at the hold stands for it. */
  private heldPast(key: string, at: number): boolean {
    const hold = this.table.get(key)?.holdUntilMs;
    return hold !== undefined && at < hold;
  }

  private tick(now: number): TrackerAction[] {
    const actions: TrackerAction[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.deadlineMs > now) break;
      this.heap.pop();
      if (!this.isLive(top.key, top.version)) continue;
      if (this.heldPast(top.key, top.deadlineMs)) continue; // its entry at the hold comes later
      const row = this.table.get(top.key)!;
      const deadlineMs = row.deadlineMs!;
      row.state = 'silent';
      row.deadlineMs = undefined;
      row.holdUntilMs = undefined;
      row.version++;
      actions.push({ type: 'alert', key: row.key, event: 'silent', deadlineMs, lastSeenMs: row.lastSeenMs, intervalS: row.intervalS });
    }
    return actions;
  }

  /** The earliest pending deadline, for the shell's timer; undefined when none is pending. */
  nextDeadlineMs(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      if (this.isLive(top.key, top.version) && !this.heldPast(top.key, top.deadlineMs)) return top.deadlineMs;
      this.heap.pop();
    }
  }

  get(key: string): Readonly<TrackedAccount> | undefined {
    return this.table.get(key);
  }

  get size(): number {
    return this.table.size;
  }

  /** Every row, for the board and for tests. */
  rows(): Readonly<TrackedAccount>[] {
    return [...this.table.values()];
  }
}
