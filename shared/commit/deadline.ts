/**
 * The deadline rule: why a participant may roll back staged data without ever rolling back a committed
 * transaction (DESIGN §5: "Staged data that no block commits is rolled back after a timeout. A committed
 * transaction is never rolled back").
 *
 * A timeout alone is unsafe: a target that gives up while its signed PrepareResponse sits in a CommitRequest
 * on its way through consensus would drop shards a block is about to reference. So the decision is the
 * ledger's, through a deadline every party can compute:
 *
 *  1. The requester fixes the transaction's `ts` (ms) when it mints the txId; every coordinator, including
 *     one that takes over, puts that same `ts` in the record. A coordinator refuses a `ts` more than
 *     `clockSkewMsMax` ahead of its own clock.
 *  2. Ledger rule (`admitRecord`, applied by whoever builds blocks, in block order): a record is included in
 *     a block only if block.time ≤ record.ts + txLifetimeMs, block.time ≥ record.ts − clockSkewMsMax, no
 *     earlier record has the same txId, and every placement target signed the transaction digest. Block
 *     times never decrease (ledger/verify.ts), so once a block with time > ts + txLifetimeMs is in the
 *     chain, no later block can hold the transaction: its outcome is final.
 *  3. A participant cannot see `ts` (it signs the digest, not the record), so it bounds it: the requester
 *     minted `ts` before the coordinator (whose clock accepted it) sent the PrepareRequest, hence
 *     ts ≤ receivedMs + 2·clockSkewMsMax for the participant's own receive time. Its rollback deadline is
 *     `participantDeadlineMs = receivedMs + 2·clockSkewMsMax + txLifetimeMs` ≥ ts + txLifetimeMs (any
 *     receive time works, so after a crash the store's staging time serves).
 *  4. A participant rolls back a signed transaction only on a ledger answer that (a) does not hold the
 *     txId and (b) has a tip whose time is past its deadline; both from the same ledger prefix. A
 *     participant that never signed may drop its staging at any time (no record can carry its signature).
 *  5. The coordinator answers the requester only with a ledger verdict: committed (the record is in a block;
 *     any coordinator's record for that txId counts) or EXPIRED (tip time > ts + txLifetimeMs without it).
 *     Two coordinators therefore never give different outcomes for one transaction.
 *
 * The ledger must advance for rollbacks to happen: shells honour `wantLedgerPast(timeMs)` by cutting an
 * (empty) block once their clock passes timeMs. Residual trust: a Byzantine coordinator could write a `ts`
 * far ahead of the requester's; only its own transaction is affected (a target may drop a shard the record
 * later names, which repair heals from the other k). Carrying `ts` in the signed PrepareRequest would close
 * that (a protocol change).
 */
import { bytesEqual, transactionDigest } from '../protocol/digest.ts';
import type { BlockRecord } from '../protocol/messages.ts';
import type { CommitOptions } from './options.ts';

/** Last block time at which the ledger may still include a record with this `ts`. */
export function txDeadlineMs(ts: number, options: Pick<CommitOptions, 'txLifetimeMs'>): number {
  return ts + options.txLifetimeMs;
}

/** A participant's rollback deadline for a transaction whose PrepareRequest it received at receivedMs. */
export function participantDeadlineMs(receivedMs: number, options: Pick<CommitOptions, 'txLifetimeMs' | 'clockSkewMsMax'>): number {
  return receivedMs + 2 * options.clockSkewMsMax + options.txLifetimeMs;
}

export const AdmissionReason = {
  duplicateTx: 'DUPLICATE_TX',
  expired: 'EXPIRED',
  futureTs: 'FUTURE_TS',
  missingSignature: 'MISSING_SIGNATURE',
  extraSignature: 'EXTRA_SIGNATURE',
  badSignature: 'BAD_SIGNATURE',
} as const;
export type AdmissionReason = (typeof AdmissionReason)[keyof typeof AdmissionReason];

export type Admission = { ok: true } | { ok: false; reason: AdmissionReason; message: string };

export interface AdmissionContext {
  /** Time of the block being built. */
  blockTimeMs: number;
  /** Whether a committed (or earlier in this block) record already has this txId. */
  isCommitted(txId: Uint8Array): boolean;
  /** Verifies a target's signature over the transaction digest with its registered key. */
  verifySignature(signer: string, digest: Uint8Array, signature: Uint8Array): boolean;
}

/** The ledger rule of point 2. Apply it to records in block order, marking each admitted txId committed. */
export function admitRecord(record: BlockRecord, ctx: AdmissionContext, options: Pick<CommitOptions, 'txLifetimeMs' | 'clockSkewMsMax'>): Admission {
  if (ctx.isCommitted(record.txId)) return { ok: false, reason: 'DUPLICATE_TX', message: 'the ledger already holds this transaction' };
  const deadline = txDeadlineMs(record.ts, options);
  if (ctx.blockTimeMs > deadline) {
    return { ok: false, reason: 'EXPIRED', message: `block time ${ctx.blockTimeMs} is past the transaction's deadline ${deadline}` };
  }
  if (record.ts > ctx.blockTimeMs + options.clockSkewMsMax) {
    return { ok: false, reason: 'FUTURE_TS', message: `ts ${record.ts} is more than ${options.clockSkewMsMax} ms ahead of block time ${ctx.blockTimeMs}` };
  }
  const targets = new Set(record.shards.map((s) => s.node));
  const signed = new Set<string>();
  const digest = transactionDigest(record);
  for (const { signer, signature } of record.signatures) {
    if (!targets.has(signer) || signed.has(signer)) {
      return { ok: false, reason: 'EXTRA_SIGNATURE', message: `${signer} is not a placement target or signed twice` };
    }
    if (!ctx.verifySignature(signer, digest, signature)) return { ok: false, reason: 'BAD_SIGNATURE', message: `${signer}'s signature does not verify` };
    signed.add(signer);
  }
  for (const t of targets) {
    if (!signed.has(t)) return { ok: false, reason: 'MISSING_SIGNATURE', message: `placement target ${t} did not sign` };
  }
  return { ok: true };
}

/** The record for `txId` in a list of records, if any. */
export function findRecord(records: readonly BlockRecord[], txId: Uint8Array): BlockRecord | undefined {
  return records.find((r) => bytesEqual(r.txId, txId));
}
