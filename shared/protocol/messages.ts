/**
 * The typed messages of the 2baksa protocol (DESIGN §4, §5) and their schemas.
 *
 * Hybrid commit: an agent's BackupRequest reaches the transaction's coordinator; the coordinator sends each
 * placement target a PrepareRequest with its shards; a target stages them and answers PrepareResponse with
 * its signature over the transaction digest; the coordinator submits a CommitRequest (holding the
 * BlockRecord with those signatures) to consensus; when the block commits, CommitResponse goes back.
 * BlockRecord is also a message of its own (a record announced or migrated on its own). Consensus is an
 * opaque body the PBFT transport fills with its own encoding.
 *
 * `MessageBodies` maps each type name to its body type. Another module adds its own messages by declaration
 * merging (`declare module '.../messages.ts' { interface MessageBodies { Foo: FooBody } }`) and registers
 * the schema with `registerMessageType('Foo', fooSchema)`.
 */
import { array, bool, bytes, object, optional, str, uint, type Schema } from './schema.ts';

export const HASH_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Transaction ids are 16 random bytes, or a 32-byte digest. */
export const TX_ID_BYTES_MIN = 16;
export const TX_ID_BYTES_MAX = 32;
/** The largest opaque consensus payload one envelope carries. */
export const CONSENSUS_BODY_BYTES_MAX = 4 * 1024 * 1024;

export const recordBounds = {
  shardsMax: 256 * 1024,
  signaturesMax: 256,
  chunkIdsMax: 256 * 1024,
  prepareShardsMax: 4096,
  reasonCharsMax: 1024,
} as const;

/** Characters that may not appear in ids that become MQTT topic segments. */
const TOPIC_UNSAFE = /[/+#\u0000-\u001f\u007f]/;
const CONTROL = /[\u0000-\u001f\u007f]/;

export const hash32: Schema<Uint8Array> = bytes({ len: HASH_BYTES });
export const signature64: Schema<Uint8Array> = bytes({ len: SIGNATURE_BYTES });
export const txIdSchema: Schema<Uint8Array> = bytes({ min: TX_ID_BYTES_MIN, max: TX_ID_BYTES_MAX });
/** A node (gateway or replica) or agent id, as in envelope `from`/`to`: also an MQTT topic segment. */
export const nodeIdSchema: Schema<string> = str({ min: 1, max: 255, forbidden: TOPIC_UNSAFE });
/** An account: a hex account number or an RFC 1034 name up to 255 characters; also a topic segment. */
export const accountSchema: Schema<string> = str({ min: 1, max: 255, forbidden: TOPIC_UNSAFE });
export const snapshotIdSchema: Schema<string> = str({ min: 1, max: 128, forbidden: CONTROL });
const reasonSchema = str({ max: recordBounds.reasonCharsMax });

/** Where one shard of one chunk lives. */
export interface ShardPlacement {
  /** Chunk id (HMAC-SHA-256 of the plaintext under the tenant dedup key). */
  chunk: Uint8Array;
  /** Shard index in the Reed–Solomon codeword, 0 ≤ index < dataShards + parityShards. */
  index: number;
  /** SHA-256 of the shard bytes. */
  hash: Uint8Array;
  /** The node that stores it. */
  node: string;
}
export const shardPlacementSchema: Schema<ShardPlacement> = object({
  chunk: hash32,
  index: uint({ max: 255 }),
  hash: hash32,
  node: nodeIdSchema,
});

/** A placement target's Ed25519 signature over the transaction digest (see digest.ts). */
export interface TxSignature {
  signer: string;
  signature: Uint8Array;
}
export const txSignatureSchema: Schema<TxSignature> = object({ signer: nodeIdSchema, signature: signature64 });

/** The ledger entry of one committed backup transaction. */
export interface BlockRecord {
  txId: Uint8Array;
  /** Coordinator time when the transaction was prepared, ms since the epoch. */
  ts: number;
  account: string;
  snapshotId: string;
  /** Root hash of the encrypted snapshot manifest. */
  manifestRoot: Uint8Array;
  /** Reed–Solomon geometry k and m. */
  dataShards: number;
  parityShards: number;
  shards: ShardPlacement[];
  signatures: TxSignature[];
}
export const blockRecordSchema: Schema<BlockRecord> = object(
  {
    txId: txIdSchema,
    ts: uint(),
    account: accountSchema,
    snapshotId: snapshotIdSchema,
    manifestRoot: hash32,
    dataShards: uint({ min: 1, max: 255 }),
    parityShards: uint({ max: 255 }),
    shards: array(shardPlacementSchema, { max: recordBounds.shardsMax }),
    signatures: array(txSignatureSchema, { max: recordBounds.signaturesMax }),
  },
  {
    check(r) {
      const n = r.dataShards + r.parityShards;
      if (n > 256) return ['parityShards', 'dataShards + parityShards ≤ 256'];
      for (let i = 0; i < r.shards.length; i++) {
        if (r.shards[i]!.index >= n) return [`shards.${i}.index`, `an index below dataShards + parityShards (${n})`];
      }
      return undefined;
    },
  },
);

/** An agent asks a coordinator to back up one snapshot (or, in migration, offers it). */
export interface BackupRequest {
  txId: Uint8Array;
  account: string;
  snapshotId: string;
  manifestRoot: Uint8Array;
  chunkIds: Uint8Array[];
  totalBytes: number;
  /** 0 = highest (alarms) … 7 = bulk. */
  priority?: number;
  /** Small inline data (for example the encrypted manifest). */
  payload?: Uint8Array;
}
export const backupRequestSchema: Schema<BackupRequest> = object({
  txId: txIdSchema,
  account: accountSchema,
  snapshotId: snapshotIdSchema,
  manifestRoot: hash32,
  chunkIds: array(hash32, { max: recordBounds.chunkIdsMax }),
  totalBytes: uint(),
  priority: optional(uint({ max: 7 })),
  payload: optional(bytes()),
});

export interface ShardPut {
  chunk: Uint8Array;
  index: number;
  /** SHA-256 of `data`; the target checks it before staging. */
  hash: Uint8Array;
  data: Uint8Array;
}
export const shardPutSchema: Schema<ShardPut> = object({
  chunk: hash32,
  index: uint({ max: 255 }),
  hash: hash32,
  data: bytes(),
});

/** Phase 1: stage these shards and sign the transaction digest. */
export interface PrepareRequest {
  txId: Uint8Array;
  /** transactionDigest(record) of the record the coordinator will commit. */
  digest: Uint8Array;
  account: string;
  shards: ShardPut[];
  /** Staged data no block commits is rolled back after this long. */
  stageTimeoutMs?: number;
}
export const prepareRequestSchema: Schema<PrepareRequest> = object({
  txId: txIdSchema,
  digest: hash32,
  account: accountSchema,
  shards: array(shardPutSchema, { min: 1, max: recordBounds.prepareShardsMax }),
  stageTimeoutMs: optional(uint()),
});

export interface PrepareResponse {
  txId: Uint8Array;
  ok: boolean;
  /** Why not, when ok is false. */
  reason?: string;
  /** Signature over the transaction digest, when ok is true. */
  signature?: Uint8Array;
}
export const prepareResponseSchema: Schema<PrepareResponse> = object(
  { txId: txIdSchema, ok: bool(), reason: optional(reasonSchema), signature: optional(signature64) },
  {
    check: (r) =>
      r.ok && !r.signature ? ['signature', 'a signature when ok is true'] : !r.ok && r.reason === undefined ? ['reason', 'a reason when ok is false'] : undefined,
  },
);

/** Phase 2: the coordinator submits the record, with the targets' signatures, to consensus. */
export interface CommitRequest {
  txId: Uint8Array;
  record: BlockRecord;
}
export const commitRequestSchema: Schema<CommitRequest> = object(
  { txId: txIdSchema, record: blockRecordSchema },
  { check: (r) => (Buffer.compare(r.txId, r.record.txId) === 0 ? undefined : ['record.txId', 'the same txId as the request']) },
);

export interface CommitResponse {
  txId: Uint8Array;
  ok: boolean;
  reason?: string;
  /** Height of the block that holds the record, when ok. */
  height?: number;
  blockHash?: Uint8Array;
}
export const commitResponseSchema: Schema<CommitResponse> = object(
  { txId: txIdSchema, ok: bool(), reason: optional(reasonSchema), height: optional(uint()), blockHash: optional(hash32) },
  {
    check: (r) =>
      r.ok && (r.height === undefined || !r.blockHash)
        ? ['height', 'height and blockHash when ok is true']
        : !r.ok && r.reason === undefined
          ? ['reason', 'a reason when ok is false']
          : undefined,
  },
);

export const consensusBodySchema: Schema<Uint8Array> = bytes({ max: CONSENSUS_BODY_BYTES_MAX });

/** Type name → body type. Extend by declaration merging; see the file comment. */
export interface MessageBodies {
  BackupRequest: BackupRequest;
  PrepareRequest: PrepareRequest;
  PrepareResponse: PrepareResponse;
  CommitRequest: CommitRequest;
  CommitResponse: CommitResponse;
  BlockRecord: BlockRecord;
  Consensus: Uint8Array;
}

export type BuiltinMessageType =
  | 'BackupRequest'
  | 'PrepareRequest'
  | 'PrepareResponse'
  | 'CommitRequest'
  | 'CommitResponse'
  | 'BlockRecord'
  | 'Consensus';

export const builtinSchemas: { readonly [K in BuiltinMessageType]: Schema<MessageBodies[K]> } = {
  BackupRequest: backupRequestSchema,
  PrepareRequest: prepareRequestSchema,
  PrepareResponse: prepareResponseSchema,
  CommitRequest: commitRequestSchema,
  CommitResponse: commitResponseSchema,
  BlockRecord: blockRecordSchema,
  Consensus: consensusBodySchema,
};
