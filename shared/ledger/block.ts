/**
 * Blocks and their hashes.
 *
 * A block is `{height, prevHash, time, records[], merkleRoot}` plus a quorum certificate `qc`: one
 * (signer id, Ed25519 signature) per signer. The block hash covers the header only, and the header commits to
 * the records through the Merkle root (merkle.ts):
 *
 *   blockHash = SHA-256( canonical MessagePack of the array [1, height, prevHash, time, merkleRoot] )
 *
 * The leading 1 is the header format version. An array fixes the field order without relying on map-key
 * order. Integers take their shortest MessagePack form and hashes are 32-byte bin values. Signers sign
 * `BLOCK_SIGN_DOMAIN || blockHash`, so a block signature can never pass for any other signature in the
 * system. The genesis block has height 0 and a prevHash of 32 zero bytes.
 *
 * The file form of a block (`encodeBlock`) is the canonical MessagePack map of all six fields.
 */
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../protocol/codec.ts';
import { sha256 } from '../protocol/digest.ts';
import { blockRecordSchema, hash32, nodeIdSchema, signature64, type BlockRecord } from '../protocol/messages.ts';
import { array, object, parseWith, uint, type Schema } from '../protocol/schema.ts';

export const HEADER_FORMAT_VERSION = 1;
export const BLOCK_SIGN_DOMAIN = '2baksa/v1/block-sign\u0000';
export const GENESIS_PREV_HASH: Uint8Array = new Uint8Array(32);
/** Most records one block holds, and most signatures in its certificate. */
export const BLOCK_RECORDS_MAX = 65_536;
export const QC_SIGNATURES_MAX = 256;

export interface BlockHeader {
  height: number;
  prevHash: Uint8Array;
  /** Proposer time, ms since the epoch; never decreases along the chain. */
  time: number;
  merkleRoot: Uint8Array;
}

export interface QuorumSignature {
  signer: string;
  signature: Uint8Array;
}

export interface UnsignedBlock extends BlockHeader {
  records: BlockRecord[];
}

export interface Block extends UnsignedBlock {
  qc: QuorumSignature[];
}

export const quorumSignatureSchema: Schema<QuorumSignature> = object({ signer: nodeIdSchema, signature: signature64 });

export const blockSchema: Schema<Block> = object({
  height: uint(),
  prevHash: hash32,
  time: uint(),
  merkleRoot: hash32,
  records: array(blockRecordSchema, { max: BLOCK_RECORDS_MAX }),
  qc: array(quorumSignatureSchema, { max: QC_SIGNATURES_MAX }),
});

/** Limits for decoding a stored block: big arrays, but only short strings and hash-sized binaries. */
export const blockDecodeLimits: DecodeLimits = Object.freeze({
  inputBytesMax: 64 * 1024 * 1024,
  maxStrLength: 1024,
  maxBinLength: 64,
  maxArrayLength: 256 * 1024,
  maxMapLength: 32,
  maxExtLength: 0,
  depthMax: 8,
});

export function encodeHeader(header: BlockHeader): Uint8Array {
  return encodeCanonical([HEADER_FORMAT_VERSION, header.height, header.prevHash, header.time, header.merkleRoot]);
}

export function blockHash(header: BlockHeader): Uint8Array {
  return sha256(encodeHeader(header));
}

/** The bytes a signer signs for a block with this hash. */
export function blockSigningBytes(hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(BLOCK_SIGN_DOMAIN.length + hash.length);
  out.set(Buffer.from(BLOCK_SIGN_DOMAIN, 'latin1'), 0);
  out.set(hash, BLOCK_SIGN_DOMAIN.length);
  return out;
}

export function encodeBlock(block: Block): Uint8Array {
  return encodeCanonical({
    height: block.height,
    prevHash: block.prevHash,
    time: block.time,
    merkleRoot: block.merkleRoot,
    records: block.records,
    qc: block.qc.map((q) => ({ signer: q.signer, signature: q.signature })),
  });
}

/** Decodes a stored block. Throws ProtocolError (MALFORMED, SCHEMA, …) on bad bytes; never anything else. */
export function decodeBlock(bytes: Uint8Array, limits: DecodeLimits = blockDecodeLimits): Block {
  return parseWith(blockSchema, decodeUntrusted(bytes, limits), 'block');
}
