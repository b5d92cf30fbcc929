/**
 * One signature for many messages: a Merkle batch signature.
 *
 * Signing each request and each reply on its own cost a cluster of four 5 Ed25519 signs and 4
 * verifies per request, more than the rest of the protocol together. Instead a signer that has
 * several messages at once (a client node's requests of one turn, a replica's replies to one
 * executed batch) signs the root of a Merkle tree over them, and each message carries that one
 * signature plus its path to the root. A verifier folds the path and checks the root's signature
 * once: it remembers the trees it has verified (by key, root signature and the nodes paths showed),
 * so the other messages of the batch cost it a hash or two each.
 *
 * A message is still accepted only if its signature bytes prove it: the memory is keyed by the
 * signature as well, so a message with a valid path but a wrong signature fails on every replica
 * alike, whichever of them saw the batch before (a primary must not propose a request its backups
 * would refuse).
 *
 * Layout of a batch signature (a plain signature is the scheme's own bytes, e.g. Ed25519's 64):
 *   0xB5 0x16 | count u16 | index u16 | signature length u8 | signature | siblings, 32 bytes each
 * The scheme signs  BATCH_DOMAIN | count u16 | root. Leaves are SHA-256(0x00 | message), inner nodes
 * SHA-256(0x01 | left | right) (RFC 6962's domain separation, so a leaf is never read as a node); a
 * node without a right sibling moves up a level unchanged. `count` fixes the tree's shape, so the
 * path has exactly the siblings that shape needs.
 */
import { hash } from 'node:crypto';
import { bytesEqual } from './bytes.ts';

const MAGIC_0 = 0xb5;
const MAGIC_1 = 0x16;
const HEADER_BYTES = 7;
const NODE_BYTES = 32;
const BATCH_DOMAIN = new TextEncoder().encode('2baksa/sig-batch/v1');

/** Most messages under one signature: a path then has at most 6 siblings (192 bytes). */
export const BATCH_LEAVES_MAX = 64;

// One-shot hashes: a Hash object per node cost more than the hashing (they run per message).
function leafHash(data: Uint8Array): Uint8Array {
  const input = Buffer.allocUnsafe(1 + data.length);
  input[0] = 0;
  input.set(data, 1);
  return hash('sha256', input, 'buffer');
}

function innerHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = Buffer.allocUnsafe(1 + 2 * NODE_BYTES);
  input[0] = 1;
  input.set(left, 1);
  input.set(right, 1 + NODE_BYTES);
  return hash('sha256', input, 'buffer');
}

function rootMessage(count: number, root: Uint8Array): Uint8Array {
  const out = new Uint8Array(BATCH_DOMAIN.length + 2 + NODE_BYTES);
  out.set(BATCH_DOMAIN);
  out[BATCH_DOMAIN.length] = count >>> 8;
  out[BATCH_DOMAIN.length + 1] = count & 0xff;
  out.set(root, BATCH_DOMAIN.length + 2);
  return out;
}

/**
 * Signs `messages` with as few calls of `signOne` as batches of `leavesMax`: one message alone gets a
 * plain signature, more share one signature each batch. The result is in the order of `messages`.
 */
export function signBatch(
  messages: readonly Uint8Array[],
  signOne: (data: Uint8Array) => Uint8Array,
  leavesMax = BATCH_LEAVES_MAX,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let from = 0; from < messages.length; from += leavesMax) {
    const part = messages.slice(from, from + leavesMax);
    if (part.length === 1) out.push(signOne(part[0]!));
    else for (const s of signTree(part, signOne)) out.push(s);
  }
  return out;
}

function signTree(messages: readonly Uint8Array[], signOne: (data: Uint8Array) => Uint8Array): Uint8Array[] {
  const count = messages.length;
  const levels: Uint8Array[][] = [messages.map(leafHash)];
  for (let level = levels[0]!; level.length > 1;) {
    const up: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? innerHash(level[i]!, level[i + 1]!) : level[i]!);
    levels.push(up);
    level = up;
  }
  const signature = signOne(rootMessage(count, levels[levels.length - 1]![0]!));
  return messages.map((_, index) => {
    const siblings: Uint8Array[] = [];
    let at = index;
    for (let l = 0; l < levels.length - 1; l++) {
      const sibling = levels[l]![at ^ 1];
      if (sibling) siblings.push(sibling);
      at >>>= 1;
    }
    const out = new Uint8Array(HEADER_BYTES + signature.length + siblings.length * NODE_BYTES);
    out[0] = MAGIC_0;
    out[1] = MAGIC_1;
    out[2] = count >>> 8;
    out[3] = count & 0xff;
    out[4] = index >>> 8;
    out[5] = index & 0xff;
    out[6] = signature.length;
    out.set(signature, HEADER_BYTES);
    siblings.forEach((s, k) => out.set(s, HEADER_BYTES + signature.length + k * NODE_BYTES));
    return out;
  });
}

/** True when `signature` has a batch signature's layout (it may still be invalid). */
export function isBatchSignature(signature: Uint8Array): boolean {
  return signature.length > HEADER_BYTES && signature[0] === MAGIC_0 && signature[1] === MAGIC_1;
}

/** The nodes of one verified tree (by level and position) and its root. */
interface VerifiedTree {
  readonly root: Uint8Array;
  readonly nodes: Map<number, Uint8Array>;
}

const nodeAt = (level: number, position: number) => level * 0x10000 + position;

/**
 * The trees whose root signature was verified, by (key id, leaf count, root signature), with every
 * node a verified path showed: the next message of the same batch is checked against them, so it
 * costs its leaf hash and about one more instead of a whole path. Bounded; the oldest tree is
 * forgotten first. One per verifier: what one key signed is remembered under that key's id only.
 */
export class VerifiedTrees {
  private readonly trees = new Map<string, VerifiedTree>();

  constructor(private readonly treesMax = 1024) {}

  get(key: string): VerifiedTree | undefined {
    return this.trees.get(key);
  }

  add(key: string, tree: VerifiedTree): void {
    if (this.trees.size >= this.treesMax) this.trees.delete(this.trees.keys().next().value!);
    this.trees.set(key, tree);
  }
}

/**
 * Checks a batch signature on `data` made with the key `keyId` names: folds the path to the root and
 * checks the root's signature with `verifyOne`. A tree verified before is not checked again: once the
 * path meets one of its nodes, the rest of the path must be that tree's (the answer is the one a full
 * check would give, so every replica accepts the same messages). Never throws.
 */
export function verifyBatchSignature(
  keyId: string,
  data: Uint8Array,
  signature: Uint8Array,
  verifyOne: (data: Uint8Array, signature: Uint8Array) => boolean,
  verified: VerifiedTrees,
): boolean {
  if (!isBatchSignature(signature)) return false;
  const count = (signature[2]! << 8) | signature[3]!;
  const index = (signature[4]! << 8) | signature[5]!;
  const signatureBytes = signature[6]!;
  if (count < 2 || index >= count) return false;
  const siblingsAt = HEADER_BYTES + signatureBytes;
  if (signature.length < siblingsAt || (signature.length - siblingsAt) % NODE_BYTES !== 0) return false;
  const rootSignature = signature.subarray(HEADER_BYTES, siblingsAt);
  const treeKey = `${keyId}\u0000${count}\u0000${Buffer.from(rootSignature).toString('base64')}`;
  const tree = verified.get(treeKey);
  const learned: [number, Uint8Array][] = [];
  let node = leafHash(data);
  let next = siblingsAt;
  let level = 0;
  let at = index;
  let met = false;
  for (let width = count; width > 1; level++, at >>>= 1, width = (width + 1) >>> 1) {
    if (!met) {
      const known = tree?.nodes.get(nodeAt(level, at));
      if (known && !bytesEqual(known, node)) return false; // not a message of that tree
      met = known !== undefined;
    }
    if ((at ^ 1) >= width) continue; // no right sibling: the node moves up unchanged
    if (next + NODE_BYTES > signature.length) return false;
    const siblingAt = next;
    next += NODE_BYTES;
    if (met) {
      // Above a known node every sibling is known too; a different one would fold to another root.
      const knownSibling = tree!.nodes.get(nodeAt(level, at ^ 1));
      if (!knownSibling || !bytesEqual(knownSibling, signature.subarray(siblingAt, siblingAt + NODE_BYTES))) return false;
      continue;
    }
    // A copy: the tree keeps it, and must not keep the message the signature came in.
    const sibling = signature.slice(siblingAt, siblingAt + NODE_BYTES);
    learned.push([nodeAt(level, at), node], [nodeAt(level, at ^ 1), sibling]);
    node = at & 1 ? innerHash(sibling, node) : innerHash(node, sibling);
  }
  if (next !== signature.length) return false;
  if (tree) {
    if (!met && !bytesEqual(tree.root, node)) return false;
    for (const [k, v] of learned) tree.nodes.set(k, v);
    return true;
  }
  if (!verifyOne(rootMessage(count, node), rootSignature)) return false;
  const nodes = new Map<number, Uint8Array>(learned);
  nodes.set(nodeAt(level, 0), node);
  verified.add(treeKey, { root: node, nodes });
  return true;
}

/**
 * A signature of either form: `plainBytes` long, a plain one checked by `verifyOne`; otherwise a
 * batch signature (verifyBatchSignature).
 */
export function verifySignature(
  keyId: string,
  data: Uint8Array,
  signature: Uint8Array,
  plainBytes: number,
  verifyOne: (data: Uint8Array, signature: Uint8Array) => boolean,
  verified: VerifiedTrees,
): boolean {
  if (signature.length === plainBytes) return verifyOne(data, signature);
  return verifyBatchSignature(keyId, data, signature, verifyOne, verified);
}
