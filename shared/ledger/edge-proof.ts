/**
 * Edge proofs: how the cloud checks, holding no edge chain, that a chunk a gateway uploads is one a quorum
 * of its site committed (DESIGN §6, "ledger-verified").
 *
 * A proof is some block headers of the site's ledger, each with its quorum certificate and some of its
 * records, each record with its Merkle inclusion proof:
 *
 *   { site, blocks: [{ height, prevHash, time, merkleRoot, qc, entries: [{ record, proof }] }] }
 *
 * `verifyEdgeProof` checks every certificate against the site's registered validators, every record's
 * inclusion and placement-target signatures, and that every record is the uploading account's; it answers,
 * per chunk, the geometry and the SHA-256 of each data shard (for each record holding the chunk: a chunk
 * laid out again by repair or rebalance is in two). Those k hashes fix the sealed object byte for
 * byte (the data shards are the object cut in k and zero-padded, shared/erasure/shards.ts), so an upload
 * is checked by hashing its cuts (`matchesDataShards`): no re-encoding, and the parity never matters.
 * A block is sent once per proof however many of its records it carries, and a proof never needs the
 * chain before it: the certificate alone binds the header, the inclusion proof the record.
 *
 * A record signed by a storage member (members.ts: a gateway admitted after the validator set was fixed)
 * is proven with the member's admission record, which the proof carries like any entry: certified, in
 * an earlier block (or earlier in the same one), checked by the admission rule against the registered
 * validators. Admission entries prove keys, not chunks, and may be of another account.
 */
import { createHash } from 'node:crypto';
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../protocol/codec.ts';
import { blockRecordSchema, hash32, nodeIdSchema, type BlockRecord } from '../protocol/messages.ts';
import { array, object, parseWith, uint, type Schema } from '../protocol/schema.ts';
import { shardBytesFor } from '../erasure/shards.ts';
import { quorumSignatureSchema, QC_SIGNATURES_MAX, type BlockHeader, type QuorumSignature } from './block.ts';
import { verifyProof, type InclusionProof } from './merkle.ts';
import type { SignerRegistry } from './quorum.ts';
import { AdmittedKeys, isAdmissionRecord } from './members.ts';
import { checkRecordSignatures, verifyCertificate, type BlockProblem } from './verify.ts';

/** Largest encoded proof a verifier reads. */
export const EDGE_PROOF_BYTES_MAX = 32 * 1024 * 1024;
const BLOCKS_MAX = 4096;
const ENTRIES_MAX = 16_384;

export interface EdgeProofEntry {
  record: BlockRecord;
  proof: InclusionProof;
}

export interface EdgeProofBlock extends BlockHeader {
  qc: QuorumSignature[];
  entries: EdgeProofEntry[];
}

export interface EdgeProof {
  site: string;
  blocks: EdgeProofBlock[];
}

/** What a verified proof says of one chunk: its geometry and the SHA-256 of each of its k data shards. */
export interface ProvenChunk {
  k: number;
  m: number;
  dataHashes: Uint8Array[];
  /** The height of the block that committed it. */
  height: number;
}

const inclusionProofSchema: Schema<InclusionProof> = object({
  index: uint(),
  treeSize: uint({ min: 1 }),
  path: array(hash32, { max: 64 }),
});

const edgeProofSchema: Schema<EdgeProof> = object({
  site: nodeIdSchema,
  blocks: array(
    object({
      height: uint(),
      prevHash: hash32,
      time: uint(),
      merkleRoot: hash32,
      qc: array(quorumSignatureSchema, { max: QC_SIGNATURES_MAX }),
      entries: array(object({ record: blockRecordSchema, proof: inclusionProofSchema }), { min: 1, max: ENTRIES_MAX }),
    }),
    { min: 1, max: BLOCKS_MAX },
  ),
});

const proofDecodeLimits: DecodeLimits = Object.freeze({
  inputBytesMax: EDGE_PROOF_BYTES_MAX,
  maxStrLength: 1024,
  maxBinLength: 64,
  maxArrayLength: 256 * 1024,
  maxMapLength: 32,
  maxExtLength: 0,
  depthMax: 10,
});

export function encodeEdgeProof(proof: EdgeProof): Uint8Array {
  return encodeCanonical(proof);
}

/** Decodes untrusted proof bytes. Throws ProtocolError (MALFORMED, SCHEMA, TOO_LARGE, …) on bad bytes. */
export function decodeEdgeProof(bytes: Uint8Array): EdgeProof {
  return parseWith(edgeProofSchema, decodeUntrusted(bytes, proofDecodeLimits), 'proof');
}

/**
 * Verifies a proof for `account` against the site's validators. Answers the proven chunks (chunk id hex →
 * what the record says of it), or the first problem, named by block height and reason.
 */
export function verifyEdgeProof(
  proof: EdgeProof,
  registry: SignerRegistry,
  account: string,
): { ok: true; chunks: Map<string, ProvenChunk[]> } | { ok: false; height: number; problem: BlockProblem } {
  const chunks = new Map<string, ProvenChunk[]>();
  // Certificates and inclusion first, then the admissions in chain order, then the records that use them.
  for (const block of proof.blocks) {
    const bad = verifyCertificate(block, block.qc, registry);
    if (bad) return { ok: false, height: block.height, problem: bad };
    for (const { record, proof: inclusion } of block.entries) {
      if (!verifyProof(record, inclusion, block.merkleRoot)) {
        return { ok: false, height: block.height, problem: { reason: 'BAD_MERKLE_ROOT', message: `record ${inclusion.index} is not in the block (its inclusion proof fails)` } };
      }
    }
  }
  const admitted = new AdmittedKeys();
  const admissions = proof.blocks
    .flatMap((block) => block.entries.filter((e) => isAdmissionRecord(e.record)).map((e) => ({ height: block.height, index: e.proof.index, record: e.record })))
    .sort((a, b) => a.height - b.height || a.index - b.index);
  for (const a of admissions) {
    const bad = checkRecordSignatures(a.record, registry, admitted);
    if (bad) return { ok: false, height: a.height, problem: { reason: 'BAD_RECORD_SIGNATURE', message: `record ${a.index}: ${bad}` } };
    admitted.learnOne(a.record, a.height, a.index);
  }
  for (const block of proof.blocks) {
    const fail = (reason: BlockProblem['reason'], message: string) => ({ ok: false as const, height: block.height, problem: { reason, message } });
    for (const { record, proof: inclusion } of block.entries) {
      if (isAdmissionRecord(record)) continue;
      const badSignature = checkRecordSignatures(record, registry, admittedBefore(admitted, block.height, inclusion.index));
      if (badSignature) return fail('BAD_RECORD_SIGNATURE', `record ${inclusion.index}: ${badSignature}`);
      if (record.account !== account) return fail('BAD_RECORD_SIGNATURE', `record ${inclusion.index} is of account ${record.account}, not ${account}`);
      const byChunk = new Map<string, Uint8Array[]>();
      for (const s of record.shards) {
        if (s.index >= record.dataShards) continue;
        const id = Buffer.from(s.chunk).toString('hex');
        let hashes = byChunk.get(id);
        if (!hashes) byChunk.set(id, (hashes = []));
        hashes[s.index] = s.hash;
      }
      for (const [id, hashes] of byChunk) {
        let complete = true;
        for (let i = 0; i < record.dataShards; i++) if (!hashes[i]) complete = false;
        if (!complete) continue;
        let list = chunks.get(id);
        if (!list) chunks.set(id, (list = []));
        list.push({ k: record.dataShards, m: record.parityShards, dataHashes: hashes, height: block.height });
      }
    }
  }
  return { ok: true, chunks };
}

/** The members admitted before record `index` of block `height` (a signature never predates its signer's admission). */
function admittedBefore(all: AdmittedKeys, height: number, index: number): AdmittedKeys {
  const before = new AdmittedKeys();
  for (const m of all.members()) if (m.height! < height || (m.height === height && m.index! < index)) before.admit(m);
  return before;
}

/**
 * Whether `sealed`, cut into k zero-padded data shards, hashes to the proven data shards. (Zero bytes moved
 * between the object's end and the padding would pass here; the AEAD tag that ends every sealed object
 * makes such an object fail to open, so it can only be refused data, never different data.)
 */
export function matchesDataShards(sealed: Uint8Array, chunk: ProvenChunk): boolean {
  const size = shardBytesFor(sealed.length, chunk.k);
  for (let i = 0; i < chunk.k; i++) {
    const h = createHash('sha256');
    const start = Math.min(i * size, sealed.length);
    const end = Math.min((i + 1) * size, sealed.length);
    h.update(sealed.subarray(start, end));
    const pad = size - (end - start);
    if (pad > 0) h.update(new Uint8Array(pad));
    if (!Buffer.from(h.digest()).equals(Buffer.from(chunk.dataHashes[i]!))) return false;
  }
  return true;
}
