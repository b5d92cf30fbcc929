/**
 * The gateway's side of ledger-verified migration: finds, in the site ledger this gateway keeps, the
 * blocks that committed each chunk of its account, and builds the edge proofs the cloud checks
 * (shared/ledger/edge-proof.ts) before it takes an upload.
 *
 * The block log is read once per migration run, read-only beside the daemon that appends to it (a
 * half-written last frame simply ends the read). Only what proofs need stays in memory: for each block
 * holding a record of this account, its header, certificate and leaf hashes, and those records; for
 * each chunk, the records that hold it (a chunk that repair or rebalance laid out again has two).
 *
 * The same index serves a peer that migrates a dead gateway's snapshots (gone.ts): where each chunk's
 * shards are (`versions`), and the records of the snapshot descriptors (agent/edge/descriptor.ts).
 *
 * A record that a storage member signed (shared/ledger/members.ts: a gateway admitted after the validator
 * set was fixed) is proven only with that member's admission record, so the index also keeps every
 * admission record (whatever its account) with its block, and a proof carries the admission of each
 * signer of its records that has one. (The prover does not know the validator set: a validator is simply
 * a signer without an admission record.)
 */
import { join } from 'node:path';
import type { Logger } from '../../shared/log.ts';
import {
  admissionOf,
  isAdmissionRecord,
  leafHash,
  ledgerPaths,
  openBlockLog,
  proofForLeaves,
  readBlocks,
  type BlockHeader,
  type EdgeProof,
  type EdgeProofBlock,
  type QuorumSignature,
} from '../../shared/ledger/index.ts';
import type { BlockRecord } from '../../shared/protocol/messages.ts';
import { RECEIPT_RECORD_PREFIX } from '../edge/descriptor.ts';
import { RELEASE_RECORD_PREFIX } from '../edge/release.ts';

interface IndexedBlock {
  header: BlockHeader;
  qc: QuorumSignature[];
  leaves: Uint8Array[];
  /** This account's records (admissions aside), by index in the block. */
  records: Map<number, BlockRecord>;
  /** The block's admission records (any account), by index in the block. */
  admissions: Map<number, BlockRecord>;
}

/** Where a chunk was committed: a block (by position in the index) and a record index in it. */
interface Commit {
  block: number;
  record: number;
}

/** Records per chunk kept: the latest ones (a chunk laid out again more often keeps only its recent layouts). */
const COMMITS_PER_CHUNK_MAX = 4;

/** A descriptor's record in the ledger: the object id is its `manifestRoot`. */
export interface DescriptorRecord {
  height: number;
  snapshotId: string;
  id: string;
  record: BlockRecord;
}

const ZERO_ROOT = Buffer.alloc(32);

export class EdgeProver {
  private constructor(
    readonly site: string,
    private readonly blocks: IndexedBlock[],
    private readonly commits: Map<string, Commit[]>,
    /** Where each storage member was admitted, by node name (the first admission of a name: the only valid one). */
    private readonly admissions: Map<string, Commit>,
  ) {}

  /** The records that hold chunk (or object) `id`, newest first. */
  versions(id: string): BlockRecord[] {
    return (this.commits.get(id) ?? []).map((c) => this.blocks[c.block]!.records.get(c.record)!).reverse();
  }

  /** Snapshots of the account whose cloud receipt the ledger records. */
  receipts(): Set<string> {
    return this.named(RECEIPT_RECORD_PREFIX);
  }

  /** Snapshots of the account its gateway forgot and released (agent/edge/release.ts). */
  released(): Set<string> {
    return this.named(RELEASE_RECORD_PREFIX);
  }

  private named(prefix: string): Set<string> {
    const out = new Set<string>();
    for (const b of this.blocks) {
      for (const record of b.records.values()) {
        if (record.snapshotId.startsWith(prefix) && !ZERO_ROOT.equals(record.manifestRoot)) out.add(record.snapshotId.slice(prefix.length));
      }
    }
    return out;
  }

  /** The snapshot descriptors of the account, in ledger order. */
  descriptors(): DescriptorRecord[] {
    const out: DescriptorRecord[] = [];
    for (const b of this.blocks) {
      for (const record of b.records.values()) {
        if (ZERO_ROOT.equals(record.manifestRoot) || record.snapshotId.startsWith(RECEIPT_RECORD_PREFIX) || record.snapshotId.startsWith(RELEASE_RECORD_PREFIX)) continue;
        const id = Buffer.from(record.manifestRoot).toString('hex');
        if (!record.shards.some((s) => Buffer.from(s.chunk).toString('hex') === id)) continue;
        out.push({ height: b.header.height, snapshotId: record.snapshotId, id, record });
      }
    }
    return out;
  }

  /** Indexes the ledger of the gateway whose state is in `stateRoot`, for the records of `account`. */
  static async open(stateRoot: string, site: string, account: string, logger?: Logger): Promise<EdgeProver> {
    const log = await openBlockLog(ledgerPaths(join(stateRoot, 'edge', 'ledger')).blocksFile, 'r');
    const blocks: IndexedBlock[] = [];
    const commits = new Map<string, Commit[]>();
    const admissions = new Map<string, Commit>();
    try {
      for await (const event of readBlocks(log)) {
        if (event.kind !== 'block') {
          // The tail being appended, or damage `ledger verify` reports: what was read before it stands.
          if (event.kind === 'corrupt') logger?.warn({ offset: event.offset, why: event.why }, 'the site ledger has a damaged block: chunks after it cannot be proven');
          break;
        }
        const { block } = event;
        const mine = new Map<number, BlockRecord>();
        const admitting = new Map<number, BlockRecord>();
        block.records.forEach((r, i) => {
          if (isAdmissionRecord(r)) admitting.set(i, r);
          else if (r.account === account) mine.set(i, r);
        });
        if (mine.size === 0 && admitting.size === 0) continue;
        const at = blocks.length;
        blocks.push({
          header: { height: block.height, prevHash: block.prevHash, time: block.time, merkleRoot: block.merkleRoot },
          qc: block.qc,
          leaves: block.records.map(leafHash),
          records: mine,
          admissions: admitting,
        });
        for (const [index, record] of admitting) {
          const member = admissionOf(record);
          if (typeof member !== 'string' && !admissions.has(member.node)) admissions.set(member.node, { block: at, record: index });
        }
        for (const [index, record] of mine) {
          const seen = new Set<string>();
          for (const s of record.shards) {
            const id = Buffer.from(s.chunk).toString('hex');
            if (seen.has(id)) continue;
            seen.add(id);
            let list = commits.get(id);
            if (!list) commits.set(id, (list = []));
            list.push({ block: at, record: index });
            if (list.length > COMMITS_PER_CHUNK_MAX) list.shift();
          }
        }
      }
    } finally {
      await log.fh.close();
    }
    return new EdgeProver(site, blocks, commits, admissions);
  }

  /** How many chunks of the account the ledger commits. */
  get chunkCount(): number {
    return this.commits.size;
  }

  /**
   * A proof for `ids` (each block once, in height order), and the ids no block of the ledger holds. It
   * carries the admission record of every signer of its records that the ledger admitted as a storage
   * member (with that record's block, when no proven record is in it).
   */
  prove(ids: readonly string[]): { proof: EdgeProof | undefined; unproven: string[] } {
    const wanted = new Map<number, Set<number>>();
    const unproven: string[] = [];
    for (const id of ids) {
      const list = this.commits.get(id);
      if (!list) {
        unproven.push(id);
        continue;
      }
      for (const c of list) {
        let records = wanted.get(c.block);
        if (!records) wanted.set(c.block, (records = new Set()));
        records.add(c.record);
      }
    }
    if (wanted.size === 0) return { proof: undefined, unproven };
    const signers = new Set<string>();
    for (const [at, records] of wanted) for (const index of records) for (const s of this.blocks[at]!.records.get(index)!.signatures) signers.add(s.signer);
    for (const signer of signers) {
      const admission = this.admissions.get(signer);
      if (!admission) continue; // a validator (or a signer the ledger never admitted: the verifier says so)
      let records = wanted.get(admission.block);
      if (!records) wanted.set(admission.block, (records = new Set()));
      records.add(admission.record);
    }
    const blocks: EdgeProofBlock[] = [...wanted].sort((a, b) => a[0] - b[0]).map(([at, records]) => {
      const b = this.blocks[at]!;
      return {
        ...b.header,
        qc: b.qc,
        entries: [...records]
          .sort((x, y) => x - y)
          .map((index) => ({ record: (b.records.get(index) ?? b.admissions.get(index))!, proof: proofForLeaves(b.leaves, index) })),
      };
    });
    return { proof: { site: this.site, blocks }, unproven };
  }
}
