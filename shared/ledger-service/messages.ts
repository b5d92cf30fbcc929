/**
 * The messages replicas exchange about ledger blocks, registered with the protocol registry (they travel
 * in signed envelopes like every other message):
 *
 *   BlockSignature     one validator's signature over the hash of the block it formed at `height`.
 *                      `want` asks the receiver to answer with the signatures it holds for that block (a
 *                      replica that restarted, or lost messages). Signatures verify on their own, so a
 *                      node may pass on another signer's (the certificate answer does).
 *   LedgerSyncRequest  "send me your certified blocks from `fromHeight`": a replica whose chain has a gap
 *                      (it caught up by PBFT state transfer, or lost blocks it formed in a crash).
 *   LedgerSyncBlocks   certified blocks in height order; each is checked against the receiver's own tip
 *                      and validator set (ledger/verify.ts) before it is appended, so any one peer may answer.
 */
import { blockSchema, type Block } from '../ledger/block.ts';
import { hash32, nodeIdSchema, signature64 } from '../protocol/messages.ts';
import { registerMessageType, type Message } from '../protocol/registry.ts';
import type { OutgoingMessage } from '../protocol/envelope.ts';
import { array, bool, object, optional, uint, type Schema } from '../protocol/schema.ts';

export interface BlockSignature {
  height: number;
  hash: Uint8Array;
  signer: string;
  signature: Uint8Array;
  want?: boolean;
}

export interface LedgerSyncRequest {
  fromHeight: number;
  blocksMax: number;
}

export interface LedgerSyncBlocks {
  blocks: Block[];
}

/** Most blocks one LedgerSyncBlocks carries. */
export const SYNC_BLOCKS_MAX = 1024;

export const blockSignatureSchema: Schema<BlockSignature> = object({
  height: uint(),
  hash: hash32,
  signer: nodeIdSchema,
  signature: signature64,
  want: optional(bool()),
});
export const ledgerSyncRequestSchema: Schema<LedgerSyncRequest> = object({ fromHeight: uint(), blocksMax: uint({ min: 1, max: SYNC_BLOCKS_MAX }) });
export const ledgerSyncBlocksSchema: Schema<LedgerSyncBlocks> = object({ blocks: array(blockSchema, { max: SYNC_BLOCKS_MAX }) });

declare module '../protocol/messages.ts' {
  interface MessageBodies {
    BlockSignature: BlockSignature;
    LedgerSyncRequest: LedgerSyncRequest;
    LedgerSyncBlocks: LedgerSyncBlocks;
  }
}
registerMessageType('BlockSignature', blockSignatureSchema);
registerMessageType('LedgerSyncRequest', ledgerSyncRequestSchema);
registerMessageType('LedgerSyncBlocks', ledgerSyncBlocksSchema);

/** What the ledger service sends and receives (the envelope body with its type). */
export type LedgerMessage =
  | { type: 'BlockSignature'; body: BlockSignature }
  | { type: 'LedgerSyncRequest'; body: LedgerSyncRequest }
  | { type: 'LedgerSyncBlocks'; body: LedgerSyncBlocks };

export const LEDGER_MESSAGE_TYPES: readonly LedgerMessage['type'][] = ['BlockSignature', 'LedgerSyncRequest', 'LedgerSyncBlocks'];

/** The envelope message for sealEnvelope (`to` for one peer). */
export function outgoingLedgerMessage(message: LedgerMessage, from: string, ts: number, to?: string): OutgoingMessage<LedgerMessage['type']> {
  return { type: message.type, from, ts, body: message.body, ...(to === undefined ? {} : { to }) } as OutgoingMessage<LedgerMessage['type']>;
}

/** The ledger message an opened envelope carries; undefined for any other type. */
export function ledgerMessageOf(message: Message): LedgerMessage | undefined {
  return (LEDGER_MESSAGE_TYPES as readonly string[]).includes(message.type) ? ({ type: message.type, body: message.body } as LedgerMessage) : undefined;
}
