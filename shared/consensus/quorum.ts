/**
 * Quorum arithmetic and vote counting, kept apart from the protocol (as etcd raft's `quorum` package).
 *
 * With n replicas of which at most f are Byzantine, a quorum is ceil((n+f+1)/2): any two quorums share
 * at least f+1 replicas, so at least one correct one, and n-f correct replicas still form a quorum
 * when n >= 3f+1. For n = 3f+1 this is 2f+1. A client trusts f+1 matching replies.
 *
 * Votes are counted by distinct replica id (fabric#370): a replica that sends the same vote twice, or
 * a twin sharing its key, is still one vote.
 */
import { configError } from '../errors.ts';
import type { ReplicaId } from './types.ts';

export function quorumSize(n: number, f: number): number {
  return Math.ceil((n + f + 1) / 2);
}

export function defaultFaults(n: number): number {
  return Math.floor((n - 1) / 3);
}

/** Refuses cluster sizes the protocol cannot run with. */
export function checkClusterSize(n: number, f: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw configError('consensus.n', `must be a positive integer, got ${n}`);
  if (!Number.isSafeInteger(f) || f < 0) throw configError('consensus.f', `must be a non-negative integer, got ${f}`);
  if (n < 3 * f + 1) throw configError('consensus.f', `n = ${n} replicas tolerate at most f = ${defaultFaults(n)}`);
}

/**
 * Votes for one subject (a seq's prepares, a checkpoint), grouped by the value voted for. A replica
 * has one vote: its first counts, and anything else it sends later for the subject is ignored. A
 * correct replica never votes twice; a Byzantine one gains nothing, and cannot grow the set.
 */
export class VoteSet<V> {
  private readonly byKey = new Map<string, Map<ReplicaId, V>>();
  private readonly voted = new Set<ReplicaId>();

  /** Records a vote; returns false if this replica already voted. */
  add(key: string, replica: ReplicaId, vote: V): boolean {
    if (this.voted.has(replica)) return false;
    this.voted.add(replica);
    let votes = this.byKey.get(key);
    if (!votes) {
      votes = new Map();
      this.byKey.set(key, votes);
    }
    votes.set(replica, vote);
    return true;
  }

  count(key: string): number {
    return this.byKey.get(key)?.size ?? 0;
  }

  votes(key: string): V[] {
    return [...(this.byKey.get(key)?.values() ?? [])];
  }

  voters(key: string): ReplicaId[] {
    return [...(this.byKey.get(key)?.keys() ?? [])];
  }

  /** Whether this replica's vote is already in (checked before paying for its signature). */
  hasVoted(replica: ReplicaId): boolean {
    return this.voted.has(replica);
  }

  get(key: string, replica: ReplicaId): V | undefined {
    return this.byKey.get(key)?.get(replica);
  }

  has(key: string, replica: ReplicaId): boolean {
    return this.byKey.get(key)?.has(replica) ?? false;
  }

  keys(): string[] {
    return [...this.byKey.keys()];
  }
}
