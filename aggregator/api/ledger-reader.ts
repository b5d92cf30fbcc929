/**
 * What auditors read through the API: ledger blocks (metadata only — records carry hashes and
 * placement, never data), inclusion proofs and a full verification. `LedgerStoreReader` serves them
 * from a node's LedgerStore (shared/ledger); the replica will hand its store in.
 */
import { ChainVerifier, LedgerStore, blockHash, proofFor, verifyProof, type Block } from '../../shared/ledger/index.ts';
import type { BlockRecord } from '../../shared/protocol/index.ts';

const hex = (b: Uint8Array | undefined): string | null => (b ? Buffer.from(b).toString('hex') : null);

export interface BlockSummary {
  height: number;
  hash: string;
  prevHash: string;
  time: number;
  merkleRoot: string;
  records: number;
  signers: string[];
}

export function recordJson(r: BlockRecord): Record<string, unknown> {
  return {
    txId: hex(r.txId),
    ts: r.ts,
    account: r.account,
    snapshotId: r.snapshotId,
    manifestRoot: hex(r.manifestRoot),
    dataShards: r.dataShards,
    parityShards: r.parityShards,
    shards: r.shards.map((s) => ({ chunk: hex(s.chunk), index: s.index, hash: hex(s.hash), node: s.node })),
    signatures: r.signatures.map((s) => ({ signer: s.signer, signature: hex(s.signature) })),
  };
}

export function summaryOf(block: Block): BlockSummary {
  return {
    height: block.height,
    hash: hex(blockHash(block))!,
    prevHash: hex(block.prevHash)!,
    time: block.time,
    merkleRoot: hex(block.merkleRoot)!,
    records: block.records.length,
    signers: block.qc.map((q) => q.signer),
  };
}

export interface LedgerReader {
  tip(): Promise<{ height: number; hash: string | null; blocks: number; validators: number; quorum: number }>;
  blocks(from: number, limit: number): Promise<BlockSummary[]>;
  block(height: number): Promise<(BlockSummary & { records: Record<string, unknown>[]; qc: { signer: string; signature: string }[] }) | undefined>;
  proof(height: number, index: number): Promise<Record<string, unknown> | undefined>;
  verify(): Promise<Record<string, unknown>>;
}

export class LedgerStoreReader implements LedgerReader {
  constructor(private readonly store: LedgerStore) {}

  async tip() {
    const t = this.store.tip;
    return { height: t?.height ?? -1, hash: hex(t?.hash), blocks: this.store.length, validators: this.store.registry.size, quorum: this.store.registry.quorum };
  }

  async blocks(from: number, limit: number): Promise<BlockSummary[]> {
    const out: BlockSummary[] = [];
    for (let h = from; h < this.store.length && out.length < limit; h++) out.push(summaryOf(await this.store.block(h)));
    return out;
  }

  async block(height: number) {
    if (height < 0 || height >= this.store.length) return undefined;
    const b = await this.store.block(height);
    return { ...summaryOf(b), records: b.records.map(recordJson) as unknown as Record<string, unknown>[], qc: b.qc.map((q) => ({ signer: q.signer, signature: hex(q.signature)! })) } as never;
  }

  async proof(height: number, index: number) {
    if (height < 0 || height >= this.store.length) return undefined;
    const b = await this.store.block(height);
    if (index < 0 || index >= b.records.length) return undefined;
    const record = b.records[index]!;
    const proof = proofFor(b.records, index);
    return {
      height,
      blockHash: hex(blockHash(b)),
      merkleRoot: hex(b.merkleRoot),
      record: recordJson(record),
      proof: { index: proof.index, treeSize: proof.treeSize, path: proof.path.map((p) => hex(p)) },
      verified: verifyProof(record, proof, b.merkleRoot),
    };
  }

  async verify() {
    const verifier = new ChainVerifier(this.store.registry);
    for await (const b of this.store.blocks()) if (verifier.push(b)) break;
    const v = verifier.result();
    return { ...v, ...('tipHash' in v ? { tipHash: hex(v.tipHash) } : {}) } as Record<string, unknown>;
  }
}
