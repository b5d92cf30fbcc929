/**
 * Every bound and timeout of the hybrid commit in one table (TigerBeetle style). Ticks are logical: the
 * shells tick the cores at a fixed rate (the defaults assume 10 ticks a second). Wall-clock time enters
 * only as `nowMs` in events and as the ledger's block time.
 */
import { configError } from '../errors.ts';

export interface CommitOptions {
  /** A record is admissible in a block only while block time ≤ record.ts + txLifetimeMs (deadline.ts). */
  txLifetimeMs: number;
  /** Largest clock difference between any two nodes (requester, coordinator, participant, proposer). */
  clockSkewMsMax: number;
  /** Coordinator: wait for one PrepareResponse before re-sending the PrepareRequest. */
  prepareTimeoutTicks: number;
  /** Coordinator: PrepareRequests sent to one target in one round before it counts as failed. */
  prepareAttemptsMax: number;
  /** Coordinator: rounds that re-place the shards of failed targets before the transaction is abandoned. */
  replaceRoundsMax: number;
  /** Coordinator: re-submit the CommitRequest for ordering after this long without seeing it committed. */
  orderingRetryTicks: number;
  /** Coordinator: CommitRequest submissions per transaction. */
  orderingSubmitsMax: number;
  /** Both: while waiting for a ledger verdict, ask the ledger this often. */
  ledgerQueryIntervalTicks: number;
  /** Participant: first look at the ledger this long after a transaction was last staged or signed. */
  stagedTimeoutTicks: number;
  /** Coordinator: transactions in flight; more are answered BUSY (not final, retry later). */
  txsInFlightMax: number;
  /** Participant: open (staged, undecided) transactions; more prepares are refused BUSY. */
  openTxsMax: number;
  /** Participant: staging operations in flight for one transaction. */
  pendingStagesPerTxMax: number;
  /** Both: finished transactions remembered to answer duplicates (oldest forgotten first). */
  finishedTxsRememberedMax: number;
  /**
   * Coordinator: hash every shard of a requester's spec against its claimed hash. Off only where the
   * requester is this process's own backup, which hashed the shards a moment before (the edge); targets
   * always hash what they receive.
   */
  checkShardHashes: boolean;
}

export const defaultCommitOptions: CommitOptions = Object.freeze({
  txLifetimeMs: 10 * 60_000,
  clockSkewMsMax: 30_000,
  prepareTimeoutTicks: 50,
  prepareAttemptsMax: 3,
  replaceRoundsMax: 3,
  orderingRetryTicks: 100,
  orderingSubmitsMax: 5,
  ledgerQueryIntervalTicks: 100,
  stagedTimeoutTicks: 6_000,
  txsInFlightMax: 1024,
  openTxsMax: 4096,
  pendingStagesPerTxMax: 16,
  finishedTxsRememberedMax: 4096,
  checkShardHashes: true,
});

/** Merges over the defaults; refuses a bad value with its field name (CONFIG_INVALID). */
export function commitOptions(options: Partial<CommitOptions> = {}): CommitOptions {
  const o: CommitOptions = { ...defaultCommitOptions, ...options };
  if (typeof o.checkShardHashes !== 'boolean') throw configError('commit.checkShardHashes', `must be true or false, got ${String(o.checkShardHashes)}`);
  for (const [field, value] of Object.entries(o)) {
    if (field === 'checkShardHashes') continue;
    const zeroOk = field === 'clockSkewMsMax';
    if (!Number.isSafeInteger(value) || (value as number) < (zeroOk ? 0 : 1)) {
      throw configError(`commit.${field}`, `must be a whole number ≥ ${zeroOk ? 0 : 1}, got ${String(value)}`);
    }
  }
  return o;
}
