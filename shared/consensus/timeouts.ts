/**
 * A logical-tick timeout (TigerBeetle's `Timeout`): it fires after `after` ticks once started, and
 * every timeout of a replica sits in one table so the tick handler reads as a list. The primary's
 * silence is no timer but a deadline on the tick it was last heard (suspicion.ts), checked every tick.
 */
export class Timeout {
  private ticks = 0;
  private isRunning = false;

  constructor(
    readonly name: string,
    public after: number,
  ) {}

  get running(): boolean {
    return this.isRunning;
  }

  start(after = this.after): void {
    this.after = after;
    this.ticks = 0;
    this.isRunning = true;
  }

  stop(): void {
    this.ticks = 0;
    this.isRunning = false;
  }

  /** Advances one tick; true when the timeout fires (it then stays stopped until started again). */
  tick(): boolean {
    if (!this.isRunning) return false;
    this.ticks += 1;
    if (this.ticks < this.after) return false;
    this.stop();
    return true;
  }
}

export interface ReplicaTimeouts {
  /** Normal case: waiting for a request to execute. View change: waiting for the new view. */
  readonly view: Timeout;
  /** Periodic status broadcast (retransmission driver). */
  readonly status: Timeout;
  /** Waiting for a state snapshot from one replica. */
  readonly fetch: Timeout;
}
