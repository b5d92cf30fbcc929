/**
 * A whole hybrid-commit cluster from one seed: 3–7 nodes in random racks with skewed clocks, a lossy,
 * duplicating, reordering network, the fake ordering service, a requester that mints transactions and
 * retries with the first live member of `coordinatorOrder(txId, live)` (fast recovery) — or, when it
 * wrongly suspects that one, with the second, so two coordinators often run one transaction at once —
 * and crashes of any node (coordinators and participants alike) at random ticks.
 *
 * A run has two phases. Active: faults on, transactions start. Quiescent: every node restarts, no loss and
 * no crashes; the run goes on until everything is decided and cleaned up (or a tick budget runs out, which
 * is a liveness failure). The checker runs on every action and once at the end.
 */
import { createHash } from 'node:crypto';
import { commitOptions, isFinalResponse, txKeyOf, type CommitOptions, type TxSpec } from '../../../shared/commit/index.ts';
import { signingKeyFromSeed, verify, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { coordinatorOrder, edgeGeometry, type Member } from '../../../shared/placement/index.ts';
import { sha256 } from '../../../shared/protocol/digest.ts';
import type { CommitResponse, ShardPut } from '../../../shared/protocol/messages.ts';
import { CommitChecker, SimViolation, violation } from './checker.ts';
import { SimNetwork } from './network.ts';
import { SimNode, type Payload, type Services } from './node.ts';
import { SimOrdering } from './ordering.ts';
import { Prng } from '../prng.ts';

export const MS_PER_TICK = 10;
/** Simulated wall clock at tick 0. */
export const EPOCH_MS = 1_700_000_000_000;
export const CLIENT = 'client';

/** Commit options per seed: long lifetimes, or short ones that put records right at their deadline. */
function simOptions(prng: Prng): CommitOptions {
  return commitOptions({
    txLifetimeMs: prng.pick([3_000, 1_200, 600]),
    clockSkewMsMax: prng.pick([0, 100, 300]),
    prepareTimeoutTicks: 15,
    prepareAttemptsMax: 3,
    replaceRoundsMax: 2,
    orderingRetryTicks: 30,
    orderingSubmitsMax: 4,
    ledgerQueryIntervalTicks: prng.pick([3, 20]),
    stagedTimeoutTicks: prng.pick([10, 120]),
  });
}

export interface SimParams {
  nodes: number;
  txs: number;
  activeTicks: number;
  quiesceTicksMax: number;
  crashP: number;
  requestRetryTicks: number;
  /** The requester wrongly skips the first coordinator (it looks dead): concurrent coordinators. */
  suspectP: number;
}

export interface SimStats {
  nodes: number;
  geometry: string;
  lifetimeMs: number;
  txs: number;
  committed: number;
  expired: number;
  blocks: number;
  crashes: number;
  rollbacks: number;
  ticks: number;
  messages: number;
}

interface ClientTx {
  spec: TxSpec;
  nextSendTick: number;
  final?: CommitResponse;
}

const TRACE_LINES_MAX = 400;

export class World {
  readonly prng: Prng;
  readonly params: SimParams;
  readonly options: CommitOptions;
  readonly trace: string[] = [];
  private tick = 0;
  private crashes = 0;
  private readonly nodes = new Map<string, SimNode>();
  private readonly restartAt = new Map<string, number>();
  private readonly keys = new Map<string, SigningKeyPair>();
  private readonly net: SimNetwork<Payload>;
  private readonly ordering: SimOrdering;
  private readonly checker: CommitChecker;
  private readonly clientTxs = new Map<string, ClientTx>();
  private readonly schedule: { tick: number; spec: () => TxSpec }[] = [];
  private readonly clientOffsetMs: number;
  private readonly geometry: { dataShards: number; parityShards: number };

  constructor(readonly seed: number, overrides: Partial<SimParams> = {}, private readonly verbose = false) {
    const prng = (this.prng = new Prng(seed));
    this.params = {
      nodes: prng.range(3, 7),
      txs: prng.range(3, 10),
      activeTicks: 800,
      quiesceTicksMax: 4_000,
      crashP: prng.pick([0, 0.004, 0.01]),
      requestRetryTicks: prng.pick([20, 50]),
      suspectP: prng.pick([0, 0.2, 0.5]),
      ...overrides,
    };
    const options = (this.options = simOptions(prng));
    const skew = options.clockSkewMsMax;
    this.net = new SimNetwork<Payload>(prng, { lossP: prng.pick([0, 0.03, 0.1]), duplicateP: prng.pick([0, 0.05]), delayTicksMin: 1, delayTicksMax: prng.range(2, 8) });
    const verifySig = (signer: string, digest: Uint8Array, sig: Uint8Array) => verify(this.keyOf(signer).publicKey, digest, sig);
    this.ordering = new SimOrdering(
      prng,
      { submitLossP: 0.05, submitDelayTicksMax: 10, slowSubmitP: prng.pick([0, 0.1, 0.3]), slowSubmitTicksMax: options.txLifetimeMs / MS_PER_TICK + 20, stallP: prng.pick([0, 0.003]), stallTicksMax: 300, blockEveryTicksMin: 5, blockEveryTicksMax: 25, proposerSkewMs: skew / 2, txLifetimeMs: options.txLifetimeMs, clockSkewMsMax: skew },
      verifySig,
    );
    this.checker = new CommitChecker(this.ordering);
    const services: Services = {
      prng,
      net: this.net,
      ordering: this.ordering,
      checker: this.checker,
      options,
      stageFailP: prng.pick([0, 0.03]),
      ledgerCatchUpP: 0.6,
      now: () => this.tick,
      simMs: () => this.simMs(),
      members: () => this.liveMembers(),
      keyOf: (id) => this.keyOf(id),
      verify: verifySig,
      trace: (line) => this.log(line),
    };
    const racks = prng.range(1, this.params.nodes);
    for (let i = 0; i < this.params.nodes; i++) {
      const id = `n${i}`;
      this.nodes.set(id, new SimNode(id, `rack${prng.range(0, racks - 1)}`, prng.range(-skew / 2, skew / 2), services));
    }
    this.clientOffsetMs = prng.range(-skew / 2, skew / 2);
    // Sometimes leave spare members so refused or dead targets can be re-placed.
    this.geometry = edgeGeometry(Math.max(2, this.params.nodes - prng.range(0, 2)));
    for (let t = 0; t < this.params.txs; t++) {
      const at = prng.range(0, Math.floor(this.params.activeTicks * 0.6));
      const chunks = prng.range(1, 2);
      const label = t;
      this.schedule.push({ tick: at, spec: () => this.makeSpec(label, chunks) });
    }
    this.schedule.sort((a, b) => a.tick - b.tick);
  }

  /** Runs to completion; throws SimViolation on the first broken property. */
  run(): SimStats {
    for (; this.tick < this.params.activeTicks; this.tick++) {
      this.faults();
      this.step();
    }
    this.net.faults = { ...this.net.faults, lossP: 0 };
    for (const id of [...this.restartAt.keys()]) this.restart(id);
    const end = this.tick + this.params.quiesceTicksMax;
    for (; !this.settled(); this.tick++) {
      if (this.tick >= end) violation(`did not settle within ${this.params.quiesceTicksMax} quiet ticks: ${this.pendingWork()}`);
      this.step();
    }
    this.checker.final([...this.clientTxs.keys()], new Map([...this.nodes].map(([id, n]) => [id, n.disk])));
    const finals = [...this.clientTxs.values()].map((t) => t.final!);
    return {
      nodes: this.params.nodes,
      geometry: `${this.geometry.dataShards}+${this.geometry.parityShards}`,
      lifetimeMs: this.options.txLifetimeMs,
      txs: this.clientTxs.size,
      committed: finals.filter((f) => f.ok).length,
      expired: finals.filter((f) => !f.ok).length,
      blocks: this.ordering.blocks.length,
      crashes: this.crashes,
      rollbacks: this.checker.rollbacks,
      ticks: this.tick,
      messages: this.net.sent,
    };
  }

  private step(): void {
    while (this.schedule.length && this.schedule[0]!.tick <= this.tick) {
      const spec = this.schedule.shift()!.spec();
      this.clientTxs.set(txKeyOf(spec.txId), { spec, nextSendTick: this.tick });
      this.log(`client mints tx ${txKeyOf(spec.txId).slice(0, 8)} (${spec.shards.length} shards, ts ${spec.ts})`);
    }
    for (const tx of this.clientTxs.values()) {
      if (tx.final || tx.nextSendTick > this.tick) continue;
      const order = coordinatorOrder(tx.spec.txId, this.liveMembers());
      const to = order.length > 1 && this.prng.chance(this.params.suspectP) ? order[1] : order[0];
      tx.nextSendTick = this.tick + this.params.requestRetryTicks;
      if (to !== undefined) this.net.send(CLIENT, to, { kind: 'begin', spec: tx.spec }, this.tick);
    }
    for (const p of this.net.due(this.tick)) {
      if (p.to === CLIENT) {
        if (p.payload.kind === 'response') this.onResponse(p.from, p.payload.response);
      } else {
        this.nodes.get(p.to)?.receive(p.from, p.payload);
      }
    }
    const block = this.ordering.tick(this.tick, this.simMs());
    if (block) this.log(`block ${block.height} t=${block.timeMs} [${block.records.map((r) => txKeyOf(r.txId).slice(0, 8)).join(' ')}]`);
    for (const n of this.nodes.values()) n.tick();
  }

  private onResponse(from: string, r: CommitResponse): void {
    this.checker.onResponse(from, r);
    const tx = this.clientTxs.get(txKeyOf(r.txId));
    if (tx && !tx.final && isFinalResponse(r)) tx.final = r;
  }

  private faults(): void {
    for (const [id, at] of this.restartAt) if (at <= this.tick) this.restart(id);
    if (!this.prng.chance(this.params.crashP)) return;
    const up = [...this.nodes.values()].filter((n) => n.up);
    if (this.params.nodes - up.length >= Math.max(1, Math.floor((this.params.nodes - 1) / 2))) return;
    // Half the time aim at a node that is coordinating something right now (crash mid-commit).
    const busy = up.filter((n) => n.coordinator.status().inFlight > 0);
    const victim = busy.length && this.prng.chance(0.5) ? this.prng.pick(busy) : this.prng.pick(up);
    victim.crash();
    this.crashes++;
    this.restartAt.set(victim.id, this.tick + this.prng.range(20, 300));
  }

  private restart(id: string): void {
    this.restartAt.delete(id);
    this.nodes.get(id)!.restart();
  }

  private settled(): boolean {
    if ([...this.clientTxs.values()].some((t) => !t.final) || this.schedule.length) return false;
    if (this.net.inFlight || this.ordering.pendingCount) return false;
    return [...this.nodes.values()].every((n) => n.up && !n.busy && n.viewHeight === this.ordering.blocks.length);
  }

  private pendingWork(): string {
    const open = [...this.clientTxs.values()].filter((t) => !t.final).map((t) => txKeyOf(t.spec.txId).slice(0, 8));
    const busy = [...this.nodes.values()].filter((n) => n.busy).map((n) => `${n.id}(${JSON.stringify(n.participant.status())}, staged ${n.disk.staged.size})`);
    return `unanswered txs [${open.join(' ')}], busy nodes [${busy.join(' ')}], net ${this.net.inFlight}, ordering ${this.ordering.pendingCount}`;
  }

  private simMs(): number {
    return EPOCH_MS + this.tick * MS_PER_TICK;
  }

  private liveMembers(): Member[] {
    return [...this.nodes.values()].filter((n) => n.up).map((n) => ({ id: n.id, domain: n.domain }));
  }

  private keyOf(id: string): SigningKeyPair {
    let k = this.keys.get(id);
    if (!k) this.keys.set(id, (k = signingKeyFromSeed(new Uint8Array(createHash('sha256').update(`commit-sim:${this.seed}:${id}`).digest()))));
    return k;
  }

  private makeSpec(label: number, chunks: number): TxSpec {
    const { dataShards, parityShards } = this.geometry;
    const shards: ShardPut[] = [];
    for (let c = 0; c < chunks; c++) {
      const chunk = this.prng.bytes(32);
      for (let index = 0; index < dataShards + parityShards; index++) {
        const data = this.prng.bytes(this.prng.range(8, 40));
        shards.push({ chunk, index, hash: sha256(data), data });
      }
    }
    return {
      txId: this.prng.bytes(16),
      ts: this.simMs() + this.clientOffsetMs,
      account: 'acct',
      snapshotId: `snap-${label}`,
      manifestRoot: this.prng.bytes(32),
      dataShards,
      parityShards,
      shards,
    };
  }

  private log(line: string): void {
    const text = `[${this.tick}] ${line}`;
    if (this.verbose) console.log(text);
    this.trace.push(text);
    if (this.trace.length > TRACE_LINES_MAX) this.trace.shift();
  }
}

export { SimViolation };
