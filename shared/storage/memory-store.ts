/**
 * An in-memory shard store with the same contract as the filesystem store, for unit tests and the
 * deterministic simulator. Copies bytes in and out, so callers cannot change stored shards by accident;
 * `corrupt(id)` changes one on purpose (to test healing). `now` supplies the time stamps of staged
 * transactions (inject the simulated clock).
 */
import { checkShardId, checkTxId, shardIdOf } from './ids.ts';
import { shardCorrupt, shardMissing, shardTooLarge, storageFull, storeClosed } from './errors.ts';
import { SHARD_BYTES_MAX_DEFAULT, type GetIntoOptions, type ShardStore, type StagedTransaction, type VolumeSpace } from './store.ts';

export interface MemoryShardStoreOptions {
  /** Capacity reported by space() and enforced on writes. */
  capacityBytes?: number;
  shardBytesMax?: number;
  now?: () => number;
  volumeId?: string;
}

export const defaultMemoryShardStoreOptions = {
  capacityBytes: 1024 ** 4,
  shardBytesMax: SHARD_BYTES_MAX_DEFAULT,
  now: (): number => Date.now(),
  volumeId: 'mem-0',
} as const satisfies Required<MemoryShardStoreOptions>;

interface Staged {
  shards: Map<string, Uint8Array>;
  modifiedMs: number;
}

export class MemoryShardStore implements ShardStore {
  private readonly options: Required<MemoryShardStoreOptions>;
  private readonly committed = new Map<string, Uint8Array>();
  private readonly staged = new Map<string, Staged>();
  private closed = false;

  constructor(options: MemoryShardStoreOptions = {}) {
    this.options = { ...defaultMemoryShardStoreOptions, ...options };
  }

  async putStaged(txId: string, data: Uint8Array, knownId?: string): Promise<string> {
    this.check(data);
    checkTxId(txId);
    if (knownId !== undefined) checkShardId(knownId);
    const id = knownId ?? shardIdOf(data);
    this.reserve(data.length);
    const tx = this.staged.get(txId) ?? { shards: new Map<string, Uint8Array>(), modifiedMs: 0 };
    tx.shards.set(id, Uint8Array.from(data));
    tx.modifiedMs = this.options.now();
    this.staged.set(txId, tx);
    return id;
  }

  /** Nothing to do in memory (there is no power loss to survive); checks its argument like the others. */
  async syncStaged(txId: string): Promise<void> {
    this.checkOpen();
    checkTxId(txId);
  }

  async commit(txId: string): Promise<void> {
    this.checkOpen();
    checkTxId(txId);
    const tx = this.staged.get(txId);
    if (tx === undefined) return;
    for (const [id, data] of tx.shards) this.committed.set(id, data);
    this.staged.delete(txId);
  }

  async abort(txId: string): Promise<void> {
    this.checkOpen();
    checkTxId(txId);
    this.staged.delete(txId);
  }

  async put(data: Uint8Array, knownId?: string): Promise<string> {
    this.check(data);
    if (knownId !== undefined) checkShardId(knownId);
    const id = knownId ?? shardIdOf(data);
    this.reserve(data.length);
    this.committed.set(id, Uint8Array.from(data));
    return id;
  }

  async get(id: string): Promise<Uint8Array> {
    const data = this.unverified(id);
    const actual = shardIdOf(data);
    if (actual !== id) throw shardCorrupt(id, this.options.volumeId, actual);
    return Uint8Array.from(data);
  }

  /** The committed bytes of `id` as stored (not a copy), unhashed. */
  private unverified(id: string): Uint8Array {
    this.checkOpen();
    checkShardId(id);
    const data = this.committed.get(id);
    if (data === undefined) throw shardMissing(id);
    return data;
  }

  async getStaged(id: string): Promise<Uint8Array> {
    this.checkOpen();
    checkShardId(id);
    let corrupt: string | undefined;
    for (const tx of this.staged.values()) {
      const data = tx.shards.get(id);
      if (data === undefined) continue;
      const actual = shardIdOf(data);
      if (actual === id) return Uint8Array.from(data);
      corrupt ??= actual;
    }
    if (corrupt !== undefined) throw shardCorrupt(id, this.options.volumeId, corrupt);
    throw shardMissing(id);
  }

  async getInto(id: string, target: Uint8Array, options: GetIntoOptions = {}): Promise<void> {
    const data = options.verify === false ? this.unverified(id) : await this.get(id);
    if (data.length !== target.length) throw shardCorrupt(id, this.options.volumeId, `a shard of ${data.length} bytes, not ${target.length}`);
    target.set(data);
  }

  async has(id: string): Promise<boolean> {
    this.checkOpen();
    checkShardId(id);
    return this.committed.has(id);
  }

  async delete(id: string): Promise<boolean> {
    this.checkOpen();
    checkShardId(id);
    return this.committed.delete(id);
  }

  async deleteMany(ids: readonly string[]): Promise<number> {
    this.checkOpen();
    for (const id of ids) checkShardId(id);
    let removed = 0;
    for (const id of ids) if (await this.delete(id)) removed++;
    return removed;
  }

  async *list(): AsyncIterable<string> {
    this.checkOpen();
    for (const id of [...this.committed.keys()]) if (this.committed.has(id)) yield id;
  }

  async stagedTransactions(): Promise<StagedTransaction[]> {
    this.checkOpen();
    return [...this.staged.entries()]
      .filter(([, tx]) => tx.shards.size > 0)
      .map(([txId, tx]) => ({
        txId,
        shardIds: [...tx.shards.keys()].sort(),
        bytes: [...tx.shards.values()].reduce((a, d) => a + d.length, 0),
        modifiedMs: tx.modifiedMs,
      }))
      .sort((a, b) => (a.txId < b.txId ? -1 : a.txId > b.txId ? 1 : 0));
  }

  async space(): Promise<VolumeSpace[]> {
    this.checkOpen();
    const usedBytes = this.committedBytes();
    return [{
      id: this.options.volumeId,
      path: `memory:${this.options.volumeId}`,
      shards: this.committed.size,
      usedBytes,
      freeBytes: Math.max(0, this.options.capacityBytes - usedBytes - this.stagedBytes()),
      totalBytes: this.options.capacityBytes,
    }];
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test hook: flips one bit of a committed shard so that `get` reports SHARD_CORRUPT. */
  corrupt(id: string): void {
    const data = this.committed.get(id);
    if (data === undefined) throw shardMissing(id);
    const copy = data.length === 0 ? Uint8Array.of(0) : Uint8Array.from(data);
    if (data.length > 0) copy[0] = copy[0]! ^ 1;
    this.committed.set(id, copy);
  }

  private committedBytes(): number {
    let n = 0;
    for (const d of this.committed.values()) n += d.length;
    return n;
  }

  private stagedBytes(): number {
    let n = 0;
    for (const tx of this.staged.values()) for (const d of tx.shards.values()) n += d.length;
    return n;
  }

  private reserve(bytes: number): void {
    if (this.committedBytes() + this.stagedBytes() + bytes > this.options.capacityBytes) {
      throw storageFull([`memory:${this.options.volumeId}`], bytes);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw storeClosed();
  }

  private check(data: Uint8Array): void {
    this.checkOpen();
    if (data.length > this.options.shardBytesMax) throw shardTooLarge(data.length, this.options.shardBytesMax);
  }
}
