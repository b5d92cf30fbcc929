/**
 * The consensus messages (PBFT, Castro & Liskov OSDI'99 / TOCS'02) as one discriminated union, and the
 * exact bytes each signature covers.
 *
 * Every message is signed by its sender. A signature covers a compact, unambiguous byte string built
 * here (a domain tag, the type, fixed-width integers and length-prefixed fields), never a
 * re-encoding of the wire format, so the codec can change without touching signatures. Messages that
 * embed other signed messages (certificates) cover them through their own signed bytes; a pre-prepare
 * covers its batch through the batch digest.
 *
 * A message object is never mutated once built: the simulator hands one object to many replicas.
 */
import { sha256 } from './crypto.ts';
import type { ClientId, ReplicaId } from './types.ts';

export interface Request {
  readonly type: 'request';
  readonly client: ClientId;
  /** Increases with every request of this client; execution is exactly-once per (client, requestId). */
  readonly requestId: number;
  readonly op: Uint8Array;
  readonly sig: Uint8Array;
}

export interface PrePrepare {
  readonly type: 'pre-prepare';
  readonly view: number;
  readonly seq: number;
  /** batchDigest(batch); an empty batch is the null request of a new view. */
  readonly digest: Uint8Array;
  readonly timeMs: number;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
  readonly batch: readonly Request[];
}

export interface Prepare {
  readonly type: 'prepare';
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

export interface Commit {
  readonly type: 'commit';
  readonly view: number;
  readonly seq: number;
  readonly digest: Uint8Array;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

export interface Checkpoint {
  readonly type: 'checkpoint';
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

/** A pre-prepare and quorum-1 matching prepares from distinct backups (PBFT "prepared"). */
export interface PreparedCert {
  readonly prePrepare: PrePrepare;
  readonly prepares: readonly Prepare[];
}

/** A pre-prepare and a quorum of matching commits from distinct replicas (PBFT "committed-local"). */
export interface CommitCert {
  readonly prePrepare: PrePrepare;
  readonly commits: readonly Commit[];
}

export interface ViewChange {
  readonly type: 'view-change';
  /** The view the sender wants to move to. */
  readonly view: number;
  readonly stableSeq: number;
  /** A quorum of matching checkpoint messages for stableSeq (empty when stableSeq = 0). */
  readonly checkpointProof: readonly Checkpoint[];
  /** The P set: for each seq above stableSeq, the prepared certificate of the highest view. */
  readonly prepared: readonly PreparedCert[];
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

export interface NewView {
  readonly type: 'new-view';
  readonly view: number;
  /** V: a quorum of valid view-change messages for `view` from distinct replicas. */
  readonly viewChanges: readonly ViewChange[];
  /** O: the pre-prepares computed deterministically from V. */
  readonly prePrepares: readonly PrePrepare[];
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

/** Periodic summary; peers answer with what the sender misses (retransmission). */
export interface Status {
  readonly type: 'status';
  readonly view: number;
  readonly viewChanging: boolean;
  readonly stableSeq: number;
  readonly lastExecuted: number;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

export interface FetchState {
  readonly type: 'fetch-state';
  readonly seq: number;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

/** The application snapshot and client table at a stable checkpoint, plus the committed log after it. */
export interface StateSnapshot {
  readonly type: 'state';
  readonly seq: number;
  readonly stateDigest: Uint8Array;
  readonly checkpointProof: readonly Checkpoint[];
  readonly snapshot: Uint8Array;
  readonly clientTable: Uint8Array;
  readonly committed: readonly CommitCert[];
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

/**
 * Catch-up for a peer that is behind: our stable checkpoint's proof (empty if the peer has it) and
 * commit certificates after it. Both prove themselves, whoever forwards them.
 */
export interface Committed {
  readonly type: 'committed';
  readonly checkpointProof: readonly Checkpoint[];
  readonly certs: readonly CommitCert[];
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

export interface Reply {
  readonly type: 'reply';
  readonly view: number;
  readonly client: ClientId;
  readonly requestId: number;
  readonly result: Uint8Array;
  readonly replica: ReplicaId;
  readonly sig: Uint8Array;
}

/** What replicas send each other. */
export type ReplicaMessage =
  | PrePrepare
  | Prepare
  | Commit
  | Checkpoint
  | ViewChange
  | NewView
  | Status
  | FetchState
  | StateSnapshot
  | Committed;

export type Message = Request | ReplicaMessage | Reply;
export type MessageType = Message['type'];

/** Replica messages without their signature, as built before signing. */
export type Unsigned<M> = M extends { sig: Uint8Array } ? Omit<M, 'sig'> : never;

const TAGS: Record<MessageType, number> = {
  request: 1,
  'pre-prepare': 2,
  prepare: 3,
  commit: 4,
  checkpoint: 5,
  'view-change': 6,
  'new-view': 7,
  status: 8,
  'fetch-state': 9,
  state: 10,
  committed: 11,
  reply: 12,
};

const utf8 = new TextEncoder();
const DOMAIN = utf8.encode('2baksa/pbft/v1');

/**
 * A growable byte writer for signed bytes. One writer is reused for every top-level call (nested
 * messages are written into it in place), so signing allocates only the final copy.
 */
class Writer {
  buf = new Uint8Array(4096);
  at = 0;

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + bytes));
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }

  /** A safe integer as 8 bytes, big-endian. */
  uint(v: number): this {
    this.room(8);
    const hi = Math.floor(v / 0x100000000);
    const lo = v >>> 0;
    const b = this.buf;
    let i = this.at;
    b[i++] = hi >>> 24; b[i++] = (hi >>> 16) & 0xff; b[i++] = (hi >>> 8) & 0xff; b[i++] = hi & 0xff;
    b[i++] = lo >>> 24; b[i++] = (lo >>> 16) & 0xff; b[i++] = (lo >>> 8) & 0xff; b[i++] = lo & 0xff;
    this.at = i;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.uint(b.length);
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  /** A string as its UTF-8 bytes, length-prefixed: encoded in place (a client id in every request and reply). */
  str(s: string): this {
    this.room(8 + 3 * s.length);
    const lengthAt = this.at;
    const { written } = utf8.encodeInto(s, this.buf.subarray(lengthAt + 8));
    this.uint(written);
    this.at += written;
    return this;
  }

  /** A nested signed message: its signed bytes (length-prefixed, written in place) and its signature. */
  signed(m: Message): this {
    const lengthAt = this.at;
    this.uint(0);
    writeSigned(this, m);
    const length = this.at - lengthAt - 8;
    const end = this.at;
    this.at = lengthAt;
    this.uint(length);
    this.at = end;
    return this.bytes(m.sig);
  }

  header(type: MessageType): this {
    this.room(DOMAIN.length);
    this.buf.set(DOMAIN, this.at);
    this.at += DOMAIN.length;
    return this.u8(TAGS[type]);
  }
}

const shared = new Writer();

/** The bytes a message's signature covers (everything but the signature and unsigned payloads). */
export function signedBytes(m: Unsigned<Message> | Message): Uint8Array {
  shared.at = 0;
  writeSigned(shared, m);
  return shared.buf.slice(0, shared.at);
}

function writeSigned(w: Writer, m: Unsigned<Message> | Message): void {
  switch (m.type) {
    case 'request':
      w.header(m.type).str(m.client).uint(m.requestId).bytes(m.op);
      return;
    case 'pre-prepare':
      w.header(m.type).uint(m.view).uint(m.seq).bytes(m.digest).uint(m.timeMs).uint(m.replica);
      return;
    case 'prepare':
    case 'commit':
      w.header(m.type).uint(m.view).uint(m.seq).bytes(m.digest).uint(m.replica);
      return;
    case 'checkpoint':
      w.header(m.type).uint(m.seq).bytes(m.stateDigest).uint(m.replica);
      return;
    case 'view-change':
      w.header(m.type).uint(m.view).uint(m.stableSeq).uint(m.replica);
      w.uint(m.checkpointProof.length);
      for (const c of m.checkpointProof) w.signed(c);
      w.uint(m.prepared.length);
      for (const p of m.prepared) {
        w.signed(p.prePrepare).uint(p.prepares.length);
        for (const x of p.prepares) w.signed(x);
      }
      return;
    case 'new-view':
      w.header(m.type).uint(m.view).uint(m.replica);
      w.uint(m.viewChanges.length);
      for (const v of m.viewChanges) w.signed(v);
      w.uint(m.prePrepares.length);
      for (const p of m.prePrepares) w.signed(p);
      return;
    case 'status':
      w.header(m.type).uint(m.view).u8(m.viewChanging ? 1 : 0).uint(m.stableSeq).uint(m.lastExecuted).uint(m.replica);
      return;
    case 'fetch-state':
      w.header(m.type).uint(m.seq).uint(m.replica);
      return;
    // The snapshot, the proof and the certificates prove themselves; the signature names the sender.
    case 'state':
      w.header(m.type).uint(m.seq).bytes(m.stateDigest).uint(m.replica);
      return;
    case 'committed':
      w.header(m.type).uint(m.checkpointProof.length).uint(m.certs.length).uint(m.replica);
      return;
    case 'reply':
      w.header(m.type).uint(m.view).str(m.client).uint(m.requestId).bytes(m.result).uint(m.replica);
      return;
  }
}

/**
 * What is worked out once per request object, kept on it: its digest, its signed bytes from the digest
 * until its signature check takes them (requestSignedBytes), and the verifier that accepted it
 * (core.ts). Kept on the object, not in weak tables: every replica digests and checks every request,
 * and WeakMaps of a hundred thousand entries cost the collector more than the hashing. The record is a
 * non-enumerable property, so a request built by spreading another (`{ ...r, op }`, as a forger does)
 * starts without it; and what it holds is a function of fields that never change, so an object shared
 * between replicas (the simulator) may share it.
 */
export interface RequestWork {
  digest?: Uint8Array;
  signedBytes?: Uint8Array;
  verifiedBy?: unknown;
}

const WORK = Symbol('request work');

export function requestWork(r: Request): RequestWork {
  let w = (r as Request & { [WORK]?: RequestWork })[WORK];
  if (!w) {
    w = {};
    Object.defineProperty(r, WORK, { value: w });
  }
  return w;
}

/** Identifies a request (client, requestId, op); cached per object. */
export function requestDigest(r: Request): Uint8Array {
  const w = requestWork(r);
  if (!w.digest) {
    const bytes = signedBytes(r);
    w.digest = sha256(bytes);
    w.signedBytes = bytes;
  }
  return w.digest;
}

/**
 * A request's signed bytes for its signature check, built once per request with its digest: a backup
 * digests a pre-prepare's batch and then checks each request's signature (the bytes the digest was
 * built from are taken here), a primary checks a request on arrival and digests it when it proposes
 * it (the digest is made here). Either way one 1 KiB copy per request and replica fewer.
 */
export function requestSignedBytes(r: Request): Uint8Array {
  const w = requestWork(r);
  const bytes = w.signedBytes;
  if (bytes) {
    w.signedBytes = undefined;
    return bytes;
  }
  const built = signedBytes(r);
  w.digest ??= sha256(built);
  return built;
}

const BATCH_DOMAIN = utf8.encode('2baksa/pbft/v1/batch');

export function batchDigest(batch: readonly Request[]): Uint8Array {
  return sha256(BATCH_DOMAIN, ...batch.map(requestDigest));
}

/** The digest of the empty batch: the null request that fills holes in a new view. */
export const NULL_DIGEST = batchDigest([]);

const STATE_DOMAIN = utf8.encode('2baksa/pbft/v1/state');

/** What checkpoint messages agree on: the application snapshot and the client table. */
export function stateDigest(snapshot: Uint8Array, clientTable: Uint8Array): Uint8Array {
  return sha256(STATE_DOMAIN, sha256(snapshot), sha256(clientTable));
}

export function requestKey(client: ClientId, requestId: number): string {
  return `${client}\u0000${requestId}`;
}
