/**
 * The membership tracker: a pure core (no I/O, no clock) that turns node state messages into a view of
 * who is online (Sparkplug B 3.0 NBIRTH/NDEATH with bdSeq; DESIGN §4).
 *
 * Every node is `online` (its birth), `offline` (it said goodbye: an orderly death) or `dead` (its Last
 * Will fired), with `since`, the tick of its last change. For one node, with b the bdSeq of an event and
 * r the record held:
 *   - a message not signed by the node itself is ignored (`foreign-signer`);
 *   - b < r.bdSeq: the message belongs to an older session and is ignored (`stale`), so a late will
 *     never marks a live node dead;
 *   - b > r.bdSeq: a newer session; its state replaces the record;
 *   - b = r.bdSeq: a death ends the session (online → dead; online or dead → offline when orderly); a
 *     birth after its own session's death is stale; a repeated birth refreshes the details.
 * The final view of a node depends only on the set of messages delivered, not on their order: the
 * highest session wins, and within it orderly beats will beats birth.
 *
 * Time comes in as `tick(nowTicks)`. A node gone (offline or dead) for `goneAfterTicks` yields one `gone`
 * change (for repair); `goneLongerThan(ticks)` lists such nodes at any time.
 */
import type { NodeCapacity } from './state-message.ts';

export type NodeStatus = 'online' | 'offline' | 'dead';

export interface StateEvent {
  kind: 'state';
  /** The node of the topic the message came on. */
  nodeId: string;
  /** The authenticated sender of the message. */
  signer: string;
  online: boolean;
  bdSeq: number;
  orderly?: boolean;
  pubkey?: Uint8Array;
  capacity?: NodeCapacity;
  version?: string;
  validators?: Uint8Array;
}

export interface TickEvent {
  kind: 'tick';
  nowTicks: number;
}

export type MembershipEvent = StateEvent | TickEvent;

export interface MemberRecord {
  nodeId: string;
  status: NodeStatus;
  bdSeq: number;
  /** Tick of the last status change (or new session). */
  since: number;
  pubkey?: Uint8Array;
  capacity?: NodeCapacity;
  version?: string;
  /** The validator-set digest of its latest birth (state-message.ts), when it carried one. */
  validators?: Uint8Array;
}

export type IgnoreReason = 'foreign-signer' | 'stale';

export type MembershipChange =
  | { kind: 'status'; nodeId: string; status: NodeStatus; previous: NodeStatus | undefined; bdSeq: number; since: number }
  | { kind: 'gone'; nodeId: string; status: Exclude<NodeStatus, 'online'>; since: number; goneTicks: number }
  | { kind: 'ignored'; nodeId: string; reason: IgnoreReason; bdSeq: number };

export interface MembershipTrackerOptions {
  /** A node gone this long yields one `gone` change. */
  goneAfterTicks: number;
}

export const defaultMembershipTrackerOptions: MembershipTrackerOptions = Object.freeze({ goneAfterTicks: 300 });

interface Entry extends MemberRecord {
  goneReported: boolean;
}

function statusOf(event: StateEvent): NodeStatus {
  return event.online ? 'online' : event.orderly ? 'offline' : 'dead';
}

export class MembershipTracker {
  readonly options: MembershipTrackerOptions;
  private readonly entries = new Map<string, Entry>();
  private nowTicks = 0;

  constructor(options: Partial<MembershipTrackerOptions> = {}, startTicks = 0) {
    this.options = { ...defaultMembershipTrackerOptions, ...options };
    if (!(this.options.goneAfterTicks >= 0)) throw new RangeError('goneAfterTicks must be ≥ 0');
    this.nowTicks = startTicks;
  }

  get now(): number {
    return this.nowTicks;
  }

  step(event: MembershipEvent): MembershipChange[] {
    switch (event.kind) {
      case 'state':
        return this.onState(event);
      case 'tick':
        return this.tick(event.nowTicks);
      default: {
        const never: never = event;
        throw new Error(`invariant violated: unknown membership event ${JSON.stringify(never)}`);
      }
    }
  }

  /** Advances time (never backwards) and reports nodes that have now been gone for `goneAfterTicks`. */
  tick(nowTicks: number): MembershipChange[] {
    if (nowTicks > this.nowTicks) this.nowTicks = nowTicks;
    const changes: MembershipChange[] = [];
    for (const e of this.entries.values()) {
      if (e.status === 'online' || e.goneReported) continue;
      const goneTicks = this.nowTicks - e.since;
      if (goneTicks >= this.options.goneAfterTicks) {
        e.goneReported = true;
        changes.push({ kind: 'gone', nodeId: e.nodeId, status: e.status, since: e.since, goneTicks });
      }
    }
    return changes;
  }

  private onState(event: StateEvent): MembershipChange[] {
    const { nodeId, bdSeq } = event;
    if (event.signer !== nodeId) return [{ kind: 'ignored', nodeId, reason: 'foreign-signer', bdSeq }];
    const entry = this.entries.get(nodeId);
    const next = statusOf(event);
    if (!entry || bdSeq > entry.bdSeq) return [this.set(nodeId, entry, next, event)];
    if (bdSeq < entry.bdSeq) return [{ kind: 'ignored', nodeId, reason: 'stale', bdSeq }];
    // the same session
    if (next === 'online') {
      if (entry.status !== 'online') return [{ kind: 'ignored', nodeId, reason: 'stale', bdSeq }];
      this.details(entry, event);
      return [];
    }
    if (entry.status === 'offline' || entry.status === next) return [];
    return [this.set(nodeId, entry, next, event)];
  }

  private details(entry: Entry, event: StateEvent): void {
    if (event.pubkey) entry.pubkey = event.pubkey;
    if (event.capacity) entry.capacity = event.capacity;
    if (event.version !== undefined) entry.version = event.version;
    if (event.validators) entry.validators = event.validators;
  }

  private set(nodeId: string, previous: Entry | undefined, status: NodeStatus, event: StateEvent): MembershipChange {
    const entry: Entry = { nodeId, status, bdSeq: event.bdSeq, since: this.nowTicks, goneReported: false };
    if (previous) {
      if (previous.pubkey) entry.pubkey = previous.pubkey;
      if (previous.capacity) entry.capacity = previous.capacity;
      if (previous.version !== undefined) entry.version = previous.version;
      if (previous.validators) entry.validators = previous.validators;
    }
    this.details(entry, event);
    this.entries.set(nodeId, entry);
    return { kind: 'status', nodeId, status, previous: previous?.status, bdSeq: event.bdSeq, since: this.nowTicks };
  }

  get(nodeId: string): MemberRecord | undefined {
    const e = this.entries.get(nodeId);
    return e ? record(e) : undefined;
  }

  /** Every node seen, sorted by id. */
  members(): MemberRecord[] {
    return [...this.entries.values()].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)).map(record);
  }

  online(): string[] {
    return this.members().filter((m) => m.status === 'online').map((m) => m.nodeId);
  }

  /** Nodes offline or dead for more than `ticks` (candidates for repair). */
  goneLongerThan(ticks: number): MemberRecord[] {
    return this.members().filter((m) => m.status !== 'online' && this.nowTicks - m.since > ticks);
  }

  /** Drops a node from the view (decommissioned); a later message brings it back. */
  forget(nodeId: string): boolean {
    return this.entries.delete(nodeId);
  }
}

function record(e: Entry): MemberRecord {
  const r: MemberRecord = { nodeId: e.nodeId, status: e.status, bdSeq: e.bdSeq, since: e.since };
  if (e.pubkey) r.pubkey = e.pubkey;
  if (e.capacity) r.capacity = { ...e.capacity };
  if (e.version !== undefined) r.version = e.version;
  if (e.validators) r.validators = e.validators;
  return r;
}
