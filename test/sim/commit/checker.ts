/**
 * What must hold in every run (DESIGN §5; seed 000: "re-elects a new leader without rolling back committed
 * transactions"). Immediate checks run when a shell executes an action or the requester hears an answer;
 * `final` runs once the world has settled.
 *
 *  - never rolled back: no node aborts staging of a transaction that the ledger holds with a shard on it;
 *  - commit only what the ledger holds: commitStaged only for transactions in the ledger;
 *  - at most one outcome: the requester never hears two different final answers, ok ⇔ in the ledger,
 *    EXPIRED ⇔ never in the ledger;
 *  - durability: every shard of every committed record is committed (hash-verified) on its node;
 *  - no leftovers: after the timeouts, no node holds staged shards;
 *  - the ledger holds each txId at most once.
 */
import { isFinalResponse } from '../../../shared/commit/index.ts';
import type { CommitResponse } from '../../../shared/protocol/messages.ts';
import type { SimDisk } from './disk.ts';
import type { SimOrdering } from './ordering.ts';

export class SimViolation extends Error {
  override name = 'SimViolation';
}

export function violation(message: string): never {
  throw new SimViolation(message);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class CommitChecker {
  /** txKey → the final answer the requester heard first. */
  readonly outcomes = new Map<string, CommitResponse>();
  rollbacks = 0;
  commits = 0;

  constructor(private readonly ledger: SimOrdering) {}

  onAbortStaged(node: string, txKey: string): void {
    this.rollbacks++;
    const c = this.ledger.committed.get(txKey);
    if (c && c.record.shards.some((s) => s.node === node)) {
      violation(`node ${node} rolled back tx ${txKey.slice(0, 12)} that block ${c.height} commits with shards on it`);
    }
  }

  onCommitStaged(node: string, txKey: string): void {
    this.commits++;
    if (!this.ledger.committed.has(txKey)) violation(`node ${node} committed tx ${txKey.slice(0, 12)} that no block holds`);
  }

  onResponse(from: string, r: CommitResponse): void {
    if (!isFinalResponse(r)) return;
    const key = hex(r.txId);
    const c = this.ledger.committed.get(key);
    if (r.ok && (!c || c.height !== r.height)) violation(`${from} answered tx ${key.slice(0, 12)} committed at ${r.height}, the ledger says ${c?.height ?? 'absent'}`);
    if (!r.ok && c) violation(`${from} answered tx ${key.slice(0, 12)} ${r.reason} but block ${c.height} holds it`);
    const first = this.outcomes.get(key);
    if (first && first.ok !== r.ok) violation(`tx ${key.slice(0, 12)} got two outcomes: ${first.ok ? 'ok' : first.reason} and ${r.ok ? 'ok' : r.reason}`);
    if (!first) this.outcomes.set(key, r);
  }

  final(txKeys: readonly string[], disks: ReadonlyMap<string, SimDisk>): void {
    const seen = new Set<string>();
    for (const b of this.ledger.blocks) {
      for (const r of b.records) {
        const key = hex(r.txId);
        if (seen.has(key)) violation(`the ledger holds tx ${key.slice(0, 12)} twice`);
        seen.add(key);
        for (const s of r.shards) {
          if (!disks.get(s.node)?.hasCommitted(s.hash)) {
            violation(`tx ${key.slice(0, 12)} (block ${b.height}): shard ${s.index} of chunk ${hex(s.chunk).slice(0, 8)} is not committed on ${s.node}`);
          }
        }
      }
    }
    for (const key of txKeys) {
      const o = this.outcomes.get(key);
      if (!o) violation(`tx ${key.slice(0, 12)} never got a final answer`);
      if (o.ok !== this.ledger.committed.has(key)) violation(`tx ${key.slice(0, 12)}: answer ${o.ok ? 'ok' : o.reason} but ledger ${this.ledger.committed.has(key) ? 'holds' : 'lacks'} it`);
    }
    for (const [node, disk] of disks) {
      if (disk.staged.size) violation(`node ${node} still holds staged shards of ${[...disk.staged.keys()].map((k) => k.slice(0, 12)).join(', ')}`);
    }
  }
}
