/**
 * Storage members: gateways that join a running edge cluster after its validator set was fixed.
 *
 * The validators (the members listed at `agent init`) order the site's ledger and certify its blocks; that
 * set never changes, so no certificate, no PBFT view and no cloud registration has to follow a changing
 * set. A gateway that comes later is admitted as a storage member (Ceph's monitors and OSDs): it stages,
 * signs and keeps shards like any member, backs up its own data through the validators, and follows the
 * ledger by sync, but it never votes. Its admission is a ledger record, so every validator, every
 * follower and the cloud learn its key from the same quorum-certified history:
 *
 *   txId, ts          as any record (the deadline rule applies)
 *   account           the new member's node name
 *   snapshotId        `member:<node name>`
 *   manifestRoot      its Ed25519 public key (32 bytes)
 *   k+m, shards       1+0, none
 *   signatures        one or more validators, over `admissionSigningBytes`: a context string, then the
 *                     record's transaction digest (a placement target signs bare digests that a coordinator
 *                     hands it, so a bare digest signature would let any member obtain an admission)
 *
 * The admitting validator takes the key from the operator (`cluster admit NAME --key HEX`, the key
 * `agent init` printed on the new gateway), not from a birth, so nothing is trusted on first use. A name
 * is admitted once; it cannot be a validator's, nor reuse a member's key. Records before the admission
 * cannot carry the member's signature (it was not a signer yet); records after it can, which every
 * verifier checks in chain order (verify.ts, the ledger machine, and edge proofs, which carry the
 * admission records of the storage members whose signatures they contain).
 *
 * Residual trust: one validator's signature admits a member. A Byzantine validator could admit gateways
 * of its own; they would receive shards of new chunks (never more than one shard of a chunk each, and
 * `cluster status` lists every admission with its block). Requiring a quorum of validator signatures is
 * a matter of collecting them before the record is submitted; the verifiers already accept several.
 */
import { PUBLIC_KEY_BYTES, verify } from '../crypto/sign.ts';
import { bytesEqual, transactionDigest } from '../protocol/digest.ts';
import type { BlockRecord } from '../protocol/messages.ts';
import { isValidSegment } from '../protocol/topics.ts';
import type { SignerRegistry } from './quorum.ts';

export const MEMBER_RECORD_PREFIX = 'member:';
const ADMISSION_SIGNING_CONTEXT = new TextEncoder().encode('2baksa member admission v1\0');

/** What a validator signs to admit a member: a context no other signature of ours starts with, then the digest. */
export function admissionSigningBytes(record: BlockRecord): Uint8Array {
  const digest = transactionDigest(record);
  const out = new Uint8Array(ADMISSION_SIGNING_CONTEXT.length + digest.length);
  out.set(ADMISSION_SIGNING_CONTEXT);
  out.set(digest, ADMISSION_SIGNING_CONTEXT.length);
  return out;
}

export interface Admission {
  node: string;
  publicKey: Uint8Array;
}

export interface AdmittedMember extends Admission {
  /** The block that holds the admission, and the record's index in it (undefined while verifying that block). */
  height?: number;
  index?: number;
}

/** Whether the record claims to be an admission (its shape is checked by `checkAdmission`). */
export function isAdmissionRecord(record: Pick<BlockRecord, 'snapshotId'>): boolean {
  return record.snapshotId.startsWith(MEMBER_RECORD_PREFIX);
}

/** The admission a record carries, or why it is not a well-formed one. */
export function admissionOf(record: BlockRecord): Admission | string {
  const node = record.snapshotId.slice(MEMBER_RECORD_PREFIX.length);
  if (!isAdmissionRecord(record) || !isValidSegment(node)) return 'an admission record is named member:<node name>';
  if (record.account !== node) return `an admission record's account is the member's name (${node}), not ${record.account}`;
  if (record.shards.length > 0 || record.dataShards !== 1 || record.parityShards !== 0) return 'an admission record places no shards (1+0, none)';
  if (record.manifestRoot.length !== PUBLIC_KEY_BYTES) return `an admission record carries a ${PUBLIC_KEY_BYTES}-byte Ed25519 key`;
  return { node, publicKey: record.manifestRoot };
}

/** The unsigned admission record of `node` with `publicKey` (sign `admissionSigningBytes` with a validator key). */
export function admissionRecord(admission: Admission, txId: Uint8Array, ts: number): BlockRecord {
  return {
    txId,
    ts,
    account: admission.node,
    snapshotId: `${MEMBER_RECORD_PREFIX}${admission.node}`,
    manifestRoot: new Uint8Array(admission.publicKey),
    dataShards: 1,
    parityShards: 0,
    shards: [],
    signatures: [],
  };
}

/**
 * The storage members admitted so far, in admission order. A child (`new AdmittedKeys(parent)`) sees its
 * parent's members and its own, and adds only to itself: a block is verified on a child, and its members
 * join the parent once the whole block is good.
 */
export class AdmittedKeys {
  private readonly own = new Map<string, AdmittedMember>();

  constructor(private readonly parent?: AdmittedKeys) {}

  get(node: string): AdmittedMember | undefined {
    return this.own.get(node) ?? this.parent?.get(node);
  }

  keyOf(node: string): Uint8Array | undefined {
    return this.get(node)?.publicKey;
  }

  has(node: string): boolean {
    return this.get(node) !== undefined;
  }

  hasKey(publicKey: Uint8Array): boolean {
    for (const m of this.own.values()) if (bytesEqual(m.publicKey, publicKey)) return true;
    return this.parent?.hasKey(publicKey) ?? false;
  }

  admit(member: AdmittedMember): void {
    this.own.set(member.node, { ...member, publicKey: new Uint8Array(member.publicKey) });
  }

  /** Admits the members the records of block `height` admit (records already verified). */
  learn(records: readonly BlockRecord[], height: number): void {
    records.forEach((record, index) => this.learnOne(record, height, index));
  }

  /** Admits the member of record `index` of block `height`, if it is a (verified) admission of a new name. */
  learnOne(record: BlockRecord, height: number, index: number): void {
    if (!isAdmissionRecord(record)) return;
    const a = admissionOf(record);
    if (typeof a !== 'string' && !this.has(a.node)) this.admit({ ...a, height, index });
  }

  /** Every member, the parent's first. */
  members(): AdmittedMember[] {
    return [...(this.parent?.members() ?? []), ...this.own.values()];
  }

  get size(): number {
    return this.own.size + (this.parent?.size ?? 0);
  }
}

/**
 * Why an admission record may not join the chain, or undefined: well formed, a new name that is no
 * validator's, a key no member uses, and signatures by distinct validators (at least one) over
 * `admissionSigningBytes`.
 */
export function checkAdmission(record: BlockRecord, validators: SignerRegistry, admitted: AdmittedKeys): string | undefined {
  const a = admissionOf(record);
  if (typeof a === 'string') return a;
  if (validators.has(a.node)) return `${a.node} is a validator of this cluster already`;
  if (admitted.has(a.node)) return `${a.node} was admitted already`;
  if (admitted.hasKey(a.publicKey) || validators.entries().some((v) => bytesEqual(v.publicKey, a.publicKey))) {
    return `the key of ${a.node} is another member's`;
  }
  if (record.signatures.length === 0) return `the admission of ${a.node} is signed by no validator`;
  const signing = admissionSigningBytes(record);
  const seen = new Set<string>();
  for (const { signer, signature } of record.signatures) {
    const key = validators.keyOf(signer);
    if (!key) return `the admission of ${a.node} is signed by ${JSON.stringify(signer)}, which is not a validator`;
    if (seen.has(signer)) return `signer ${signer} signed twice`;
    seen.add(signer);
    if (!verify(key, signing, signature)) return `the signature of ${signer} over the admission of ${a.node} does not verify`;
  }
  return undefined;
}
