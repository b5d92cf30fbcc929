/**
 * The coordinator role of one node: a pure state machine, `step(event) → actions[]`, holding the
 * transactions this node coordinates (coordinator-tx.ts has the protocol of one).
 *
 * `begin` checks the request, places every chunk's shards (shared/placement: rendezvous, failure domains,
 * residency) and starts round 0. A `begin` for a transaction in flight only adds its requester; one for a
 * finished transaction gets the remembered outcome. Fast recovery needs nothing special here: when a
 * coordinator dies, the requester sends the same `begin` (same txId and ts) to the next member of
 * `coordinatorOrder(txId, live)`, which first asks its ledger (an already ordered transaction is just
 * completed) and otherwise re-solicits the prepares; targets re-stage idempotently and sign its digest.
 */
import { BaksaError, assert, unreachable } from '../errors.ts';
import { sha256, bytesEqual } from '../protocol/digest.ts';
import { HASH_BYTES, TX_ID_BYTES_MAX, TX_ID_BYTES_MIN, recordBounds, type CommitResponse } from '../protocol/messages.ts';
import { place } from '../placement/place.ts';
import { CoordinatorTx, type TxContext, type VerifyTxSignature } from './coordinator-tx.ts';
import { txKeyOf, type CoordinatorAction, type CoordinatorEvent, type TxSpec } from './events.ts';
import type { Member } from '../placement/member.ts';
import { commitOptions, type CommitOptions } from './options.ts';
import { failedResponse, OutcomeCode } from './outcome.ts';

export interface CoordinatorConfig {
  /** This node's id. */
  self: string;
  verify: VerifyTxSignature;
  options?: Partial<CommitOptions>;
}

export interface CoordinatorStatus {
  tick: number;
  inFlight: number;
  finished: number;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class Coordinator {
  readonly self: string;
  readonly options: CommitOptions;
  private tickNow = 0;
  private readonly txs = new Map<string, CoordinatorTx>();
  private readonly finished = new Map<string, CommitResponse>();
  private readonly ctx: TxContext;

  constructor(config: CoordinatorConfig) {
    this.self = config.self;
    this.options = commitOptions(config.options);
    this.ctx = { options: this.options, verify: config.verify, now: () => this.tickNow };
  }

  step(event: CoordinatorEvent): CoordinatorAction[] {
    const out: CoordinatorAction[] = [];
    switch (event.kind) {
      case 'begin':
        this.begin(event.requester, event.spec, event.members, event.nowMs, out);
        break;
      case 'prepareResponse':
        this.txs.get(txKeyOf(event.body.txId))?.onPrepareResponse(event.from, event.body, out);
        break;
      case 'blockCommitted':
        for (const record of event.records) {
          this.txs.get(txKeyOf(record.txId))?.onCommitted({ height: event.height, blockHash: event.blockHash, record }, out);
        }
        for (const tx of this.txs.values()) tx.onTipTime(event.timeMs, out);
        break;
      case 'ledgerAnswer':
        this.txs.get(txKeyOf(event.txId))?.onLedgerAnswer(event.committed, event.tipTimeMs, out);
        break;
      case 'tick':
        this.tickNow++;
        for (const tx of this.txs.values()) tx.onTick(out);
        break;
      default:
        unreachable(event, 'coordinator event');
    }
    this.sweep();
    return out;
  }

  status(): CoordinatorStatus {
    return { tick: this.tickNow, inFlight: this.txs.size, finished: this.finished.size };
  }

  /** The phase of a transaction this node coordinates, 'finished', or undefined when unknown. */
  phaseOf(txId: Uint8Array): string | undefined {
    const key = txKeyOf(txId);
    return this.txs.get(key)?.phase ?? (this.finished.has(key) ? 'finished' : undefined);
  }

  invariants(): void {
    assert(this.txs.size <= this.options.txsInFlightMax, 'transactions in flight within txsInFlightMax');
    assert(this.finished.size <= this.options.finishedTxsRememberedMax, 'finished within finishedTxsRememberedMax');
    for (const [key, tx] of this.txs) {
      assert(!this.finished.has(key), 'a transaction is either in flight or finished');
      tx.invariants();
    }
  }

  private begin(requester: string, spec: TxSpec, members: readonly Member[], nowMs: number, out: CoordinatorAction[]): void {
    const key = txKeyOf(spec.txId);
    const done = this.finished.get(key);
    if (done) return void out.push({ kind: 'respond', to: requester, response: done });
    const running = this.txs.get(key);
    if (running) return running.addRequester(requester);
    const refuse = (code: string, text: string) => void out.push({ kind: 'respond', to: requester, response: failedResponse(spec.txId, code, text) });
    const bad = checkSpec(spec, nowMs, this.options);
    if (bad) return refuse(OutcomeCode.invalid, bad);
    if (this.txs.size >= this.options.txsInFlightMax) return refuse(OutcomeCode.busy, `${this.txs.size} transactions in flight; retry later`);
    let placement: string[];
    try {
      placement = placeAll(spec, members);
    } catch (error) {
      if (error instanceof BaksaError) return refuse(error.code, error.message);
      throw error;
    }
    const tx = new CoordinatorTx(spec, requester, placement, members, this.ctx);
    this.txs.set(key, tx);
    tx.start(out);
  }

  private sweep(): void {
    for (const [key, tx] of this.txs) {
      if (tx.phase !== 'done') continue;
      this.txs.delete(key);
      this.finished.set(key, tx.outcome!);
    }
    while (this.finished.size > this.options.finishedTxsRememberedMax) this.finished.delete(this.finished.keys().next().value!);
  }
}

/** Shard index → node for every shard of the spec, one placement per chunk. */
function placeAll(spec: TxSpec, members: readonly Member[]): string[] {
  const n = spec.dataShards + spec.parityShards;
  const byChunk = new Map<string, string[]>();
  return spec.shards.map((s) => {
    const k = hex(s.chunk);
    let nodes = byChunk.get(k);
    if (!nodes) {
      nodes = place(s.chunk, n, members, { parityShards: spec.parityShards, allowedRegions: spec.allowedRegions }).nodes;
      byChunk.set(k, nodes);
    }
    return nodes[s.index]!;
  });
}

/** Why the spec cannot start, or undefined. Requests come from peers: check everything placement relies on. */
export function checkSpec(spec: TxSpec, nowMs: number, options: CommitOptions): string | undefined {
  if (spec.txId.length < TX_ID_BYTES_MIN || spec.txId.length > TX_ID_BYTES_MAX) return `txId must be ${TX_ID_BYTES_MIN}–${TX_ID_BYTES_MAX} bytes`;
  if (!Number.isSafeInteger(spec.ts) || spec.ts < 0) return 'ts must be a whole number of ms';
  if (spec.ts > nowMs + options.clockSkewMsMax) return `ts ${spec.ts} is more than ${options.clockSkewMsMax} ms ahead of this node's clock (${nowMs})`;
  const { dataShards: k, parityShards: m } = spec;
  if (!Number.isSafeInteger(k) || k < 1 || !Number.isSafeInteger(m) || m < 0 || k + m > 256) return `bad geometry ${k}+${m}`;
  if (spec.shards.length === 0 || spec.shards.length > recordBounds.shardsMax) return `1–${recordBounds.shardsMax} shards, got ${spec.shards.length}`;
  const seen = new Set<string>();
  for (const s of spec.shards) {
    if (s.chunk.length !== HASH_BYTES || s.hash.length !== HASH_BYTES) return 'chunk ids and shard hashes are 32 bytes';
    if (!Number.isSafeInteger(s.index) || s.index < 0 || s.index >= k + m) return `shard index ${s.index} outside ${k}+${m}`;
    const id = `${hex(s.chunk)}/${s.index}`;
    if (seen.has(id)) return `shard ${s.index} of chunk ${hex(s.chunk).slice(0, 12)} appears twice`;
    seen.add(id);
    if (s.data.length === 0) return `shard ${s.index} of chunk ${hex(s.chunk).slice(0, 12)} has no data`;
    if (options.checkShardHashes && !bytesEqual(sha256(s.data), s.hash)) return `shard ${s.index} of chunk ${hex(s.chunk).slice(0, 12)}: data does not match its hash`;
  }
  return undefined;
}
