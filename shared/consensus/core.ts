/**
 * The state of one PBFT replica and the small helpers every protocol file uses (sign, verify, emit an
 * action, find a log entry). The protocol itself lives in normal-case.ts, checkpoint.ts,
 * view-change.ts and status.ts as functions over a `Core`; replica.ts is the public face.
 *
 * A Core is internal: shells use `Replica`.
 */
import { VoteSet } from './quorum.ts';
import { hex, signAll, type Signer, type Verifier } from './crypto.ts';
import { requestKey, requestSignedBytes, requestWork, signedBytes, type Checkpoint, type Commit, type Message, type NewView, type PrePrepare,
  type Prepare, type PreparedCert, type CommitCert, type Request, type Unsigned, type ViewChange,
  type ReplicaMessage, type Reply } from './messages.ts';
import { GENESIS_CHECKPOINT, type PersistRecord, type SnapshotRecord, type StableCheckpoint } from './persistence.ts';
import { Timeout, type ReplicaTimeouts } from './timeouts.ts';
import type { Action, Application, ClientId, ReplicaId, ReplicaOptions } from './types.ts';

/** One sequence number's slot in the log. */
export interface Entry {
  readonly seq: number;
  /** The view the voting state (prePrepare, prepares, commits) belongs to. */
  view: number;
  prePrepare: PrePrepare | undefined;
  /** Prepares of `view`, by digest, one per replica. */
  prepares: VoteSet<Prepare>;
  commits: VoteSet<Commit>;
  /** This replica prepared in `view` and sent its commit. */
  sentCommit: boolean;
  /** Highest-view prepared certificate this replica holds (survives view changes). */
  preparedCert: PreparedCert | undefined;
  /** Set once committed (locally, or from a peer's certificate); the entry is then executable. */
  commitCert: CommitCert | undefined;
}

export interface ClientRecord {
  readonly requestId: number;
  readonly result: Uint8Array;
}

export interface ReplicaStats {
  received: number;
  /** Dropped messages by reason (bad signature, bad certificate, out of window, ...). */
  rejected: Record<string, number>;
}

export class Core {
  readonly quorum: number;
  readonly out: Action[] = [];
  readonly stats: ReplicaStats = { received: 0, rejected: {} };

  ticks = 0;
  clockMs = 0;
  view = 0;
  viewChanging = false;
  /** Consecutive view changes without progress; the view timeout doubles with each. */
  viewChangeAttempts = 0;
  /** Tick at which the primary of the current view was last heard acting as one (suspicion.ts). */
  primaryHeardAt = 0;
  /** Tick of each replica's last valid status, by id (suspicion.ts). */
  readonly statusHeardAt: number[];
  /** What each replica's last valid status said it had executed, in which view (suspicion.ts `behindProgress`). */
  readonly statusExecuted: Array<{ view: number; viewChanging: boolean; lastExecuted: number } | undefined>;
  readonly log = new Map<number, Entry>();
  /** Low watermark h: the last stable checkpoint known (its state may still be being fetched). */
  stable: StableCheckpoint = GENESIS_CHECKPOINT;
  lastExecuted = 0;
  /** Next sequence number the primary assigns. */
  nextSeq = 1;
  /** Own snapshots at checkpoints >= stable.seq. */
  readonly snapshots = new Map<number, SnapshotRecord>();
  readonly ownCheckpoints = new Map<number, Checkpoint>();
  /** Checkpoint votes inside the window, by seq then digest. */
  readonly checkpointVotes = new Map<number, VoteSet<Checkpoint>>();
  readonly clientTable = new Map<ClientId, ClientRecord>();
  /** Requests waiting to execute, the latest per client. Changed through hold/release only. */
  readonly pending = new Map<ClientId, Request>();
  /**
   * Request keys already in an unexecuted entry of the current view (the primary skips them). Changed
   * through logRequest/unlogRequest/clearLog only.
   */
  readonly inLog = new Set<string>();
  /**
   * The pending requests not in `inLog`: what the primary may propose, so that proposing does not walk
   * every pending request each time (under load most are in flight, and it ran on every arrival).
   */
  readonly unproposed = new Map<ClientId, Request>();
  /** Each replica's highest valid view-change message. */
  readonly latestViewChange = new Map<ReplicaId, ViewChange>();
  /** The new-view message that started the current view (for peers that missed it). */
  newView: NewView | undefined;
  /** State transfer: index into the proof's signers of the replica asked next. */
  fetchAttempt = 0;
  readonly timeouts: ReplicaTimeouts;

  constructor(
    readonly n: number,
    readonly f: number,
    readonly id: ReplicaId,
    readonly options: ReplicaOptions,
    readonly signer: Signer,
    readonly verifier: Verifier,
    readonly app: Application,
    quorum: number,
  ) {
    this.quorum = quorum;
    this.statusHeardAt = new Array<number>(n).fill(-Infinity);
    this.statusExecuted = new Array(n).fill(undefined);
    this.timeouts = {
      view: new Timeout('view', options.viewTimeoutTicks),
      status: new Timeout('status', options.statusIntervalTicks),
      fetch: new Timeout('fetch', options.stateTransferTimeoutTicks),
    };
    this.timeouts.status.start();
  }

  primaryOf(view: number): ReplicaId {
    return view % this.n;
  }

  isPrimary(): boolean {
    return this.primaryOf(this.view) === this.id;
  }

  isReplica(id: number): boolean {
    return Number.isSafeInteger(id) && id >= 0 && id < this.n;
  }

  /** h < seq <= h + L */
  inWindow(seq: number): boolean {
    return seq > this.stable.seq && seq <= this.stable.seq + this.options.logWindow;
  }

  viewTimeoutTicks(): number {
    const { viewTimeoutTicks, viewTimeoutTicksMax } = this.options;
    return Math.min(viewTimeoutTicks * 2 ** Math.min(this.viewChangeAttempts, 30), viewTimeoutTicksMax);
  }

  /** The entry for seq, created empty for the current view. Callers check the window first. */
  entry(seq: number): Entry {
    let e = this.log.get(seq);
    if (!e) {
      e = {
        seq,
        view: this.view,
        prePrepare: undefined,
        prepares: new VoteSet(),
        commits: new VoteSet(),
        sentCommit: false,
        preparedCert: undefined,
        commitCert: undefined,
      };
      this.log.set(seq, e);
    } else if (e.view < this.view) {
      resetVotes(e, this.view);
    }
    return e;
  }

  // ---- pending requests and the log's request keys (pending, inLog and unproposed move together) ----

  hold(r: Request): void {
    this.pending.set(r.client, r);
    if (this.inLog.has(requestKey(r.client, r.requestId))) this.unproposed.delete(r.client);
    else this.unproposed.set(r.client, r);
  }

  release(client: ClientId): void {
    this.pending.delete(client);
    this.unproposed.delete(client);
  }

  logRequest(r: Request): void {
    this.inLog.add(requestKey(r.client, r.requestId));
    if (this.pending.get(r.client)?.requestId === r.requestId) this.unproposed.delete(r.client);
  }

  unlogRequest(r: Request): void {
    this.inLog.delete(requestKey(r.client, r.requestId));
    const held = this.pending.get(r.client);
    if (held?.requestId === r.requestId) this.unproposed.set(r.client, held);
  }

  clearLog(): void {
    this.inLog.clear();
    this.unproposed.clear();
    for (const [client, r] of this.pending) this.unproposed.set(client, r);
  }

  sign<M extends Exclude<Message, Request>>(unsigned: Unsigned<M>): M {
    return { ...unsigned, sig: this.signer.sign(signedBytes(unsigned)) } as unknown as M;
  }

  /** Signs several messages at once: one signature over their Merkle root where the signer allows it. */
  signMany<M extends Exclude<Message, Request>>(unsigned: readonly Unsigned<M>[]): M[] {
    const sigs = signAll(this.signer, unsigned.map((u) => signedBytes(u)));
    return unsigned.map((u, i) => ({ ...u, sig: sigs[i]! }) as unknown as M);
  }

  /** A replica message signed by a replica of this cluster. */
  verify(m: ReplicaMessage | Reply): boolean {
    return this.isReplica(m.replica) && this.verifier.verifyReplica(m.replica, signedBytes(m), m.sig);
  }

  verifyRequest(r: Request): boolean {
    // The verdict is kept on the request (a primary checks it on arrival and in its batch): messages.ts.
    const work = requestWork(r);
    if (work.verifiedBy === this.verifier) return true;
    if (r.op.length > this.options.opBytesMax) return false;
    if (!this.verifier.verifyClient(r.client, requestSignedBytes(r), r.sig)) return false;
    work.verifiedBy = this.verifier;
    return true;
  }

  reject(reason: string): void {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1;
  }

  send(to: ReplicaId, message: ReplicaMessage | Request): void {
    if (to !== this.id) this.out.push({ type: 'send', to, message });
  }

  broadcast(message: ReplicaMessage | Request): void {
    if (this.n > 1) this.out.push({ type: 'broadcast', message });
  }

  persist(record: PersistRecord): void {
    this.out.push({ type: 'persist', record });
  }

  persistEntry(e: Entry): void {
    this.persist({
      kind: 'entry',
      entry: { seq: e.seq, prePrepare: e.prePrepare, preparedCert: e.preparedCert, commitCert: e.commitCert },
    });
  }

  reply(client: ClientId, message: Reply): void {
    this.out.push({ type: 'reply', client, message });
  }

  /** Drains the actions produced since the last call. */
  take(): Action[] {
    return this.out.splice(0, this.out.length);
  }
}

/** Forgets the voting state of an older view; certificates stay. */
export function resetVotes(e: Entry, view: number): void {
  e.view = view;
  e.prePrepare = undefined;
  e.prepares = new VoteSet();
  e.commits = new VoteSet();
  e.sentCommit = false;
}

export function digestKey(digest: Uint8Array): string {
  return hex(digest);
}
