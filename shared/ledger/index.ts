/**
 * shared/ledger: the permissioned chain that makes backups durable (DESIGN §5). Blocks and their hashes,
 * the Merkle tree over records with inclusion proofs, quorums and the validator set, pure build / sign /
 * verify functions, the crash-safe on-disk store, and the offline audit behind `ledger verify`.
 */
export {
  BLOCK_RECORDS_MAX,
  BLOCK_SIGN_DOMAIN,
  GENESIS_PREV_HASH,
  HEADER_FORMAT_VERSION,
  QC_SIGNATURES_MAX,
  blockDecodeLimits,
  blockHash,
  blockSchema,
  blockSigningBytes,
  decodeBlock,
  encodeBlock,
  encodeHeader,
  quorumSignatureSchema,
  type Block,
  type BlockHeader,
  type QuorumSignature,
  type UnsignedBlock,
} from './block.ts';
export { encodeRecord, leafHash, merkleRoot, merkleRootOfLeaves, proofFor, proofForLeaves, verifyLeafProof, verifyProof, type InclusionProof } from './merkle.ts';
export {
  AdmittedKeys,
  MEMBER_RECORD_PREFIX,
  admissionOf,
  admissionRecord,
  admissionSigningBytes,
  checkAdmission,
  isAdmissionRecord,
  type Admission,
  type AdmittedMember,
} from './members.ts';
export { SignerRegistry, faultsTolerated, quorumSize, type ValidatorEntry } from './quorum.ts';
export { buildBlock, nextBlock, signBlock, signWithAll, withQc, type BlockInput } from './build.ts';
export {
  ChainVerifier,
  LedgerReason,
  defaultLedgerVerifyOptions,
  checkRecordSignatures,
  verifyBlock,
  verifyCertificate,
  verifyChain,
  type BlockProblem,
  type ChainTip,
  type ChainVerdict,
  type LedgerVerifyOptions,
} from './verify.ts';
export {
  EDGE_PROOF_BYTES_MAX,
  decodeEdgeProof,
  encodeEdgeProof,
  matchesDataShards,
  verifyEdgeProof,
  type EdgeProof,
  type EdgeProofBlock,
  type ProvenChunk,
} from './edge-proof.ts';
export { MAGIC, crc32, defaultFrameBytesMax, encodeFrame, readFrames, type FrameEvent } from './frame.ts';
export { openBlockLog, readBlocks, type BlockLogEvent, type OpenedBlockLog } from './blocklog.ts';
export {
  BLOCKS_FILE,
  VALIDATORS_FILE,
  encodeValidators,
  ledgerPaths,
  parseValidators,
  readValidators,
  resolveLedgerPath,
  writeFileAtomic,
  type LedgerPaths,
} from './files.ts';
export { LedgerStore, defaultLedgerStoreOptions, type LedgerStoreOptions, type TornTail } from './store.ts';
export { auditLedger, type AuditOptions, type LedgerAudit } from './audit.ts';
