/**
 * shared/protocol: what travels between nodes. Signed MessagePack envelopes with limits, the typed protocol
 * messages and their registry, replay protection, and the MQTT topic tree.
 */
export { ProtocolError, ProtocolErrorCode, protocolError } from './errors.ts';
export { decodeUntrusted, defaultDecodeLimits, encodeCanonical, scanMsgpack, type DecodeLimits } from './codec.ts';
export {
  SchemaFailure,
  array,
  bool,
  bytes,
  fromSafeParse,
  literal,
  object,
  oneOf,
  optional,
  parseWith,
  refine,
  str,
  uint,
  type Infer,
  type ObjectOf,
  type Schema,
} from './schema.ts';
export {
  CONSENSUS_BODY_BYTES_MAX,
  HASH_BYTES,
  SIGNATURE_BYTES,
  TX_ID_BYTES_MAX,
  TX_ID_BYTES_MIN,
  accountSchema,
  backupRequestSchema,
  blockRecordSchema,
  builtinSchemas,
  commitRequestSchema,
  commitResponseSchema,
  consensusBodySchema,
  hash32,
  nodeIdSchema,
  prepareRequestSchema,
  prepareResponseSchema,
  recordBounds,
  shardPlacementSchema,
  shardPutSchema,
  signature64,
  snapshotIdSchema,
  txIdSchema,
  txSignatureSchema,
  type BackupRequest,
  type BlockRecord,
  type BuiltinMessageType,
  type CommitRequest,
  type CommitResponse,
  type MessageBodies,
  type PrepareRequest,
  type PrepareResponse,
  type ShardPlacement,
  type ShardPut,
  type TxSignature,
} from './messages.ts';
export {
  MessageRegistry,
  PROTOCOL_VERSION,
  defaultRegistry,
  registerMessageType,
  type BodyOf,
  type Message,
  type MessageType,
  type ProtocolVersion,
} from './registry.ts';
export {
  decodeEnvelope,
  PREHASH_ABOVE,
  envelopeSigningBytes,
  defaultSkewMsMax,
  isMessage,
  openEnvelope,
  sealEnvelope,
  verifyEnvelope,
  type DecodeEnvelopeOptions,
  type OpenOptions,
  type OpenedEnvelope,
  type OutgoingMessage,
  type Signer,
  type VerifyOptions,
} from './envelope.ts';
export { ReplayGuard, defaultReplayGuardOptions, type ReplayGuardOptions } from './replay.ts';
export { MESSAGE_ID_BYTES, TX_DIGEST_DOMAIN, bytesEqual, newMessageId, sha256, transactionDigest, type RecordContent } from './digest.ts';
export { DC_SEGMENT, TOPIC_ROOT, TOPIC_SEGMENT_CHARS_MAX, checkSegment, filters, isValidSegment, parseTopic, topics, type ParsedTopic } from './topics.ts';
