/**
 * Housekeeping on the cluster's own initiative (Box Backup 2: an account over its soft limit has its old
 * and deleted objects removed, oldest first). Crossing a soft limit records a request in the replicated
 * `housekeeping` table (apply-objects.ts); `accounts housekeep` runs one by hand. This runs the recorded
 * ones: every turn, the node lists the accounts with requests not done, takes those that rendezvous
 * hashing gives it among the live nodes (so one node each, and another once that one is gone), submits
 * `Housekeep` through consensus, and frees the storage of what it removed (`reclaimRemoved`).
 *
 * Two nodes running one account's request (a view of the live nodes that differs for a moment) is
 * harmless: the command is ordered, and the second removes nothing. A node that stops in between leaves
 * the request done and the removed objects' shards in place (their layouts stay in `deletions`).
 */
import type { Database } from '../../shared/db/index.ts';
import type { Logger } from '../../shared/log.ts';
import type { AccountCommand, ApplyResult } from '../accounts/types.ts';
import { reclaimRemoved, type ObjectSink } from '../api/object-sink.ts';
import { alertOwner } from '../monitoring/alert-id.ts';

export interface HousekeeperOptions {
  db: Database;
  /** Orders a command through consensus; resolves with this node's result. */
  submit: (command: AccountCommand) => Promise<ApplyResult>;
  sink: ObjectSink;
  /** This node's name, as in `liveNodes`. */
  self: string;
  /** The nodes up now (this one included). */
  liveNodes: () => readonly string[];
  now: () => number;
  logger: Logger;
}

export interface HousekeepingTurn {
  /** Accounts whose requests this node ran. */
  accounts: number;
  removedObjects: number;
  removedBytes: number;
}

export class Housekeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: HousekeeperOptions) {}

  /** One turn: the pending requests this node owns, run and reclaimed. */
  async runOnce(): Promise<HousekeepingTurn> {
    const turn: HousekeepingTurn = { accounts: 0, removedObjects: 0, removedBytes: 0 };
    const pending = await this.o.db.all<{ account: number }>('SELECT DISTINCT account FROM housekeeping WHERE done_ms IS NULL ORDER BY account');
    const live = this.o.liveNodes();
    for (const { account } of pending) {
      if (this.stopped) break;
      if (alertOwner(`housekeeping:${account}`, live) !== this.o.self) continue;
      const r = await this.o.submit({ type: 'Housekeep', account, atMs: this.o.now(), aggressive: false, reason: 'requested by a crossed soft limit' });
      if (!r.ok) {
        // The account was deleted meanwhile, say: its request goes with it.
        this.o.logger.warn({ account, error: r.error }, 'housekeeping refused');
        continue;
      }
      const removed = (r.value.removedObjects as string[] | undefined) ?? [];
      await reclaimRemoved(this.o.db, this.o.sink, account, removed);
      turn.accounts++;
      turn.removedObjects += removed.length;
      turn.removedBytes += Number(r.value.removedBytes ?? 0);
      this.o.logger.info({ account, removedObjects: removed.length, removedBytes: r.value.removedBytes }, 'housekeeping done');
    }
    return turn;
  }

  /** Runs a turn every `intervalMs` (never two at once). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(() => this.runOnce()).catch((err: unknown) => this.o.logger.error({ err }, 'housekeeping turn failed'));
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a turn in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
