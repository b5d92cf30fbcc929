/**
 * One simulated node: the two pure cores (Coordinator, Participant) bound to a simulated disk, network,
 * ledger view and clock — the same job a production shell does, synchronously. A crash throws away both
 * cores, in-flight disk writes (each lands durably, partly, or not at all) and pending ledger queries;
 * the disk and the node's ledger view (a replica's chain is durable) survive. A restart boots fresh cores
 * and feeds the participant `restore` with the staged transactions on disk.
 */
import {
  Coordinator,
  Participant,
  routeCommitMessage,
  txKeyOf,
  type CommitMessage,
  type CommitOptions,
  type CoordinatorAction,
  type CoordinatorEvent,
  type LedgerAnswer,
  type ParticipantAction,
  type ParticipantEvent,
  type TxSpec,
} from '../../../shared/commit/index.ts';
import { sign, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { unreachable } from '../../../shared/errors.ts';
import type { Member } from '../../../shared/placement/index.ts';
import { defaultRegistry } from '../../../shared/protocol/index.ts';
import type { CommitResponse, ShardPut } from '../../../shared/protocol/messages.ts';
import { violation, type CommitChecker } from './checker.ts';
import { SimDisk } from './disk.ts';
import type { SimNetwork } from './network.ts';
import type { SimOrdering } from './ordering.ts';
import type { Prng } from '../prng.ts';

export type Payload =
  | { kind: 'commit'; message: CommitMessage }
  | { kind: 'begin'; spec: TxSpec }
  | { kind: 'response'; response: CommitResponse };

export interface Services {
  prng: Prng;
  net: SimNetwork<Payload>;
  ordering: SimOrdering;
  checker: CommitChecker;
  options: Partial<CommitOptions>;
  stageFailP: number;
  ledgerCatchUpP: number;
  now(): number;
  simMs(): number;
  members(): Member[];
  keyOf(node: string): SigningKeyPair;
  verify(signer: string, digest: Uint8Array, sig: Uint8Array): boolean;
  trace(line: string): void;
}

interface StageOp {
  ticket: number;
  due: number;
  txKey: string;
  shards: ShardPut[];
  fail: boolean;
}

type Role = 'c' | 'p';
const QUERIES_PER_STEP_MAX = 10_000;

export class SimNode {
  up = true;
  viewHeight = 0;
  readonly disk = new SimDisk();
  coordinator!: Coordinator;
  participant!: Participant;
  private stages: StageOp[] = [];
  private queries: { role: Role; txId: Uint8Array }[] = [];
  private draining = false;

  constructor(
    readonly id: string,
    readonly domain: string,
    readonly clockOffsetMs: number,
    private readonly s: Services,
  ) {
    this.boot();
  }

  clockMs(): number {
    return this.s.simMs() + this.clockOffsetMs;
  }

  get busy(): boolean {
    const p = this.participant.status();
    return p.open > 0 || p.stagingInFlight > 0 || this.stages.length > 0 || this.coordinator.status().inFlight > 0 || this.disk.staged.size > 0;
  }

  crash(): void {
    this.up = false;
    for (const op of this.stages) {
      if (this.s.prng.chance(0.5)) for (const sh of op.shards) if (this.s.prng.chance(0.7)) this.disk.putStaged(op.txKey, sh.data, this.clockMs());
    }
    this.stages = [];
    this.queries = [];
    this.s.trace(`${this.id} CRASH (staged on disk: ${this.disk.staged.size})`);
  }

  restart(): void {
    this.up = true;
    this.boot();
    this.s.trace(`${this.id} RESTART, restoring ${this.disk.staged.size} staged`);
    this.stepP({ kind: 'restore', staged: this.disk.stagedTransactions() });
  }

  receive(from: string, payload: Payload): void {
    if (!this.up) return;
    if (payload.kind === 'begin') {
      this.stepC({ kind: 'begin', requester: from, spec: payload.spec, members: this.s.members(), nowMs: this.clockMs() });
      return;
    }
    if (payload.kind === 'response') return;
    const routed = routeCommitMessage(from, payload.message, this.clockMs());
    if (routed.role === 'coordinator') this.stepC(routed.event);
    else this.stepP(routed.event);
  }

  tick(): void {
    if (!this.up) return;
    const now = this.s.now();
    const done = this.stages.filter((op) => op.due <= now);
    this.stages = this.stages.filter((op) => op.due > now);
    for (const op of done) {
      if (op.fail) {
        if (this.s.prng.chance(0.5) && op.shards[0]) this.disk.putStaged(op.txKey, op.shards[0].data, this.clockMs());
        this.stepP({ kind: 'staged', ticket: op.ticket, ok: false, reason: 'DISK_FULL: simulated' });
      } else {
        for (const sh of op.shards) this.disk.putStaged(op.txKey, sh.data, this.clockMs());
        this.stepP({ kind: 'staged', ticket: op.ticket, ok: true });
      }
    }
    const blocks = this.s.ordering.blocks;
    if (this.viewHeight < blocks.length && this.s.prng.chance(this.s.ledgerCatchUpP)) {
      const b = blocks[this.viewHeight++]!;
      const ev = { kind: 'blockCommitted' as const, height: b.height, blockHash: b.hash, timeMs: b.timeMs, records: b.records };
      this.stepC(ev);
      this.stepP(ev);
    }
    this.stepC({ kind: 'tick' });
    this.stepP({ kind: 'tick' });
  }

  private boot(): void {
    const key = this.s.keyOf(this.id);
    this.coordinator = new Coordinator({ self: this.id, verify: this.s.verify, options: this.s.options });
    this.participant = new Participant({ self: this.id, sign: (d) => sign(key.privateKey, d), options: this.s.options });
  }

  private stepC(event: CoordinatorEvent): void {
    const actions = this.coordinator.step(event);
    this.coordinator.invariants();
    this.exec('c', actions);
  }

  private stepP(event: ParticipantEvent): void {
    const actions = this.participant.step(event);
    this.participant.invariants();
    this.exec('p', actions);
  }

  /** The shell: executes actions in order, then answers the ledger queries they asked. */
  private exec(role: Role, actions: (CoordinatorAction | ParticipantAction)[]): void {
    const now = this.s.now();
    for (const a of actions) {
      switch (a.kind) {
        case 'send':
          try {
            defaultRegistry.schemaOf(a.message.type)!.parse(a.message.body);
          } catch (e) {
            violation(`${this.id} sent a ${a.message.type} that breaks its schema: ${(e as Error).message}`);
          }
          this.s.net.send(this.id, a.to, { kind: 'commit', message: a.message }, now);
          break;
        case 'submitForOrdering':
          this.s.ordering.submit(a.request, now);
          break;
        case 'respond':
          this.s.trace(`${this.id} → ${a.to}: tx ${txKeyOf(a.response.txId).slice(0, 8)} ${a.response.ok ? `ok@${a.response.height}` : a.response.reason}`);
          this.s.net.send(this.id, a.to, { kind: 'response', response: a.response }, now);
          break;
        case 'queryLedger':
          this.queries.push({ role, txId: a.txId });
          break;
        case 'wantLedgerPast':
          this.s.ordering.want(a.timeMs);
          break;
        case 'stage':
          this.stages.push({ ticket: a.ticket, due: now + this.s.prng.range(1, 4), txKey: a.txKey, shards: a.shards, fail: this.s.prng.chance(this.s.stageFailP) });
          break;
        case 'commitStaged':
          this.s.trace(`${this.id} commitStaged ${a.txKey.slice(0, 8)}`);
          this.s.checker.onCommitStaged(this.id, a.txKey);
          this.disk.commit(a.txKey);
          break;
        case 'abortStaged':
          this.s.trace(`${this.id} abortStaged ${a.txKey.slice(0, 8)}: ${a.reason}`);
          this.s.checker.onAbortStaged(this.id, a.txKey);
          this.disk.abort(a.txKey);
          break;
        default:
          unreachable(a, 'action');
      }
    }
    if (this.draining) return;
    this.draining = true;
    try {
      for (let i = 0; this.queries.length > 0; i++) {
        if (i > QUERIES_PER_STEP_MAX) violation(`${this.id}: ledger queries never stop`);
        const q = this.queries.shift()!;
        const answer = this.answer(q.txId);
        if (q.role === 'c') this.stepC(answer);
        else this.stepP(answer);
      }
    } finally {
      this.draining = false;
    }
  }

  /** A ledger answer from this node's view: one consistent prefix of the chain. */
  private answer(txId: Uint8Array): LedgerAnswer {
    const blocks = this.s.ordering.blocks;
    const c = this.s.ordering.committed.get(txKeyOf(txId));
    const answer: LedgerAnswer = { kind: 'ledgerAnswer', txId };
    if (c && c.height < this.viewHeight) answer.committed = { height: c.height, blockHash: blocks[c.height]!.hash, record: c.record };
    if (this.viewHeight > 0) answer.tipTimeMs = blocks[this.viewHeight - 1]!.timeMs;
    return answer;
  }
}
