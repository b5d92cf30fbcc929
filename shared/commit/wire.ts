/**
 * The messages the hybrid commit moves between nodes. PrepareRequest and PrepareResponse are the protocol's
 * own (shared/protocol); this module adds two hints and registers them with the protocol registry:
 *
 *   TxAbort      coordinator → targets: "I gave up on this transaction". A target that has not signed for it
 *                drops its staging at once; one that has signed only looks at the ledger sooner (deadline.ts).
 *   TxCommitted  coordinator → targets: "its block committed". A target asks its ledger and commits.
 *
 * Neither is trusted for safety: only ledger facts commit or roll back signed staging.
 *
 * A refusal (PrepareResponse ok:false) carries `reason` = "CODE: sentence" with a code from RefusalCode.
 */
import { type PrepareRequest, type PrepareResponse, hash32, txIdSchema } from '../protocol/messages.ts';
import { registerMessageType } from '../protocol/registry.ts';
import { object, str, uint, type Schema } from '../protocol/schema.ts';

export interface TxAbort {
  txId: Uint8Array;
  reason: string;
}
export interface TxCommitted {
  txId: Uint8Array;
  height: number;
  blockHash: Uint8Array;
}

export const txAbortSchema: Schema<TxAbort> = object({ txId: txIdSchema, reason: str({ max: 1024 }) });
export const txCommittedSchema: Schema<TxCommitted> = object({ txId: txIdSchema, height: uint(), blockHash: hash32 });

declare module '../protocol/messages.ts' {
  interface MessageBodies {
    TxAbort: TxAbort;
    TxCommitted: TxCommitted;
  }
}
registerMessageType('TxAbort', txAbortSchema);
registerMessageType('TxCommitted', txCommittedSchema);

export type CommitMessage =
  | { type: 'PrepareRequest'; body: PrepareRequest }
  | { type: 'PrepareResponse'; body: PrepareResponse }
  | { type: 'TxAbort'; body: TxAbort }
  | { type: 'TxCommitted'; body: TxCommitted };

/** Why a target refused a PrepareRequest. */
export const RefusalCode = {
  /** The ledger already holds the transaction: the coordinator should ask its ledger and finish. */
  committed: 'COMMITTED',
  /** The ledger passed the transaction's deadline without it; it can never commit. */
  expired: 'EXPIRED',
  /** This coordinator aborted the transaction here before. */
  aborted: 'ABORTED',
  /** A shard was sent without data (re-solicit) but is not staged here: send it again with data. */
  shardDataNeeded: 'SHARD_DATA_NEEDED',
  hashMismatch: 'HASH_MISMATCH',
  stageFailed: 'STAGE_FAILED',
  busy: 'BUSY',
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

export function refusal(code: RefusalCode, text: string): string {
  return `${code}: ${text}`;
}

/** The code of a refusal reason; undefined for a reason in no known form. */
export function refusalCode(reason: string | undefined): RefusalCode | undefined {
  if (reason === undefined) return undefined;
  const code = reason.slice(0, Math.max(0, reason.indexOf(':')));
  return (Object.values(RefusalCode) as string[]).includes(code) ? (code as RefusalCode) : undefined;
}
