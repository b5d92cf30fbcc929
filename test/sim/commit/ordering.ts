/**
 * The fake ordering service standing in for PBFT: one total-order log of blocks. Submitted CommitRequests
 * arrive after a delay (or are lost; the coordinator resubmits); a block is cut every few ticks when
 * something is pending, or when a `wantLedgerPast` time has passed (an empty block, so rollbacks can
 * happen on an idle ledger). Some submissions arrive very late and ordering sometimes stalls for a while
 * (view changes), so records reach the ledger close to their deadline. Each record passes the deadline rule `admitRecord` in block order; block
 * times never decrease. Nodes see blocks through their own lagging view (world.ts).
 */
import { admitRecord } from '../../../shared/commit/index.ts';
import { sha256 } from '../../../shared/protocol/digest.ts';
import type { BlockRecord, CommitRequest } from '../../../shared/protocol/messages.ts';
import type { Prng } from '../prng.ts';

export interface SimBlock {
  height: number;
  timeMs: number;
  hash: Uint8Array;
  records: BlockRecord[];
}

export interface OrderingParams {
  submitLossP: number;
  submitDelayTicksMax: number;
  /** Some submissions take long (a view change, a slow primary): probability and extra delay. */
  slowSubmitP: number;
  slowSubmitTicksMax: number;
  /** Per tick, the chance that ordering stalls (no blocks) for up to stallTicksMax. */
  stallP: number;
  stallTicksMax: number;
  blockEveryTicksMin: number;
  blockEveryTicksMax: number;
  proposerSkewMs: number;
  txLifetimeMs: number;
  clockSkewMsMax: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class SimOrdering {
  readonly blocks: SimBlock[] = [];
  readonly committed = new Map<string, { height: number; record: BlockRecord }>();
  private pending: { request: CommitRequest; arrives: number }[] = [];
  private wants: number[] = [];
  private nextCutTick = 0;
  rejected = new Map<string, number>();

  constructor(
    private readonly prng: Prng,
    private readonly params: OrderingParams,
    private readonly verifySignature: (signer: string, digest: Uint8Array, sig: Uint8Array) => boolean,
  ) {}

  submit(request: CommitRequest, now: number): void {
    if (this.prng.chance(this.params.submitLossP)) return;
    const slow = this.prng.chance(this.params.slowSubmitP) ? this.prng.range(0, this.params.slowSubmitTicksMax) : 0;
    this.pending.push({ request, arrives: now + this.prng.range(1, this.params.submitDelayTicksMax) + slow });
  }

  want(timeMs: number): void {
    if (this.wants.length < 64 && !this.wants.includes(timeMs)) this.wants.push(timeMs);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Cuts at most one block; returns it. `simMs` is true time. */
  tick(now: number, simMs: number): SimBlock | undefined {
    if (this.prng.chance(this.params.stallP)) this.nextCutTick = Math.max(this.nextCutTick, now + this.prng.range(1, this.params.stallTicksMax));
    if (now < this.nextCutTick) return undefined;
    const arrived = this.pending.filter((p) => p.arrives <= now);
    const prev = this.blocks[this.blocks.length - 1];
    const timeMs = Math.max(prev?.timeMs ?? 0, simMs + this.prng.range(-this.params.proposerSkewMs, this.params.proposerSkewMs));
    const wanted = this.wants.some((w) => timeMs > w);
    if (arrived.length === 0 && !wanted) return undefined;
    this.pending = this.pending.filter((p) => p.arrives > now);
    this.wants = this.wants.filter((w) => timeMs <= w);
    this.nextCutTick = now + this.prng.range(this.params.blockEveryTicksMin, this.params.blockEveryTicksMax);
    const records: BlockRecord[] = [];
    const inBlock = new Set<string>();
    for (const { request } of arrived) {
      const key = hex(request.txId);
      const verdict = admitRecord(
        request.record,
        { blockTimeMs: timeMs, isCommitted: () => this.committed.has(key) || inBlock.has(key), verifySignature: this.verifySignature },
        this.params,
      );
      if (!verdict.ok) {
        this.rejected.set(verdict.reason, (this.rejected.get(verdict.reason) ?? 0) + 1);
        continue;
      }
      inBlock.add(key);
      records.push(request.record);
    }
    const height = this.blocks.length;
    const block: SimBlock = { height, timeMs, records, hash: sha256(Buffer.from(`block:${height}:${timeMs}:${[...inBlock].join(',')}`)) };
    this.blocks.push(block);
    for (const r of records) this.committed.set(hex(r.txId), { height, record: r });
    return block;
  }
}
