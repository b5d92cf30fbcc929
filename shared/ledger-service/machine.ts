/**
 * LedgerMachine: the PBFT Application that turns ordered ops (ops.ts) into ledger blocks.
 *
 * Each committed PBFT batch (one sequence number) becomes at most one block (more only when it passes
 * blockRecordsMax / blockBytesMax). Within a batch every op sees the same block time,
 *   time = max(ctx.timeMs, previous block time)        (block times never decrease: ledger/verify.ts)
 * and records are admitted with `admitRecord` (commit/deadline.ts) in op order against that time; an
 * admitted txId is remembered at once, so a duplicate later in the same batch is refused too.
 *
 * When is a batch sealed into a block? Exactly at the batch boundary, whoever notices it first:
 *   - the next execute() carries another seq;
 *   - the shell reports the PBFT `execute` action (`endBatch(seq)`);
 *   - snapshot() (the core snapshots only after a whole batch ran).
 * All three cut at the same place, so every replica forms byte-identical blocks whatever the timing of
 * its shell, and snapshots never hold a half batch. A batch with no admitted record and no cut op forms
 * no block. Sealed blocks wait in an outbox the shell drains (`takeBlocks`) to certify them.
 *
 * Storage members (ledger/members.ts) are part of the machine's state, not the shell's: an admission record
 * admits its member at once, for the records after it, and snapshots carry the admitted set. (The store
 * learns the same set from certified blocks, but a replica catching up by sync may hold blocks its machine
 * has not executed yet; admitting by the store's view would let replicas disagree on a record.)
 *
 * Everything here is deterministic and synchronous: no clock, no I/O, no randomness.
 */
import { assert } from '../errors.ts';
import { admitRecord } from '../commit/deadline.ts';
import { verify } from '../crypto/sign.ts';
import { GENESIS_PREV_HASH, blockHash, type UnsignedBlock } from '../ledger/block.ts';
import { buildBlock } from '../ledger/build.ts';
import { AdmittedKeys, checkAdmission, isAdmissionRecord } from '../ledger/members.ts';
import type { SignerRegistry } from '../ledger/quorum.ts';
import type { ChainTip } from '../ledger/verify.ts';
import type { Application, ExecuteContext } from '../consensus/types.ts';
import type { BlockRecord } from '../protocol/messages.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { ledgerMachineOptions, type LedgerMachineOptions } from './options.ts';
import { decodeLedgerOp, encodeLedgerResult, opDecodeLimits, type LedgerOp, type LedgerRefusal, type LedgerResult } from './ops.ts';
import { RecentTxs } from './recent-txs.ts';
import { decodeMachineState, encodeMachineState } from './snapshot.ts';

export interface LedgerMachineConfig {
  /** The validator set: the keys that placement targets sign transaction digests with. */
  registry: SignerRegistry;
  options?: Partial<LedgerMachineOptions>;
}

interface Batch {
  seq: number;
  timeMs: number;
  records: BlockRecord[];
  bytes: number;
  /** A cut op asked for this block even if it holds no record. */
  cut: boolean;
}

export interface LedgerMachineStats {
  admitted: number;
  refused: Partial<Record<LedgerRefusal, number>>;
  blocks: number;
}

export class LedgerMachine implements Application {
  readonly options: LedgerMachineOptions;
  private readonly registry: SignerRegistry;
  private tipState: ChainTip | undefined;
  private batch: Batch | undefined;
  private readonly recent = new RecentTxs();
  private admitted = new AdmittedKeys();
  private outbox: UnsignedBlock[] = [];
  readonly stats: LedgerMachineStats = { admitted: 0, refused: {}, blocks: 0 };

  constructor(config: LedgerMachineConfig) {
    this.registry = config.registry;
    this.options = ledgerMachineOptions(config.options);
  }

  // ---- Application --------------------------------------------------------------------------------

  execute(opBytes: Uint8Array, ctx: ExecuteContext): Uint8Array {
    if (this.batch && this.batch.seq !== ctx.seq) this.seal();
    const timeMs = Math.max(Math.floor(ctx.timeMs), this.tipState?.time ?? 0);
    let op: LedgerOp;
    try {
      op = decodeLedgerOp(opBytes, opDecodeLimits(this.options.opBytesMax));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return this.refuse('MALFORMED_OP', error.message);
    }
    return encodeLedgerResult(op.op === 'commit' ? this.commit(op.request.record, opBytes.length, ctx.seq, timeMs) : this.cut(op.pastMs, ctx.seq, timeMs));
  }

  /** Seals the batch first: a checkpoint comes only after a whole batch, so there is never half a batch to save. */
  snapshot(): Uint8Array {
    this.seal();
    return encodeMachineState({ tip: this.tipState, txs: this.recent.entries(), members: this.admitted.members() });
  }

  restore(snapshot: Uint8Array): void {
    const state = decodeMachineState(snapshot, this.options.recentTxsMax);
    this.tipState = state.tip;
    this.batch = undefined;
    this.recent.clear();
    for (const [txId, tx] of state.txs) this.recent.add(txId, tx.ts, tx.height);
    this.admitted = new AdmittedKeys();
    for (const m of state.members) this.admitted.admit(m);
    // Blocks still in the outbox belong to the agreed history (the snapshot is a later state of it): keep them.
  }

  // ---- shell side ---------------------------------------------------------------------------------

  /** The PBFT core executed batch `seq` (its `execute` action): seal it if it is still open. */
  endBatch(seq: number): void {
    if (this.batch && this.batch.seq <= seq) this.seal();
  }

  /** Blocks sealed since the last call, in height order. */
  takeBlocks(): UnsignedBlock[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** The last sealed block (formed, maybe not certified yet); undefined before the first. */
  tip(): ChainTip | undefined {
    return this.tipState;
  }

  /** Where a recent transaction went (only txIds inside their deadline window; the shell indexes the whole chain). */
  lookup(txId: Uint8Array): { height: number } | undefined {
    const tx = this.recent.get(txId);
    return tx && { height: tx.height };
  }

  /** The storage members admitted so far (in the agreed order). */
  members(): AdmittedKeys {
    return this.admitted;
  }

  get recentTxs(): number {
    return this.recent.size;
  }

  // ---- ops ----------------------------------------------------------------------------------------

  private commit(record: BlockRecord, opBytes: number, seq: number, timeMs: number): LedgerResult {
    if (this.recent.size >= this.options.recentTxsMax && !this.recent.has(record.txId)) {
      return this.refusal('LEDGER_FULL', `${this.recent.size} transactions are inside their deadline window; retry later`);
    }
    const joining = isAdmissionRecord(record);
    const admission = admitRecord(
      joining ? { ...record, signatures: [] } : record, // the deadline rule for an admission; its signers answer to checkAdmission
      {
        blockTimeMs: timeMs,
        isCommitted: (txId) => this.recent.has(txId),
        verifySignature: (signer, digest, signature) => {
          const key = this.registry.keyOf(signer) ?? this.admitted.keyOf(signer);
          return key !== undefined && verify(key, digest, signature);
        },
      },
      this.options,
    );
    if (!admission.ok) return this.refusal(admission.reason, admission.message);
    const badAdmission = joining ? checkAdmission(record, this.registry, this.admitted) : undefined;
    if (badAdmission) return this.refusal('BAD_ADMISSION', badAdmission);
    let batch = this.openBatch(seq, timeMs);
    if (batch.records.length > 0 && (batch.records.length >= this.options.blockRecordsMax || batch.bytes + opBytes > this.options.blockBytesMax)) {
      this.seal();
      batch = this.openBatch(seq, timeMs);
    }
    batch.records.push(record);
    batch.bytes += opBytes;
    const height = this.nextHeight();
    this.recent.add(record.txId, record.ts, height);
    this.admitted.learnOne(record, height, batch.records.length - 1); // where the record lands in the block
    this.stats.admitted += 1;
    return { ok: true, height };
  }

  private cut(pastMs: number, seq: number, timeMs: number): LedgerResult {
    const tip = this.tipState;
    if (tip && tip.time > pastMs) return { ok: true, height: tip.height };
    if (timeMs <= pastMs) return this.refusal('TOO_EARLY', `block time ${timeMs} is not past ${pastMs} yet; ask again later`);
    this.openBatch(seq, timeMs).cut = true;
    return { ok: true, height: this.nextHeight() };
  }

  private openBatch(seq: number, timeMs: number): Batch {
    if (!this.batch) this.batch = { seq, timeMs, records: [], bytes: 0, cut: false };
    assert(this.batch.seq === seq && this.batch.timeMs === timeMs, 'a batch has one seq and one block time');
    return this.batch;
  }

  private nextHeight(): number {
    return (this.tipState?.height ?? -1) + 1;
  }

  private seal(): void {
    const batch = this.batch;
    this.batch = undefined;
    if (!batch || (batch.records.length === 0 && !batch.cut)) return;
    const tip = this.tipState;
    const block = buildBlock({
      height: tip ? tip.height + 1 : 0,
      prevHash: tip ? tip.hash : GENESIS_PREV_HASH,
      time: batch.timeMs,
      records: batch.records,
    });
    this.tipState = { height: block.height, hash: blockHash(block), time: block.time };
    this.recent.prune(block.time, this.options.txLifetimeMs);
    this.outbox.push(block);
    this.stats.blocks += 1;
  }

  private refusal(reason: LedgerRefusal, message: string): LedgerResult & { ok: false } {
    this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1;
    return { ok: false, reason, message: message.slice(0, 1024) };
  }

  private refuse(reason: LedgerRefusal, message: string): Uint8Array {
    return encodeLedgerResult(this.refusal(reason, message));
  }
}
