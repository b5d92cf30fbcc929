/**
 * Inputs and outputs of the two commit cores. The shells turn network messages, disk completions, ledger
 * blocks and clock ticks into events, and execute the actions in the order returned.
 *
 * Consensus is reached only through two seams: the `submitForOrdering` action ("order this CommitRequest";
 * PBFT or any total-order log) and the `blockCommitted` event ("this block committed with these records"),
 * plus the local `queryLedger` / `ledgerAnswer` pair, answered from one consistent prefix of the node's
 * chain. Nothing here knows how the ledger is built.
 */
import type { BlockRecord, CommitRequest, CommitResponse, PrepareRequest, PrepareResponse, ShardPut } from '../protocol/messages.ts';
import type { Member } from '../placement/member.ts';
import type { CommitMessage, TxAbort, TxCommitted } from './wire.ts';

/** A block the node's ledger committed, in height order. */
export interface BlockCommitted {
  kind: 'blockCommitted';
  height: number;
  blockHash: Uint8Array;
  timeMs: number;
  records: readonly BlockRecord[];
}

/** Where a committed transaction is. */
export interface CommittedTx {
  height: number;
  blockHash: Uint8Array;
  record: BlockRecord;
}

/** The answer to `queryLedger`, from one prefix of the chain: the tx if the prefix holds it, and the tip time. */
export interface LedgerAnswer {
  kind: 'ledgerAnswer';
  txId: Uint8Array;
  committed?: CommittedTx;
  /** Time of the last block of the prefix; absent for an empty chain. */
  tipTimeMs?: number;
}

export interface Tick {
  kind: 'tick';
}

/** What a transaction commits: the record's content and every shard with its bytes (placement not yet made). */
export interface TxSpec {
  txId: Uint8Array;
  /** Fixed by the requester when it mints txId, ms since the epoch; the deadline counts from it. */
  ts: number;
  account: string;
  snapshotId: string;
  manifestRoot: Uint8Array;
  dataShards: number;
  parityShards: number;
  /** Every shard of every chunk (chunk, index, hash, data). */
  shards: readonly ShardPut[];
  /** Regions the account allows; undefined = anywhere. */
  allowedRegions?: readonly string[];
}

export type CoordinatorEvent =
  | {
      kind: 'begin';
      /** Who gets the CommitResponse. */
      requester: string;
      spec: TxSpec;
      /** Live members that may hold shards (with domain, region, weight). */
      members: readonly Member[];
      nowMs: number;
    }
  | { kind: 'prepareResponse'; from: string; body: PrepareResponse }
  | BlockCommitted
  | LedgerAnswer
  | Tick;

export type CoordinatorAction =
  | { kind: 'send'; to: string; message: CommitMessage }
  | { kind: 'submitForOrdering'; request: CommitRequest }
  | { kind: 'respond'; to: string; response: CommitResponse }
  | { kind: 'queryLedger'; txId: Uint8Array }
  | { kind: 'wantLedgerPast'; timeMs: number };

/** A transaction the shard store still holds staged (ShardStore.stagedTransactions), after a restart. */
export interface RestoredStaging {
  /** The store's transaction id: the hex of the txId bytes. */
  txId: string;
  /** Ids (SHA-256 hex) of the staged shards. */
  shardIds: readonly string[];
  /** When the transaction last staged a shard, ms. */
  modifiedMs: number;
}

export type ParticipantEvent =
  | { kind: 'prepareRequest'; from: string; body: PrepareRequest; nowMs: number }
  /** The shell finished a `stage` action: ok means every shard of it is durable (fsync). */
  | { kind: 'staged'; ticket: number; ok: boolean; reason?: string }
  | { kind: 'abort'; from: string; body: TxAbort }
  | { kind: 'committedHint'; from: string; body: TxCommitted }
  | { kind: 'restore'; staged: readonly RestoredStaging[] }
  | BlockCommitted
  | LedgerAnswer
  | Tick;

export type ParticipantAction =
  /** Write these shards durably into staging of `txKey`, then report `staged` with the ticket. */
  /** `shards`: each one's data checked against its hash. */
  | { kind: 'stage'; txId: Uint8Array; txKey: string; ticket: number; shards: ShardPut[] }
  | { kind: 'commitStaged'; txId: Uint8Array; txKey: string }
  | { kind: 'abortStaged'; txId: Uint8Array; txKey: string; reason: string }
  | { kind: 'send'; to: string; message: CommitMessage }
  | { kind: 'queryLedger'; txId: Uint8Array }
  | { kind: 'wantLedgerPast'; timeMs: number };

/** The store key of a transaction id: lowercase hex (ShardStore accepts [A-Za-z0-9_-]{1,128}). */
export function txKeyOf(txId: Uint8Array): string {
  return Buffer.from(txId).toString('hex');
}

/** The core a commit message goes to, as its event: PrepareResponse to the coordinator, the rest to the participant. */
export type RoutedCommitMessage = { role: 'coordinator'; event: CoordinatorEvent } | { role: 'participant'; event: ParticipantEvent };

/** Turns a commit message from `from` into the event of the core that takes it (one mapping for every shell). */
export function routeCommitMessage(from: string, m: CommitMessage, nowMs: number): RoutedCommitMessage {
  switch (m.type) {
    case 'PrepareRequest':
      return { role: 'participant', event: { kind: 'prepareRequest', from, body: m.body, nowMs } };
    case 'PrepareResponse':
      return { role: 'coordinator', event: { kind: 'prepareResponse', from, body: m.body } };
    case 'TxAbort':
      return { role: 'participant', event: { kind: 'abort', from, body: m.body } };
    case 'TxCommitted':
      return { role: 'participant', event: { kind: 'committedHint', from, body: m.body } };
  }
}
