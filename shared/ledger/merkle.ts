/**
 * The Merkle tree over a block's records, RFC 6962 (Certificate Transparency) style:
 *
 *   leaf hash   = SHA-256(0x00 || canonical MessagePack of the record)
 *   node hash   = SHA-256(0x01 || left || right)
 *   MTH([])     = SHA-256("")
 *   MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])) with k the largest power of two below n
 *
 * The 0x00 / 0x01 prefixes keep a leaf from ever passing for an inner node. An inclusion proof is the RFC's
 * audit path, verified with the algorithm of RFC 9162 §2.1.3.2, so an auditor can check that one record is in
 * a block knowing only the block header.
 */
import { encodeCanonical } from '../protocol/codec.ts';
import { bytesEqual, sha256 } from '../protocol/digest.ts';
import type { BlockRecord } from '../protocol/messages.ts';

const LEAF = new Uint8Array([0x00]);
const NODE = new Uint8Array([0x01]);

/** The canonical bytes of a record: what its leaf hash covers. */
export function encodeRecord(record: BlockRecord): Uint8Array {
  return encodeCanonical(record);
}

export function leafHash(record: BlockRecord): Uint8Array {
  return sha256(LEAF, encodeRecord(record));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE, left, right);
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function rootOf(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return leaves[start]!;
  const k = largestPowerOfTwoBelow(n);
  return nodeHash(rootOf(leaves, start, start + k), rootOf(leaves, start + k, end));
}

/** The Merkle tree hash of a list of leaf hashes. */
export function merkleRootOfLeaves(leaves: readonly Uint8Array[]): Uint8Array {
  return leaves.length === 0 ? sha256() : rootOf(leaves, 0, leaves.length);
}

export function merkleRoot(records: readonly BlockRecord[]): Uint8Array {
  return merkleRootOfLeaves(records.map(leafHash));
}

export interface InclusionProof {
  /** Index of the record in the block. */
  index: number;
  /** Number of records in the block. */
  treeSize: number;
  /** Sibling hashes from the leaf up to the root. */
  path: Uint8Array[];
}

function pathOf(leaves: readonly Uint8Array[], index: number, start: number, end: number, out: Uint8Array[]): void {
  const n = end - start;
  if (n <= 1) return;
  const k = largestPowerOfTwoBelow(n);
  if (index < k) {
    pathOf(leaves, index, start, start + k, out);
    out.push(rootOf(leaves, start + k, end));
  } else {
    pathOf(leaves, index - k, start + k, end, out);
    out.push(rootOf(leaves, start, start + k));
  }
}

/** The inclusion proof of records[index]. */
export function proofFor(records: readonly BlockRecord[], index: number): InclusionProof {
  return proofForLeaves(records.map(leafHash), index);
}

/** The inclusion proof of the leaf at `index`, from the block's leaf hashes (a reader that keeps only those). */
export function proofForLeaves(leaves: readonly Uint8Array[], index: number): InclusionProof {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`record index ${index} is outside a block of ${leaves.length} records`);
  }
  const path: Uint8Array[] = [];
  pathOf(leaves, index, 0, leaves.length, path);
  return { index, treeSize: leaves.length, path };
}

/** True when `record` sits at `proof.index` of a block whose Merkle root is `root` (RFC 9162 §2.1.3.2). */
export function verifyProof(record: BlockRecord, proof: InclusionProof, root: Uint8Array): boolean {
  return verifyLeafProof(leafHash(record), proof, root);
}

export function verifyLeafProof(leaf: Uint8Array, proof: InclusionProof, root: Uint8Array): boolean {
  const { index, treeSize, path } = proof;
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize) || index < 0 || index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && bytesEqual(r, root);
}
