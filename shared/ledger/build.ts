/**
 * Building and signing blocks: pure functions, no I/O. The proposer builds an unsigned block from the
 * previous block's hash and the committed records; each validator signs its hash; a block with a quorum of
 * signatures is final.
 */
import type { KeyObject } from 'node:crypto';
import { sign } from '../crypto/sign.ts';
import { blockHash, blockSigningBytes, GENESIS_PREV_HASH, type Block, type QuorumSignature, type UnsignedBlock } from './block.ts';
import { merkleRoot } from './merkle.ts';
import type { BlockRecord } from '../protocol/messages.ts';

export interface BlockInput {
  height: number;
  prevHash: Uint8Array;
  time: number;
  records: BlockRecord[];
}

export function buildBlock(input: BlockInput): UnsignedBlock {
  return {
    height: input.height,
    prevHash: input.prevHash,
    time: input.time,
    merkleRoot: merkleRoot(input.records),
    records: input.records,
  };
}

/** The block after `prev` (or the genesis block when `prev` is undefined). */
export function nextBlock(prev: Block | UnsignedBlock | undefined, time: number, records: BlockRecord[]): UnsignedBlock {
  return prev === undefined
    ? buildBlock({ height: 0, prevHash: GENESIS_PREV_HASH, time, records })
    : buildBlock({ height: prev.height + 1, prevHash: blockHash(prev), time, records });
}

/** One validator's signature over the block hash (with the block-signing domain tag). */
export function signBlock(block: UnsignedBlock, signer: string, privateKey: KeyObject): QuorumSignature {
  return { signer, signature: sign(privateKey, blockSigningBytes(blockHash(block))) };
}

/** The block with this certificate. */
export function withQc(block: UnsignedBlock, qc: QuorumSignature[]): Block {
  return { ...block, qc };
}

/** Signs with every given validator: convenient for tests, fixtures and single-process demos. */
export function signWithAll(block: UnsignedBlock, signers: readonly { id: string; privateKey: KeyObject }[]): Block {
  return withQc(
    block,
    signers.map((s) => signBlock(block, s.id, s.privateKey)),
  );
}
