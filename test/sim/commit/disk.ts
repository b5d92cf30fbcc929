/**
 * A node's shard store in the simulator: the ShardStore semantics the commit relies on, synchronously.
 * Staged shards are durable per transaction (with the node's clock at the last write, like
 * StagedTransaction.modifiedMs); commit moves a transaction's staged shards to committed, abort drops
 * them. Both survive crashes; in-flight writes do not (the world decides what a crash leaves).
 */
import { createHash } from 'node:crypto';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class SimDisk {
  readonly staged = new Map<string, { shards: Map<string, Uint8Array>; modifiedMs: number }>();
  readonly committed = new Map<string, Uint8Array>();

  putStaged(txKey: string, data: Uint8Array, nowMs: number): void {
    let tx = this.staged.get(txKey);
    if (!tx) this.staged.set(txKey, (tx = { shards: new Map(), modifiedMs: nowMs }));
    tx.shards.set(createHash('sha256').update(data).digest('hex'), data);
    tx.modifiedMs = nowMs;
  }

  commit(txKey: string): void {
    const tx = this.staged.get(txKey);
    if (!tx) return;
    for (const [id, data] of tx.shards) this.committed.set(id, data);
    this.staged.delete(txKey);
  }

  abort(txKey: string): void {
    this.staged.delete(txKey);
  }

  hasCommitted(hash: Uint8Array): boolean {
    const data = this.committed.get(hex(hash));
    return data !== undefined && createHash('sha256').update(data).digest('hex') === hex(hash);
  }

  stagedTransactions(): { txId: string; shardIds: string[]; modifiedMs: number }[] {
    return [...this.staged].map(([txId, t]) => ({ txId, shardIds: [...t.shards.keys()].sort(), modifiedMs: t.modifiedMs }));
  }
}
