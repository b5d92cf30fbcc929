/**
 * The transactions the ledger machine must still recognise as duplicates: every admitted txId whose
 * deadline (ts + txLifetimeMs) the chain has not passed. Once block time is past a record's deadline, a
 * record with that txId and ts is refused EXPIRED anyway, so its entry may go.
 *
 * Kept in admission order; pruning drops expired entries from the front and stops at the first live one,
 * so an entry can outlive its deadline by at most the spread of ts in the window (lifetime + skew). That
 * is harmless (it still refuses a duplicate) and keeps pruning O(expired). The order is part of the
 * snapshot, so every replica prunes exactly alike.
 *
 * A duplicate carrying a *different* ts after its entry went is not caught here: that needs the placement
 * targets to sign a second digest (ts is in it), which only a Byzantine coordinator's own transaction can
 * suffer. Full history lookups are the shell's (LedgerService keeps an index of the whole chain).
 */
export interface RecentTx {
  ts: number;
  height: number;
}

const keyOf = (txId: Uint8Array): string => Buffer.from(txId).toString('hex');

export class RecentTxs {
  private readonly byKey = new Map<string, RecentTx>();

  get size(): number {
    return this.byKey.size;
  }

  get(txId: Uint8Array): RecentTx | undefined {
    return this.byKey.get(keyOf(txId));
  }

  has(txId: Uint8Array): boolean {
    return this.byKey.has(keyOf(txId));
  }

  add(txId: Uint8Array, ts: number, height: number): void {
    this.byKey.set(keyOf(txId), { ts, height });
  }

  /** Drops front entries whose deadline is before `blockTimeMs`. */
  prune(blockTimeMs: number, txLifetimeMs: number): void {
    for (const [key, tx] of this.byKey) {
      if (tx.ts + txLifetimeMs >= blockTimeMs) return;
      this.byKey.delete(key);
    }
  }

  /** Entries in order, for the snapshot. */
  entries(): [txId: Uint8Array, tx: RecentTx][] {
    return [...this.byKey].map(([key, tx]) => [new Uint8Array(Buffer.from(key, 'hex')), tx]);
  }

  clear(): void {
    this.byKey.clear();
  }
}
