/**
 * Applies the ordered account command log (AccountsApp) to this node's sqlite account database, one
 * command per transaction, in order, and remembers how far it got: the row `node_applied(position,
 * chain)` changes in the same transaction as the command, so after a crash the database is exactly
 * at some position and the next command is applied exactly once.
 *
 * The database may be ahead of the in-memory log after a restart (the replica re-learns committed
 * requests from its persist log and peers): the materializer then waits until the log reaches the
 * database's position and checks that the chains agree there. A disagreement means this database holds
 * a history the cluster does not, and the node stops with the reason rather than serve it.
 *
 * `waitFor(position)` resolves with this node's result of the command at `position` (the node that
 * submitted a command answers its caller with it). Results are kept for the most recent
 * `resultsKept` positions only; a waiter registers before the result exists in practice (the submitter
 * learns the position from the PBFT reply, before or after the local apply).
 */
import type { Logger } from 'pino';
import type { Database } from '../../shared/db/index.ts';
import { ProtocolError } from '../../shared/protocol/index.ts';
import { bytesEqual } from '../../shared/protocol/index.ts';
import { apply } from '../accounts/state-machine.ts';
import type { ApplyResult } from '../accounts/types.ts';
import { decodeAccountOp, type AccountsApp } from './accounts-app.ts';

const SCHEMA = `CREATE TABLE IF NOT EXISTS node_applied (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  position INTEGER NOT NULL,
  chain BLOB NOT NULL
)`;

export interface MaterializerOptions {
  resultsKept: number;
  /** Called once when the node must stop (a divergent history, a failing database). */
  onFatal: (error: Error) => void;
  logger: Logger;
  /** Called after each applied command with its position and result (quota alerts, metrics). */
  onApplied?: (position: number, result: ApplyResult) => void;
}

interface Waiter {
  resolve: (r: ApplyResult) => void;
  reject: (e: Error) => void;
}

export class AccountsMaterializer {
  private positionApplied = 0;
  private chainApplied: Uint8Array = new Uint8Array(32);
  private readonly results = new Map<number, ApplyResult>();
  private readonly waiters = new Map<number, Waiter[]>();
  private running: Promise<void> | undefined;
  private again = false;
  private failure: Error | undefined;
  private stopped = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly db: Database,
    private readonly app: AccountsApp,
    private readonly options: MaterializerOptions,
  ) {}

  /** The last position applied to the database. */
  get position(): number {
    return this.positionApplied;
  }

  async start(): Promise<void> {
    await this.db.exec(SCHEMA);
    const row = await this.db.get<{ position: number; chain: Uint8Array }>('SELECT position, chain FROM node_applied WHERE id = 1');
    if (row) {
      this.positionApplied = row.position;
      this.chainApplied = new Uint8Array(row.chain);
    }
    this.unsubscribe = this.app.onChange(() => this.kick());
    this.kick();
  }

  /** This node's result of the command at `position`, once its database has applied it. */
  waitFor(position: number): Promise<ApplyResult> {
    if (this.failure) return Promise.reject(this.failure);
    const done = this.results.get(position);
    if (done) return Promise.resolve(done);
    if (position <= this.positionApplied) {
      return Promise.reject(new Error(`the result of account command ${position} is no longer kept (applied at ${this.positionApplied})`));
    }
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(position) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(position, list);
    });
  }

  /** Waits for the current run to end and stops applying. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.running;
    const error = new Error('the aggregator node is stopping');
    for (const list of this.waiters.values()) for (const w of list) w.reject(error);
    this.waiters.clear();
  }

  private kick(): void {
    if (this.stopped || this.failure) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .catch((error: Error) => this.fail(error))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async run(): Promise<void> {
    // Ahead of the log (a restart): wait for it, then check that both histories agree.
    if (this.app.position < this.positionApplied) return;
    const chainThere = this.app.chainAt(this.positionApplied)!;
    if (!bytesEqual(chainThere, this.chainApplied)) {
      throw new Error(
        `invariant violated: the account database is at command ${this.positionApplied} with a history the cluster does not have (chain mismatch); ` +
          'move its accounts.db aside and restart the node: it rebuilds the database from the cluster',
      );
    }
    while (!this.stopped && this.positionApplied < this.app.position) {
      const position = this.positionApplied + 1;
      const op = this.app.opAt(position)!;
      const chain = this.app.chainAt(position)!;
      const result = await this.db.transaction(async (db) => {
        let r: ApplyResult;
        try {
          r = await apply(db, decodeAccountOp(op));
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          r = { ok: false, error: { code: 'INVALID_COMMAND', message: `account command ${position} is not a command: ${error.message}` } };
        }
        await db.run('INSERT INTO node_applied(id, position, chain) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET position = excluded.position, chain = excluded.chain', [position, Buffer.from(chain)]);
        return r;
      });
      this.positionApplied = position;
      this.chainApplied = chain;
      this.results.set(position, result);
      if (this.results.size > this.options.resultsKept) {
        const oldest = this.results.keys().next().value;
        if (oldest !== undefined) this.results.delete(oldest);
      }
      const list = this.waiters.get(position);
      if (list) {
        this.waiters.delete(position);
        for (const w of list) w.resolve(result);
      }
      this.options.onApplied?.(position, result);
    }
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.options.logger.error({ err: error.message }, 'account database stopped applying commands');
    for (const list of this.waiters.values()) for (const w of list) w.reject(error);
    this.waiters.clear();
    this.options.onFatal(error);
  }
}
