/**
 * Cluster-wide checkers, run on every action of every correct replica (TigerBeetle VOPR style):
 * - agreement: no two correct replicas execute different batches (or get different results) at one seq;
 * - executed logs are identical prefixes: each replica executes seq after seq, jumping only by state
 *   transfer or after a restart;
 * - validity and exactly-once: only operations clients submitted execute, a (client, request id) at
 *   one seq only, and the app never sees it twice;
 * - no committed request lost: a result a client accepted is the one correct replicas executed, and at
 *   the end every correct replica has executed it;
 * - stable checkpoints agree on the state digest;
 * - a correct replica never says two different things for one (view, seq), crashes included.
 * A violation throws `SimFailure` with the tick, so the seed replays straight to it.
 */
import type { Action, ExecutedRequest, ReplicaMessage, Request } from '../../shared/consensus/index.ts';

export class SimFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimFailure';
  }
}

type ExecuteAction = Extract<Action, { type: 'execute' }>;

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const key = (client: string, requestId: number) => `${client}/${requestId}`;

export class Checker {
  now = 0;
  readonly executed = new Map<number, string>();
  readonly requestSeq = new Map<string, number>();
  readonly requestResult = new Map<string, string>();
  readonly checkpoints = new Map<number, string>();
  readonly lastExecuted = new Map<number, number | undefined>();
  readonly accepted = new Map<string, string>();
  maxExecuted = 0;
  /** What clients really submitted: only these operations may ever execute. */
  readonly submitted = new Map<string, string>();
  /** What each correct replica said per (type, view, seq): it must never say two things. */
  private readonly statements = new Map<string, string>();
  /** Per seq: the lowest view it was committed in (from executions) and its digest. */
  private readonly committedAt = new Map<number, { view: number; digest: string }>();
  /** Per seq: the commits correct replicas sent (prepared certificates they hold). */
  private readonly commitsSent = new Map<number, { view: number; digest: string; replica: number }[]>();

  fail(message: string): never {
    throw new SimFailure(`tick ${this.now}: ${message}`);
  }

  onExecute(replica: number, a: ExecuteAction): void {
    const previous = this.lastExecuted.get(replica);
    if (previous !== undefined && a.seq !== previous + 1) {
      this.fail(`replica ${replica} executed seq ${a.seq} after ${previous} (executed logs must be contiguous)`);
    }
    this.lastExecuted.set(replica, a.seq);
    const summary = `${hex(a.digest)}|${a.requests.map((r) => `${key(r.client, r.requestId)}=${hex(r.result)}`).join(',')}`;
    const known = this.executed.get(a.seq);
    if (known === undefined) this.executed.set(a.seq, summary);
    else if (known !== summary) this.fail(`agreement: replica ${replica} executed ${summary} at seq ${a.seq}, others ${known}`);
    this.maxExecuted = Math.max(this.maxExecuted, a.seq);
    const committed = this.committedAt.get(a.seq);
    if (!committed || a.view < committed.view) {
      this.committedAt.set(a.seq, { view: a.view, digest: hex(a.digest) });
      for (const c of this.commitsSent.get(a.seq) ?? []) this.checkPreparedAfterCommit(a.seq, c);
    }
    for (const r of a.requests) this.onRequestExecuted(replica, a.seq, r);
  }

  onSubmitted(client: string, requestId: number, op: Uint8Array): void {
    this.submitted.set(key(client, requestId), hex(op));
  }

  private onRequestExecuted(replica: number, seq: number, r: ExecutedRequest): void {
    const k = key(r.client, r.requestId);
    const op = this.submitted.get(k);
    if (op !== hex(r.op)) this.fail(`replica ${replica} executed ${k} with an operation the client never submitted`);
    const at = this.requestSeq.get(k);
    if (at === undefined) {
      this.requestSeq.set(k, seq);
      this.requestResult.set(k, hex(r.result));
    } else if (at !== seq) {
      this.fail(`exactly-once: request ${k} executed at seq ${seq} by replica ${replica}, and before at seq ${at}`);
    }
  }

  /**
   * A correct replica never equivocates, even across crashes: one pre-prepare, prepare and commit per
   * (view, seq), one checkpoint digest per seq. Persistence bugs show up here first.
   */
  onSent(replica: number, m: ReplicaMessage | Request): void {
    let subject: string;
    let said: string;
    switch (m.type) {
      case 'pre-prepare': case 'prepare': case 'commit':
        subject = `${replica}/${m.type}/${m.view}/${m.seq}`;
        said = hex(m.digest);
        break;
      case 'checkpoint':
        subject = `${replica}/checkpoint/${m.seq}`;
        said = hex(m.stateDigest);
        break;
      default:
        return;
    }
    if (m.type === 'commit') {
      const c = { view: m.view, digest: said, replica };
      let sent = this.commitsSent.get(m.seq);
      if (!sent) this.commitsSent.set(m.seq, (sent = []));
      sent.push(c);
      this.checkPreparedAfterCommit(m.seq, c);
    }
    const before = this.statements.get(subject);
    if (before === undefined) this.statements.set(subject, said);
    else if (before !== said) this.fail(`correct replica ${replica} equivocated: ${subject} was ${before}, now ${said}`);
  }

  /** PBFT safety: once seq commits in view v, no correct replica prepares anything else at seq in a view >= v. */
  private checkPreparedAfterCommit(seq: number, c: { view: number; digest: string; replica: number }): void {
    const committed = this.committedAt.get(seq);
    if (committed && c.view >= committed.view && c.digest !== committed.digest) {
      this.fail(`replica ${c.replica} prepared ${c.digest} at seq ${seq} in view ${c.view}, but ${committed.digest} committed there in view ${committed.view}`);
    }
  }

  onStateTransferred(replica: number, seq: number): void {
    this.lastExecuted.set(replica, seq);
  }

  onRestart(replica: number): void {
    this.lastExecuted.set(replica, undefined);
  }

  onStable(replica: number, seq: number, digest: Uint8Array): void {
    const d = hex(digest);
    const known = this.checkpoints.get(seq);
    if (known === undefined) this.checkpoints.set(seq, d);
    else if (known !== d) this.fail(`replica ${replica} has stable checkpoint ${seq} = ${d}, others ${known}`);
  }

  onClientResult(client: string, requestId: number, result: Uint8Array): void {
    const k = key(client, requestId);
    const executed = this.requestResult.get(k);
    if (executed === undefined) this.fail(`client ${client} accepted ${requestId}, which no correct replica executed`);
    if (executed !== hex(result)) this.fail(`client ${client} accepted result ${hex(result)} for ${requestId}, correct replicas computed ${executed}`);
    this.accepted.set(k, executed);
  }
}
