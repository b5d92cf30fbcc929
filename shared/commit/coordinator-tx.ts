/**
 * One transaction at its coordinator (DESIGN §5 steps 2–3). Phases:
 *
 *   checking ──ledger: not there, not expired (or no answer in time)──▶ preparing
 *      └─ledger: committed / past the deadline──▶ done   (a takeover of a decided tx stages nothing)
 *   preparing ──all targets signed──▶ ordering ──block holds txId──▶ done (ok)
 *       │  a target refused / timed out: re-place its shards, new round (new digest, all re-sign)
 *       └─no member left or rounds exhausted──▶ abandoned ──ledger verdict──▶ done (ok or EXPIRED)
 *
 * Every target must sign, not a quorum: the record names every shard's node, and the commit promises the
 * data is durable at its geometry, so a record may only name shards that are staged where it says.
 *
 * Each round has one record content and so one transaction digest; a PrepareResponse counts only if its
 * signature verifies over the current digest with the target's key (stale rounds and forgeries fall out
 * the same way), and each target counts once. Targets that already staged a shard get it again with empty
 * data (re-solicit without re-sending bytes); a target that lost it answers SHARD_DATA_NEEDED.
 *
 * The requester hears only a ledger verdict (deadline.ts, point 5): committed — whichever coordinator's
 * record for this txId got in — or EXPIRED once the ledger's tip is past ts + txLifetimeMs without it.
 * Abandoning sends TxAbort hints but never answers by itself, because another coordinator (takeover) may
 * still commit the same txId before the deadline.
 */
import { assert } from '../errors.ts';
import { transactionDigest, type RecordContent } from '../protocol/digest.ts';
import type { BlockRecord, CommitResponse, PrepareResponse, ShardPut } from '../protocol/messages.ts';
import type { Member } from '../placement/member.ts';
import { replaceShard } from '../placement/place.ts';
import { txDeadlineMs } from './deadline.ts';
import type { CommittedTx, CoordinatorAction, TxSpec } from './events.ts';
import type { CommitOptions } from './options.ts';
import { committedResponse, failedResponse, OutcomeCode } from './outcome.ts';
import { RefusalCode, refusalCode } from './wire.ts';

/** Verifies `signer`'s Ed25519 signature with its registered public key; never throws. */
export type VerifyTxSignature = (signer: string, digest: Uint8Array, signature: Uint8Array) => boolean;

export interface TxContext {
  readonly options: CommitOptions;
  readonly verify: VerifyTxSignature;
  /** The coordinator's tick counter. */
  now(): number;
}

export type CoordinatorPhase = 'checking' | 'preparing' | 'ordering' | 'abandoned' | 'done';

interface Target {
  node: string;
  /** Indices into spec.shards. */
  shards: number[];
  status: 'waiting' | 'ok' | 'failed';
  attempts: number;
  nextSendTick: number;
  signature?: Uint8Array;
  failure?: string;
}

const EMPTY = new Uint8Array(0);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class CoordinatorTx {
  readonly key: string;
  readonly deadlineMs: number;
  private phaseNow: CoordinatorPhase = 'checking';
  private checkUntilTick = 0;
  private round = 0;
  private placement: string[];
  private content!: RecordContent;
  private digest!: Uint8Array;
  private targets = new Map<string, Target>();
  private readonly chunkGroups = new Map<string, number[]>();
  private readonly requesters = new Set<string>();
  /** node → hashes (hex) it confirmed staged by a good signature. */
  private readonly acked = new Map<string, Set<string>>();
  private readonly everTargeted = new Set<string>();
  private readonly excluded = new Set<string>();
  private record: BlockRecord | undefined;
  private submits = 0;
  private nextSubmitTick = 0;
  private nextQueryTick = Number.POSITIVE_INFINITY;
  private queryUntilTick = -1;
  private abandonReason: string | undefined;
  outcome: CommitResponse | undefined;

  constructor(
    private readonly spec: TxSpec,
    requester: string,
    placement: string[],
    private readonly members: readonly Member[],
    private readonly ctx: TxContext,
  ) {
    assert(placement.length === spec.shards.length, 'one placement per shard');
    this.key = hex(spec.txId);
    this.deadlineMs = txDeadlineMs(spec.ts, ctx.options);
    this.placement = placement;
    this.requesters.add(requester);
    spec.shards.forEach((s, i) => {
      const k = hex(s.chunk);
      const group = this.chunkGroups.get(k);
      if (group) group.push(i);
      else this.chunkGroups.set(k, [i]);
    });
    this.buildRound();
  }

  get phase(): CoordinatorPhase {
    return this.phaseNow;
  }

  /** Looks the txId up first: a takeover may find it already ordered (or expired). */
  start(out: CoordinatorAction[]): void {
    this.checkUntilTick = this.ctx.now() + this.ctx.options.ledgerQueryIntervalTicks;
    this.query(out);
  }

  private startPreparing(out: CoordinatorAction[]): void {
    this.phaseNow = 'preparing';
    this.sendRound(out);
  }

  addRequester(requester: string): void {
    this.requesters.add(requester);
  }

  onPrepareResponse(from: string, body: PrepareResponse, out: CoordinatorAction[]): void {
    const code = body.ok ? undefined : refusalCode(body.reason);
    if (code === RefusalCode.committed || code === RefusalCode.expired) this.query(out);
    const t = this.targets.get(from);
    if (this.phaseNow !== 'preparing' || t === undefined || t.status !== 'waiting') return;
    if (body.ok) {
      // A signature over another round's digest (late) or by another key simply does not verify.
      if (body.signature === undefined || !this.ctx.verify(from, this.digest, body.signature)) return;
      t.status = 'ok';
      t.signature = body.signature;
      let set = this.acked.get(from);
      if (!set) this.acked.set(from, (set = new Set()));
      for (const i of t.shards) set.add(hex(this.spec.shards[i]!.hash));
    } else if (code === RefusalCode.committed) {
      return; // the ledger answer finishes the transaction
    } else if (code === RefusalCode.shardDataNeeded && t.attempts < this.ctx.options.prepareAttemptsMax) {
      this.acked.delete(from);
      this.send(t, out);
      return;
    } else {
      t.status = 'failed';
      t.failure = body.reason ?? 'refused';
    }
    this.advanceIfSettled(out);
  }

  onTick(out: CoordinatorAction[]): void {
    const now = this.ctx.now();
    const o = this.ctx.options;
    if (this.phaseNow === 'checking' && now >= this.checkUntilTick) this.startPreparing(out);
    else if (this.phaseNow === 'preparing') {
      for (const t of this.targets.values()) {
        if (t.status !== 'waiting' || t.nextSendTick > now) continue;
        if (t.attempts >= o.prepareAttemptsMax) {
          t.status = 'failed';
          t.failure = `TIMEOUT: no answer to ${t.attempts} PrepareRequests`;
        } else {
          this.send(t, out);
        }
      }
      this.advanceIfSettled(out);
    } else if (this.phaseNow === 'ordering' && this.nextSubmitTick <= now && this.submits < o.orderingSubmitsMax) {
      this.submit(out);
    }
    if ((this.phaseNow === 'ordering' || this.phaseNow === 'abandoned') && this.nextQueryTick <= now) {
      this.nextQueryTick = now + o.ledgerQueryIntervalTicks;
      this.query(out);
      if (this.phaseNow === 'abandoned' || this.submits >= o.orderingSubmitsMax) out.push({ kind: 'wantLedgerPast', timeMs: this.deadlineMs });
    }
  }

  /** A block (or a ledger answer) holds the txId: whichever coordinator's record it is, the tx committed. */
  onCommitted(c: CommittedTx, out: CoordinatorAction[]): void {
    if (this.phaseNow === 'done') return;
    this.finish(committedResponse(this.spec.txId, c.height, c.blockHash), out);
    const body = { txId: this.spec.txId, height: c.height, blockHash: c.blockHash };
    // Earlier rounds' targets hear it too: their staging is superseded and they can drop it now.
    const nodes = new Set([...c.record.shards.map((s) => s.node), ...this.everTargeted]);
    for (const node of nodes) out.push({ kind: 'send', to: node, message: { type: 'TxCommitted', body } });
  }

  onLedgerAnswer(committed: CommittedTx | undefined, tipTimeMs: number | undefined, out: CoordinatorAction[]): void {
    this.queryUntilTick = -1;
    if (this.phaseNow === 'done') return;
    if (committed !== undefined) this.onCommitted(committed, out);
    else if (tipTimeMs !== undefined && tipTimeMs > this.deadlineMs) this.expire(out);
    else if (this.phaseNow === 'checking') this.startPreparing(out);
  }

  /** A block with this time committed without the txId: past the deadline, ask for the verdict. */
  onTipTime(timeMs: number, out: CoordinatorAction[]): void {
    if (this.phaseNow !== 'done' && timeMs > this.deadlineMs) this.query(out);
  }

  private buildRound(): void {
    const s = this.spec;
    this.content = {
      txId: s.txId,
      ts: s.ts,
      account: s.account,
      snapshotId: s.snapshotId,
      manifestRoot: s.manifestRoot,
      dataShards: s.dataShards,
      parityShards: s.parityShards,
      shards: s.shards.map((sh, i) => ({ chunk: sh.chunk, index: sh.index, hash: sh.hash, node: this.placement[i]! })),
    };
    this.digest = transactionDigest(this.content);
    this.targets = new Map();
    this.placement.forEach((node, i) => {
      const t = this.targets.get(node);
      if (t) t.shards.push(i);
      else this.targets.set(node, { node, shards: [i], status: 'waiting', attempts: 0, nextSendTick: 0 });
    });
  }

  private sendRound(out: CoordinatorAction[]): void {
    for (const t of this.targets.values()) this.send(t, out);
  }

  private send(t: Target, out: CoordinatorAction[]): void {
    t.attempts++;
    t.nextSendTick = this.ctx.now() + this.ctx.options.prepareTimeoutTicks;
    this.everTargeted.add(t.node);
    const known = this.acked.get(t.node);
    const shards: ShardPut[] = t.shards.map((i) => {
      const sh = this.spec.shards[i]!;
      return known?.has(hex(sh.hash)) ? { chunk: sh.chunk, index: sh.index, hash: sh.hash, data: EMPTY } : sh;
    });
    const body = { txId: this.spec.txId, digest: this.digest, account: this.spec.account, shards, stageTimeoutMs: this.ctx.options.txLifetimeMs };
    out.push({ kind: 'send', to: t.node, message: { type: 'PrepareRequest', body } });
  }

  private advanceIfSettled(out: CoordinatorAction[]): void {
    if (this.phaseNow !== 'preparing') return;
    const all = [...this.targets.values()];
    if (all.some((t) => t.status === 'waiting')) return;
    const failed = all.filter((t) => t.status === 'failed');
    if (failed.length === 0) return this.order(out);
    const why = failed.map((t) => `${t.node} (${t.failure})`).join(', ');
    if (this.round >= this.ctx.options.replaceRoundsMax) return this.abandon(`targets failed after ${this.round + 1} rounds: ${why}`, out);
    for (const t of failed) this.excluded.add(t.node);
    const next = [...this.placement];
    for (const t of failed) {
      for (const i of t.shards) {
        const sh = this.spec.shards[i]!;
        const taken = this.chunkGroups.get(hex(sh.chunk))!.filter((j) => j !== i).map((j) => next[j]!);
        const node = replaceShard(sh.chunk, sh.index, this.members, taken, this.excluded, { allowedRegions: this.spec.allowedRegions });
        if (node === undefined) return this.abandon(`no member left to hold shard ${sh.index} of chunk ${hex(sh.chunk).slice(0, 12)}; failed: ${why}`, out);
        next[i] = node;
      }
    }
    this.round++;
    this.placement = next;
    this.buildRound();
    this.sendRound(out);
  }

  private order(out: CoordinatorAction[]): void {
    const signatures = [...this.targets.values()]
      .map((t) => ({ signer: t.node, signature: t.signature! }))
      .sort((a, b) => (a.signer < b.signer ? -1 : a.signer > b.signer ? 1 : 0));
    this.record = { ...this.content, signatures };
    this.phaseNow = 'ordering';
    this.nextQueryTick = this.ctx.now() + this.ctx.options.ledgerQueryIntervalTicks;
    this.submit(out);
  }

  private submit(out: CoordinatorAction[]): void {
    this.submits++;
    this.nextSubmitTick = this.ctx.now() + this.ctx.options.orderingRetryTicks;
    out.push({ kind: 'submitForOrdering', request: { txId: this.spec.txId, record: this.record! } });
  }

  private abandon(reason: string, out: CoordinatorAction[]): void {
    this.phaseNow = 'abandoned';
    this.abandonReason = reason;
    this.nextQueryTick = this.ctx.now() + this.ctx.options.ledgerQueryIntervalTicks;
    this.broadcastAbort(reason, out);
    out.push({ kind: 'wantLedgerPast', timeMs: this.deadlineMs });
    this.query(out);
  }

  private expire(out: CoordinatorAction[]): void {
    const why = this.abandonReason ? `; the coordinator gave up: ${this.abandonReason}` : '';
    this.finish(failedResponse(this.spec.txId, OutcomeCode.expired, `the ledger passed the transaction's deadline (${this.deadlineMs}) without it${why}`), out);
    this.broadcastAbort('expired', out);
  }

  private finish(response: CommitResponse, out: CoordinatorAction[]): void {
    this.phaseNow = 'done';
    this.outcome = response;
    for (const to of this.requesters) out.push({ kind: 'respond', to, response });
  }

  private broadcastAbort(reason: string, out: CoordinatorAction[]): void {
    const body = { txId: this.spec.txId, reason: reason.slice(0, 1024) };
    for (const node of this.everTargeted) out.push({ kind: 'send', to: node, message: { type: 'TxAbort', body } });
  }

  private query(out: CoordinatorAction[]): void {
    const now = this.ctx.now();
    if (now < this.queryUntilTick) return;
    this.queryUntilTick = now + this.ctx.options.ledgerQueryIntervalTicks;
    out.push({ kind: 'queryLedger', txId: this.spec.txId });
  }

  invariants(): void {
    assert(this.round <= this.ctx.options.replaceRoundsMax, 'round within replaceRoundsMax');
    for (const group of this.chunkGroups.values()) {
      const nodes = group.map((i) => this.placement[i]);
      assert(new Set(nodes).size === nodes.length, 'the shards of one chunk are on distinct members');
    }
    let shards = 0;
    for (const t of this.targets.values()) {
      shards += t.shards.length;
      for (const i of t.shards) assert(this.placement[i] === t.node, 'targets follow the placement');
      assert(t.status !== 'ok' || t.signature !== undefined, 'an ok target has a signature');
      assert(t.attempts <= this.ctx.options.prepareAttemptsMax, 'attempts within prepareAttemptsMax');
    }
    assert(shards === this.spec.shards.length, 'every shard has one target');
    if (this.phaseNow === 'ordering') {
      assert(this.record !== undefined && this.record.signatures.length === this.targets.size, 'an ordered record has one signature per target');
      assert(this.submits <= this.ctx.options.orderingSubmitsMax, 'submits within orderingSubmitsMax');
    }
    assert((this.phaseNow === 'done') === (this.outcome !== undefined), 'an outcome exactly when done');
  }
}
