/**
 * The placement-target role of one node: a pure state machine, `step(event) → actions[]`.
 *
 * PrepareRequest → check every shard (hash of the data; empty data = "you already staged it") → `stage`
 * the missing ones → only when the shell reports them durable, sign the digest and answer. A shard set that
 * is already staged is signed at once (re-solicits from a new round or a takeover coordinator).
 *
 * Deciding a transaction (see deadline.ts for why this never rolls back a committed one):
 *  - a committed block (or ledger answer) holds it → `commitStaged` (or `abortStaged` when the committed
 *    record places nothing here: our staging is from a round that lost);
 *  - never signed (no record can carry our signature) → may drop on TxAbort or on its staged timeout;
 *  - signed → drop only on a ledger answer without it whose tip time is past participantDeadlineMs.
 * `stagedTimeoutTicks` after the last activity, and every `ledgerQueryIntervalTicks` after that, the
 * participant asks its ledger. After a restart, `restore` reopens every staged transaction as signed.
 */
import { assert, unreachable } from '../errors.ts';
import { bytesEqual, sha256 } from '../protocol/digest.ts';
import { TX_ID_BYTES_MAX, TX_ID_BYTES_MIN, type BlockRecord, type PrepareRequest, type ShardPut } from '../protocol/messages.ts';
import { participantDeadlineMs } from './deadline.ts';
import { txKeyOf, type LedgerAnswer, type ParticipantAction, type ParticipantEvent, type RestoredStaging } from './events.ts';
import { commitOptions, type CommitOptions } from './options.ts';
import { RefusalCode, refusal, type CommitMessage, type TxAbort } from './wire.ts';

/** Signs a transaction digest with this node's key. */
export type SignTxDigest = (digest: Uint8Array) => Uint8Array;

export interface ParticipantConfig {
  self: string;
  sign: SignTxDigest;
  options?: Partial<CommitOptions>;
}

interface OpenTx {
  key: string;
  txId: Uint8Array;
  /** Hashes (hex) of shards durable in staging. */
  staged: Set<string>;
  /** A signature for this tx may exist (always true after a restart). */
  signed: boolean;
  /** A PrepareRequest's receive time (ms); bounds the record's ts. Set when signed. */
  receivedMs: number | undefined;
  pending: Set<number>;
  abortedBy: Set<string>;
  nextCheckTick: number;
  queryUntilTick: number;
}

interface PendingStage {
  key: string;
  from: string;
  digest: Uint8Array;
  receivedMs: number;
  hashes: string[];
}

/** committed: holds our shards; superseded: committed without us; expired / dropped: rolled back. */
type Finished = { outcome: 'committed' | 'superseded' | 'expired' | 'dropped'; abortedBy?: Set<string> };

export interface ParticipantStatus {
  tick: number;
  open: number;
  stagingInFlight: number;
  finished: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class Participant {
  readonly self: string;
  readonly options: CommitOptions;
  private readonly sign: SignTxDigest;
  private tickNow = 0;
  private nextTicket = 1;
  private readonly open = new Map<string, OpenTx>();
  private readonly tickets = new Map<number, PendingStage>();
  private readonly finished = new Map<string, Finished>();

  constructor(config: ParticipantConfig) {
    this.self = config.self;
    this.sign = config.sign;
    this.options = commitOptions(config.options);
  }

  step(event: ParticipantEvent): ParticipantAction[] {
    const out: ParticipantAction[] = [];
    switch (event.kind) {
      case 'prepareRequest':
        this.onPrepare(event.from, event.body, event.nowMs, out);
        break;
      case 'staged':
        this.onStaged(event.ticket, event.ok, event.reason, out);
        break;
      case 'abort':
        this.onAbort(event.from, event.body, out);
        break;
      case 'committedHint':
        this.queryNow(this.open.get(txKeyOf(event.body.txId)), out);
        break;
      case 'restore':
        for (const s of event.staged) this.onRestore(s, out);
        break;
      case 'blockCommitted':
        for (const record of event.records) {
          const tx = this.open.get(txKeyOf(record.txId));
          if (tx) this.decideCommitted(tx, record, out);
        }
        break;
      case 'ledgerAnswer':
        this.onLedgerAnswer(event, out);
        break;
      case 'tick':
        this.tickNow++;
        for (const tx of [...this.open.values()]) this.onTick(tx, out);
        break;
      default:
        unreachable(event, 'participant event');
    }
    while (this.finished.size > this.options.finishedTxsRememberedMax) this.finished.delete(this.finished.keys().next().value!);
    return out;
  }

  status(): ParticipantStatus {
    return { tick: this.tickNow, open: this.open.size, stagingInFlight: this.tickets.size, finished: this.finished.size };
  }

  /** 'open', a finished outcome, or undefined when unknown. */
  stateOf(txId: Uint8Array): string | undefined {
    const key = txKeyOf(txId);
    return this.open.has(key) ? 'open' : this.finished.get(key)?.outcome;
  }

  invariants(): void {
    assert(this.open.size <= this.options.openTxsMax, 'open transactions within openTxsMax');
    assert(this.finished.size <= this.options.finishedTxsRememberedMax, 'finished within finishedTxsRememberedMax');
    for (const [key, tx] of this.open) {
      assert(!this.finished.has(key), 'a transaction is either open or finished');
      assert(!tx.signed || tx.receivedMs !== undefined, 'a signed transaction has a receive time');
      assert(tx.pending.size <= this.options.pendingStagesPerTxMax, 'staging in flight within pendingStagesPerTxMax');
      for (const t of tx.pending) assert(this.tickets.get(t)?.key === key, 'pending tickets belong to their transaction');
    }
  }

  private onPrepare(from: string, body: PrepareRequest, nowMs: number, out: ParticipantAction[]): void {
    const key = txKeyOf(body.txId);
    const reply = (text: string) => this.reply(from, { txId: body.txId, ok: false, reason: text }, out);
    const fin = this.finished.get(key);
    if (fin) {
      if (fin.outcome === 'committed' || fin.outcome === 'superseded') return reply(refusal(RefusalCode.committed, 'the ledger holds this transaction'));
      if (fin.outcome === 'expired') return reply(refusal(RefusalCode.expired, 'the ledger passed its deadline; staging was rolled back'));
      if (fin.abortedBy?.has(from)) return reply(refusal(RefusalCode.aborted, 'you aborted this transaction here'));
    }
    let tx = this.open.get(key);
    if (tx?.abortedBy.has(from)) return reply(refusal(RefusalCode.aborted, 'you aborted this transaction here'));
    const toStage: ShardPut[] = [];
    const hashes: string[] = [];
    for (const s of body.shards) {
      const h = hex(s.hash);
      const where = `shard ${s.index} of chunk ${hex(s.chunk).slice(0, 12)}`;
      if (s.data.length === 0) {
        if (!tx?.staged.has(h)) return reply(refusal(RefusalCode.shardDataNeeded, `${where} is not staged here; send its data`));
        continue;
      }
      if (!bytesEqual(sha256(s.data), s.hash)) return reply(refusal(RefusalCode.hashMismatch, `${where}: the data does not hash to the shard hash`));
      if (!tx?.staged.has(h)) toStage.push(s);
      hashes.push(h);
    }
    if (!tx) {
      if (this.open.size >= this.options.openTxsMax) return reply(refusal(RefusalCode.busy, `${this.open.size} transactions open here; retry later`));
      this.finished.delete(key); // only a 'dropped' (never signed) one reaches here: start afresh
      tx = this.openTx(key, body.txId);
      for (const c of fin?.abortedBy ?? []) tx.abortedBy.add(c);
    }
    tx.nextCheckTick = this.tickNow + this.options.stagedTimeoutTicks;
    if (toStage.length === 0) return this.signAndReply(tx, from, body.digest, nowMs, out);
    if (tx.pending.size >= this.options.pendingStagesPerTxMax) return reply(refusal(RefusalCode.busy, 'too much staging in flight for this transaction'));
    const ticket = this.nextTicket++;
    tx.pending.add(ticket);
    this.tickets.set(ticket, { key, from, digest: body.digest, receivedMs: nowMs, hashes });
    out.push({ kind: 'stage', txId: tx.txId, txKey: key, ticket, shards: toStage });
  }

  private onStaged(ticket: number, ok: boolean, reason: string | undefined, out: ParticipantAction[]): void {
    const p = this.tickets.get(ticket);
    if (!p) return;
    this.tickets.delete(ticket);
    const tx = this.open.get(p.key);
    if (!tx || !tx.pending.has(ticket)) {
      if (tx) return; // a newer incarnation is open; its decision covers the store's whole transaction
      // Decided while this stage was in flight: resolve the late shards the same way. We never sign them.
      const txId = Buffer.from(p.key, 'hex');
      if (this.finished.get(p.key)?.outcome === 'committed') out.push({ kind: 'commitStaged', txId, txKey: p.key });
      else out.push({ kind: 'abortStaged', txId, txKey: p.key, reason: 'late staging of a decided transaction' });
      return;
    }
    tx.pending.delete(ticket);
    if (!ok) return this.reply(p.from, { txId: tx.txId, ok: false, reason: refusal(RefusalCode.stageFailed, reason ?? 'the shard store refused') }, out);
    for (const h of p.hashes) tx.staged.add(h);
    this.signAndReply(tx, p.from, p.digest, p.receivedMs, out);
  }

  private onAbort(from: string, body: TxAbort, out: ParticipantAction[]): void {
    const key = txKeyOf(body.txId);
    const tx = this.open.get(key);
    if (!tx) {
      const fin = this.finished.get(key);
      if (!fin) this.finished.set(key, { outcome: 'dropped', abortedBy: new Set([from]) });
      else if (fin.outcome === 'dropped') (fin.abortedBy ??= new Set()).add(from);
      return;
    }
    tx.abortedBy.add(from);
    if (!tx.signed) this.rollBack(tx, 'dropped', `${from} aborted it before we signed: ${body.reason}`, out);
    else this.queryNow(tx, out);
  }

  private onRestore(s: RestoredStaging, out: ParticipantAction[]): void {
    if (!/^[0-9a-f]*$/.test(s.txId) || s.txId.length < 2 * TX_ID_BYTES_MIN || s.txId.length > 2 * TX_ID_BYTES_MAX || s.txId.length % 2) return;
    let tx = this.open.get(s.txId);
    if (!tx) {
      if (this.open.size >= this.options.openTxsMax) return; // stays staged; a later restore or prepare reopens it
      tx = this.openTx(s.txId, new Uint8Array(Buffer.from(s.txId, 'hex')));
    }
    for (const id of s.shardIds) tx.staged.add(id);
    tx.signed = true; // we may have signed before the crash
    tx.receivedMs = Math.max(tx.receivedMs ?? s.modifiedMs, s.modifiedMs);
    this.queryNow(tx, out);
  }

  private onLedgerAnswer(a: LedgerAnswer, out: ParticipantAction[]): void {
    const tx = this.open.get(txKeyOf(a.txId));
    if (!tx) return;
    tx.queryUntilTick = -1;
    if (a.committed) return this.decideCommitted(tx, a.committed.record, out);
    if (!tx.signed) {
      if (tx.pending.size === 0) this.rollBack(tx, 'dropped', 'never signed and not in the ledger', out);
      return;
    }
    const deadline = participantDeadlineMs(tx.receivedMs!, this.options);
    if (a.tipTimeMs !== undefined && a.tipTimeMs > deadline) {
      return this.rollBack(tx, 'expired', `the ledger passed ${deadline} without it (tip time ${a.tipTimeMs})`, out);
    }
    tx.nextCheckTick = this.tickNow + this.options.ledgerQueryIntervalTicks;
    out.push({ kind: 'wantLedgerPast', timeMs: deadline });
  }

  private onTick(tx: OpenTx, out: ParticipantAction[]): void {
    if (tx.nextCheckTick > this.tickNow) return;
    if (!tx.signed && tx.pending.size === 0) return this.rollBack(tx, 'dropped', 'never signed; staged timeout', out);
    this.queryNow(tx, out);
  }

  private decideCommitted(tx: OpenTx, record: BlockRecord, out: ParticipantAction[]): void {
    this.open.delete(tx.key);
    if (record.shards.some((s) => s.node === this.self)) {
      this.finished.set(tx.key, { outcome: 'committed' });
      out.push({ kind: 'commitStaged', txId: tx.txId, txKey: tx.key });
    } else {
      this.finished.set(tx.key, { outcome: 'superseded' });
      out.push({ kind: 'abortStaged', txId: tx.txId, txKey: tx.key, reason: 'the committed record places no shard here' });
    }
  }

  /** The only way staging of an undecided transaction goes away. `expired` needs a ledger answer; `dropped` an unsigned tx. */
  private rollBack(tx: OpenTx, outcome: 'expired' | 'dropped', reason: string, out: ParticipantAction[]): void {
    assert(outcome === 'expired' || !tx.signed, 'a signed transaction is rolled back only past its ledger deadline');
    this.open.delete(tx.key);
    this.finished.set(tx.key, { outcome, abortedBy: tx.abortedBy });
    out.push({ kind: 'abortStaged', txId: tx.txId, txKey: tx.key, reason });
  }

  private signAndReply(tx: OpenTx, to: string, digest: Uint8Array, receivedMs: number, out: ParticipantAction[]): void {
    tx.signed = true;
    tx.receivedMs = Math.max(tx.receivedMs ?? receivedMs, receivedMs);
    tx.nextCheckTick = this.tickNow + this.options.stagedTimeoutTicks;
    this.reply(to, { txId: tx.txId, ok: true, signature: this.sign(digest) }, out);
  }

  private reply(to: string, body: Extract<CommitMessage, { type: 'PrepareResponse' }>['body'], out: ParticipantAction[]): void {
    out.push({ kind: 'send', to, message: { type: 'PrepareResponse', body } });
  }

  private queryNow(tx: OpenTx | undefined, out: ParticipantAction[]): void {
    if (!tx || this.tickNow < tx.queryUntilTick) return;
    tx.queryUntilTick = this.tickNow + this.options.ledgerQueryIntervalTicks;
    tx.nextCheckTick = this.tickNow + this.options.ledgerQueryIntervalTicks;
    out.push({ kind: 'queryLedger', txId: tx.txId });
  }

  private openTx(key: string, txId: Uint8Array): OpenTx {
    const tx: OpenTx = {
      key,
      txId,
      staged: new Set(),
      signed: false,
      receivedMs: undefined,
      pending: new Set(),
      abortedBy: new Set(),
      nextCheckTick: this.tickNow + this.options.stagedTimeoutTicks,
      queryUntilTick: -1,
    };
    this.open.set(key, tx);
    return tx;
  }
}
