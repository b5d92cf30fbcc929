/**
 * Digests that signatures cover. Each starts with its own domain-separation tag, so a signature made for one
 * purpose can never be replayed as another (a transaction signature is not an envelope or block signature).
 */
import { createHash, randomBytes } from 'node:crypto';
import { encodeCanonical } from './codec.ts';
import type { BlockRecord } from './messages.ts';

export const TX_DIGEST_DOMAIN = '2baksa/v1/tx-digest\u0000';
export const MESSAGE_ID_BYTES = 16;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** The transaction a record describes, without the signatures over it. */
export type RecordContent = Omit<BlockRecord, 'signatures'>;

/**
 * SHA-256 over the tag and the canonical MessagePack of the record's fields except `signatures`
 * (keys sorted; see encodeCanonical). Placement targets sign this in PrepareResponse, and the ledger
 * verifier checks the signatures in each record against it.
 */
export function transactionDigest(record: RecordContent): Uint8Array {
  const content: RecordContent = {
    txId: record.txId,
    ts: record.ts,
    account: record.account,
    snapshotId: record.snapshotId,
    manifestRoot: record.manifestRoot,
    dataShards: record.dataShards,
    parityShards: record.parityShards,
    shards: record.shards.map((s) => ({ chunk: s.chunk, index: s.index, hash: s.hash, node: s.node })),
  };
  return sha256(Buffer.from(TX_DIGEST_DOMAIN), encodeCanonical(content));
}

/** A fresh message id: 16 random bytes. */
export function newMessageId(): Uint8Array {
  return new Uint8Array(randomBytes(MESSAGE_ID_BYTES));
}

/** Constant-time-irrelevant byte equality for public values. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
