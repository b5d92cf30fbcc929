/**
 * Verifying a chain, block by block, with the first failure named by height and a stable reason code.
 *
 * For block h (checks in this order):
 *   BAD_HEIGHT            heights run 0, 1, 2, … with no gap
 *   BAD_PREV_HASH         prevHash = blockHash(block h−1); 32 zero bytes for the genesis block
 *   BAD_TIME              time never decreases
 *   BAD_MERKLE_ROOT       merkleRoot = Merkle root of the records
 *   BAD_RECORD_SIGNATURE  each record's signatures are by distinct registered signers (validators, or storage
 *                         members admitted before the record: members.ts) and verify over its transaction
 *                         digest; an admission record is checked by its own rule (option `recordSignatures`,
 *                         on by default)
 *   UNKNOWN_SIGNER        every certificate signer is in the validator set
 *   DUPLICATE_SIGNER      no signer appears twice in the certificate
 *   BAD_SIGNATURE         every certificate signature verifies over the block hash
 *   NO_QUORUM             at least ⌈(n+f+1)/2⌉ signatures
 * A reader adds CORRUPT_BLOCK for bytes that do not decode (audit.ts). Nothing here does I/O.
 */
import { verify } from '../crypto/sign.ts';
import { bytesEqual, transactionDigest } from '../protocol/digest.ts';
import type { BlockRecord } from '../protocol/messages.ts';
import { blockHash, blockSigningBytes, GENESIS_PREV_HASH, type Block, type BlockHeader, type QuorumSignature } from './block.ts';
import { merkleRoot } from './merkle.ts';
import { AdmittedKeys, checkAdmission, isAdmissionRecord } from './members.ts';
import type { SignerRegistry } from './quorum.ts';

export const LedgerReason = {
  BAD_HEIGHT: 'BAD_HEIGHT',
  BAD_PREV_HASH: 'BAD_PREV_HASH',
  BAD_TIME: 'BAD_TIME',
  BAD_MERKLE_ROOT: 'BAD_MERKLE_ROOT',
  BAD_RECORD_SIGNATURE: 'BAD_RECORD_SIGNATURE',
  UNKNOWN_SIGNER: 'UNKNOWN_SIGNER',
  DUPLICATE_SIGNER: 'DUPLICATE_SIGNER',
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  NO_QUORUM: 'NO_QUORUM',
  CORRUPT_BLOCK: 'CORRUPT_BLOCK',
} as const;
export type LedgerReason = (typeof LedgerReason)[keyof typeof LedgerReason];

export interface BlockProblem {
  reason: LedgerReason;
  message: string;
}

export interface LedgerVerifyOptions {
  /** Check the placement targets' signatures inside each record (default true). */
  recordSignatures: boolean;
  /**
   * Check each certificate signature over the block hash (default true). Off, the certificate must still
   * name a quorum of distinct validators; only the Ed25519 checks are skipped, for a block whose
   * signatures this process has verified already (LedgerStore.append's `formedHere`).
   */
  certificateSignatures?: boolean;
}

export const defaultLedgerVerifyOptions: LedgerVerifyOptions = Object.freeze({ recordSignatures: true });

/** What a block must follow: the previous block's height, hash and time (undefined before genesis). */
export interface ChainTip {
  height: number;
  hash: Uint8Array;
  time: number;
}

const problem = (reason: LedgerReason, message: string): BlockProblem => ({ reason, message });

/** Checks one block against the tip it should extend. Returns undefined when it is good. */
export function verifyBlock(
  block: Block,
  tip: ChainTip | undefined,
  registry: SignerRegistry,
  options: LedgerVerifyOptions = defaultLedgerVerifyOptions,
  admitted: AdmittedKeys = new AdmittedKeys(),
): BlockProblem | undefined {
  const height = tip === undefined ? 0 : tip.height + 1;
  if (block.height !== height) return problem('BAD_HEIGHT', `expected height ${height}, found ${block.height}`);
  const prevHash = tip === undefined ? GENESIS_PREV_HASH : tip.hash;
  if (!bytesEqual(block.prevHash, prevHash)) {
    return problem('BAD_PREV_HASH', tip === undefined ? 'the genesis block must have a zero prevHash' : `prevHash is not the hash of block ${tip.height}`);
  }
  if (tip !== undefined && block.time < tip.time) {
    return problem('BAD_TIME', `time ${block.time} is before the previous block's ${tip.time}`);
  }
  if (!bytesEqual(block.merkleRoot, merkleRoot(block.records))) {
    return problem('BAD_MERKLE_ROOT', 'merkleRoot does not match the records (a record was altered, added or removed)');
  }
  if (options.recordSignatures) {
    const inBlock = new AdmittedKeys(admitted); // a member admitted earlier in this block may sign later in it
    for (let i = 0; i < block.records.length; i++) {
      const record = block.records[i]!;
      const bad = checkRecordSignatures(record, registry, inBlock);
      if (bad) return problem('BAD_RECORD_SIGNATURE', `record ${i}: ${bad}`);
      inBlock.learnOne(record, block.height, i);
    }
  }
  return verifyCertificate(block, block.qc, registry, options.certificateSignatures !== false);
}

/**
 * Checks a block header's quorum certificate alone: distinct registered signers, every signature over
 * the block hash, at least a quorum of them. With an inclusion proof this is what a reader that holds
 * no chain (the cloud, checking an edge block) verifies.
 */
export function verifyCertificate(header: BlockHeader, qc: readonly QuorumSignature[], registry: SignerRegistry, signatures = true): BlockProblem | undefined {
  const signing = signatures ? blockSigningBytes(blockHash(header)) : undefined;
  const seen = new Set<string>();
  for (const { signer, signature } of qc) {
    const key = registry.keyOf(signer);
    if (!key) return problem('UNKNOWN_SIGNER', `signer ${JSON.stringify(signer)} is not in the validator set`);
    if (seen.has(signer)) return problem('DUPLICATE_SIGNER', `signer ${signer} signed twice`);
    seen.add(signer);
    if (signing && !verify(key, signing, signature)) return problem('BAD_SIGNATURE', `the signature of ${signer} does not verify`);
  }
  if (seen.size < registry.quorum) {
    return problem('NO_QUORUM', `${seen.size} signatures, ${registry.quorum} needed of ${registry.size} validators`);
  }
  return undefined;
}

/**
 * Why a record's placement-target signatures fail (distinct signers, validators or admitted storage
 * members, over its digest), or undefined. An admission record answers to `checkAdmission`.
 */
export function checkRecordSignatures(record: BlockRecord, registry: SignerRegistry, admitted: AdmittedKeys = new AdmittedKeys()): string | undefined {
  if (isAdmissionRecord(record)) return checkAdmission(record, registry, admitted);
  if (record.signatures.length === 0) return undefined;
  const digest = transactionDigest(record);
  const seen = new Set<string>();
  for (const { signer, signature } of record.signatures) {
    const key = registry.keyOf(signer) ?? admitted.keyOf(signer);
    if (!key) return `signer ${JSON.stringify(signer)} is neither a validator nor an admitted member`;
    if (seen.has(signer)) return `signer ${signer} signed twice`;
    seen.add(signer);
    if (!verify(key, digest, signature)) return `the signature of ${signer} over the transaction digest does not verify`;
  }
  return undefined;
}

export type ChainVerdict =
  | {
      ok: true;
      /** Number of blocks verified. */
      blocks: number;
      /** Height of the last block; −1 for an empty chain. */
      height: number;
      tipHash: Uint8Array | undefined;
      records: number;
      /** Every validator that signed at least one block, sorted. */
      signers: string[];
    }
  | {
      ok: false;
      /** Height of the first bad block (the height it should have had). */
      height: number;
      reason: LedgerReason;
      message: string;
      /** Good blocks before it. */
      blocks: number;
      records: number;
      signers: string[];
    };

/** Streams blocks through verifyBlock; stops at the first problem and keeps reporting it. */
export class ChainVerifier {
  private tip: ChainTip | undefined;
  private count = 0;
  private recordCount = 0;
  private readonly signerSet = new Set<string>();
  private failure: { height: number; problem: BlockProblem } | undefined;
  /** The storage members admitted by the blocks verified so far. */
  readonly admitted = new AdmittedKeys();

  constructor(
    readonly registry: SignerRegistry,
    readonly options: LedgerVerifyOptions = defaultLedgerVerifyOptions,
  ) {}

  get ok(): boolean {
    return this.failure === undefined;
  }

  /** The height the next block must have. */
  get nextHeight(): number {
    return this.count;
  }

  /** Verifies the next block; returns the problem (also remembered), or undefined. */
  push(block: Block): BlockProblem | undefined {
    if (this.failure) return this.failure.problem;
    const bad = verifyBlock(block, this.tip, this.registry, this.options, this.admitted);
    if (bad) {
      this.failure = { height: this.count, problem: bad };
      return bad;
    }
    this.admitted.learn(block.records, block.height);
    this.tip = { height: block.height, hash: blockHash(block), time: block.time };
    this.count++;
    this.recordCount += block.records.length;
    for (const q of block.qc) this.signerSet.add(q.signer);
    return undefined;
  }

  /** Records a block that could not even be decoded. */
  fail(reason: LedgerReason, message: string): void {
    if (!this.failure) this.failure = { height: this.count, problem: { reason, message } };
  }

  result(): ChainVerdict {
    const signers = [...this.signerSet].sort();
    if (this.failure) {
      return { ok: false, height: this.failure.height, ...this.failure.problem, blocks: this.count, records: this.recordCount, signers };
    }
    return { ok: true, blocks: this.count, height: this.count - 1, tipHash: this.tip?.hash, records: this.recordCount, signers };
  }
}

export function verifyChain(blocks: Iterable<Block>, registry: SignerRegistry, options: LedgerVerifyOptions = defaultLedgerVerifyOptions): ChainVerdict {
  const verifier = new ChainVerifier(registry, options);
  for (const block of blocks) if (verifier.push(block)) break;
  return verifier.result();
}
