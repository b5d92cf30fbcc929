/**
 * shared/consensus: one PBFT replica as a pure state machine (no I/O, no clock, no randomness), its
 * client, and the MessagePack codec a transport needs to move messages as bytes between replica ids.
 */
export { Replica, createReplica, type ReplicaConfig, type ReplicaStatus } from './replica.ts';
export { Client, createClient, defaultClientOptions, type ClientAction, type ClientConfig, type ClientOptions, type Presigned } from './client.ts';
export {
  defaultReplicaOptions,
  replicaOptions,
  type Action,
  type Application,
  type ClientId,
  type ExecuteContext,
  type ExecutedRequest,
  type ReplicaId,
  type ReplicaOptions,
} from './types.ts';
export {
  batchDigest,
  requestDigest,
  requestSignedBytes,
  signedBytes,
  stateDigest,
  NULL_DIGEST,
  type Checkpoint,
  type Commit,
  type CommitCert,
  type Committed,
  type FetchState,
  type Message,
  type MessageType,
  type NewView,
  type PrePrepare,
  type Prepare,
  type PreparedCert,
  type Reply,
  type ReplicaMessage,
  type Request,
  type StateSnapshot,
  type Status,
  type ViewChange,
} from './messages.ts';
export { quorumSize, defaultFaults, checkClusterSize, VoteSet } from './quorum.ts';
export { bytesEqual, ed25519Signer, ed25519Verifier, sha256, signAll, type ReplicaKeys, type Signer, type Verifier } from './crypto.ts';
export { BATCH_LEAVES_MAX, signBatch, verifyBatchSignature, verifySignature, VerifiedTrees } from './batch-signature.ts';
export {
  applyPersistRecord,
  clonePersistedState,
  emptyPersistedState,
  GENESIS_CHECKPOINT,
  type PersistedEntry,
  type PersistedState,
  type PersistRecord,
  type SnapshotRecord,
  type StableCheckpoint,
} from './persistence.ts';
export {
  decodeMessage,
  decodeReplies,
  decodePersistRecord,
  defaultCodecOptions,
  encodeMessage,
  encodeReplies,
  encodePersistRecord,
  type CodecError,
  type CodecErrorCode,
  type CodecOptions,
  type DecodeResult,
} from './codec.ts';
export { encodeClientTable, decodeClientTable } from './checkpoint.ts';
export { performActions, type ReplicaIo } from './shell.ts';
