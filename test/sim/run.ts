/**
 * One simulation run per seed (TigerBeetle VOPR style). The seed picks the scenario (cluster size,
 * options, network quality, which faults, Byzantine replicas) and drives every random choice after
 * it, so a failing seed replays exactly.
 *
 * A run has two phases. Faulty: clients submit requests (closed loop) while the runner loses,
 * delays, duplicates and reorders packets, partitions and clogs links, crashes replicas (sometimes
 * tearing their last persist) and restarts them. Calm: the network heals, every crashed replica
 * restarts, clients stop submitting, and every request already submitted must be executed by every
 * correct replica within `livenessTicksMax` ticks. Checkers run on every action throughout.
 */
import { defaultFaults, type ReplicaOptions } from '../../shared/consensus/index.ts';
import { SimFailure } from './checker.ts';
import { Cluster, replicaAddress, type ClusterConfig, type ReplicaKind } from './cluster.ts';
import { Prng } from './prng.ts';

export interface FaultPlan {
  crashPerTick: number;
  restartPerTick: number;
  tornRate: number;
  partitionPerTick: number;
  partitionTicksMax: number;
  clogging: boolean;
}

export const noFaults: FaultPlan = {
  crashPerTick: 0, restartPerTick: 0, tornRate: 0, partitionPerTick: 0, partitionTicksMax: 0, clogging: false,
};

export interface Scenario {
  readonly seed: number;
  readonly cluster: ClusterConfig;
  readonly faults: FaultPlan;
  readonly faultTicks: number;
  readonly livenessTicksMax: number;
  /** Chance per tick that an idle client submits its next request (faulty phase). */
  readonly submitPerTick: number;
}

export interface ScenarioOverrides {
  n?: number;
  /** Real Ed25519 signatures (slower) instead of the simulator's scheme. */
  ed25519?: boolean;
}

export function scenarioFor(seed: number, only: ScenarioOverrides = {}): Scenario {
  const rng = new Prng(seed ^ 0x5eed);
  const n = only.n ?? rng.pick([1, 3, 3, 4, 4, 4, 7, 7]);
  const f = defaultFaults(n);
  const K = rng.pick([2, 4, 8, 16]);
  const logWindow = K * rng.pick([1, 2, 3]);
  const batchRequestsMax = rng.pick([1, 2, 4, 16]);
  const viewTimeoutTicks = rng.pick([10, 20, 30]);
  const replicaOptions: Partial<ReplicaOptions> = {
    checkpointInterval: K,
    logWindow,
    batchRequestsMax,
    viewTimeoutTicks,
    viewTimeoutTicksMax: 160,
    // At most half the view timeout (types.ts): a live primary's status is its heartbeat.
    statusIntervalTicks: Math.min(rng.pick([3, 5, 8]), viewTimeoutTicks / 2),
    stateTransferTimeoutTicks: 10,
  };
  const byzantine: Record<number, Exclude<ReplicaKind, 'correct'>> = {};
  if (f >= 1 && rng.chance(0.6)) {
    const ids = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const count = rng.range(1, f);
    for (let i = 0; i < count; i++) byzantine[ids[i]!] = rng.pick(['twin', 'forger'] as const);
  }
  const quiet = rng.chance(0.15);
  const faults: FaultPlan = quiet
    ? noFaults
    : {
        crashPerTick: rng.pick([0, 0.005, 0.01, 0.02]),
        restartPerTick: rng.pick([0.02, 0.05, 0.1]),
        tornRate: rng.pick([0, 0.5]),
        partitionPerTick: rng.pick([0, 0.01, 0.02]),
        partitionTicksMax: rng.pick([30, 80, 150]),
        clogging: rng.chance(0.3),
      };
  const delayTicksMax = rng.pick([1, 2, 3, 5]);
  return {
    seed,
    cluster: {
      seed,
      n,
      f,
      clients: rng.range(1, 3),
      replicaOptions,
      clientOptions: { requestTimeoutTicks: rng.pick([20, 40]), requestTimeoutTicksMax: 160 },
      wire: rng.chance(0.25) ? 'bytes' : 'objects',
      network: {
        lossRate: quiet ? 0 : rng.float() * 0.3,
        duplicateRate: rng.float() * 0.1,
        delayTicksMin: 1,
        delayTicksMax,
      },
      byzantine,
      ed25519: only.ed25519 ?? false,
    },
    faults,
    faultTicks: rng.range(150, 400),
    livenessTicksMax: 4000,
    submitPerTick: rng.pick([0.1, 0.3, 1]),
  };
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly error?: string;
  readonly ticks: number;
  /** Ticks the calm phase needed until everything submitted was executed everywhere. */
  readonly livenessTicks: number;
  readonly accepted: number;
  readonly executedSeq: number;
  readonly summary: string;
  readonly stats: Cluster['stats'];
}

export function describe(s: Scenario): string {
  const c = s.cluster;
  const byz = Object.entries(c.byzantine ?? {}).map(([id, k]) => `${k}@${id}`).join(',') || 'none';
  const o = c.replicaOptions ?? {};
  return `seed=${s.seed} n=${c.n} f=${c.f} clients=${c.clients} K=${o.checkpointInterval} L=${o.logWindow} ` +
    `batch=${o.batchRequestsMax} loss=${c.network.lossRate.toFixed(2)} byzantine=${byz} wire=${c.wire} ` +
    `crash=${s.faults.crashPerTick} torn=${s.faults.tornRate} partition=${s.faults.partitionPerTick} clog=${s.faults.clogging}`;
}

export function runScenario(s: Scenario, inspect?: (cluster: Cluster) => void): RunResult {
  const cluster = new Cluster(s.cluster);
  const rng = new Prng(s.seed ^ 0xfa17);
  const faults = new FaultInjector(cluster, rng, s.faults);
  let livenessTicks = 0;
  try {
    for (let t = 0; t < s.faultTicks; t++) {
      faults.step();
      cluster.tick();
      for (let i = 0; i < cluster.clients.length; i++) {
        if (cluster.clients[i]!.client.inFlight === 0 && rng.chance(s.submitPerTick)) cluster.submit(i);
      }
    }
    faults.healAll();
    cluster.net.options = { lossRate: 0, duplicateRate: 0, delayTicksMin: 1, delayTicksMax: 2 };
    while (!settled(cluster)) {
      if (livenessTicks >= s.livenessTicksMax) {
        throw new SimFailure(`liveness: not settled ${s.livenessTicksMax} ticks after the faults stopped (${progress(cluster)})`);
      }
      cluster.tick();
      livenessTicks += 1;
    }
    finalChecks(cluster);
    return result(s, cluster, true, livenessTicks);
  } catch (e) {
    inspect?.(cluster);
    const error = e instanceof SimFailure ? e.message : `crash at tick ${cluster.now}: ${(e as Error).stack ?? String(e)}`;
    return { ...result(s, cluster, false, livenessTicks), error };
  }
}

export function runSeed(seed: number, only: ScenarioOverrides = {}): RunResult {
  return runScenario(scenarioFor(seed, only));
}

function result(s: Scenario, cluster: Cluster, ok: boolean, livenessTicks: number): RunResult {
  return {
    seed: s.seed,
    ok,
    ticks: cluster.now,
    livenessTicks,
    accepted: cluster.checker.accepted.size,
    executedSeq: cluster.checker.maxExecuted,
    summary: describe(s),
    stats: { ...cluster.stats },
  };
}

/** Every client idle and every correct replica has executed everything any of them executed. */
function settled(cluster: Cluster): boolean {
  if (cluster.clients.some((c) => c.client.inFlight > 0)) return false;
  const max = cluster.checker.maxExecuted;
  return cluster.correctInstances().every((i) => i.alive && i.replica.status.lastExecuted === max);
}

function progress(cluster: Cluster): string {
  const replicas = cluster.nodes
    .map((n) => n.instances.map((i) => {
      const st = i.replica.status;
      return `r${n.id}${n.kind === 'correct' ? '' : `(${n.kind})`}:v${st.view}${st.viewChanging ? '*' : ''}/h${st.stableSeq}/x${st.lastExecuted}/p${st.pendingRequests}${i.alive ? '' : '/dead'}`;
    }).join(' '))
    .join(' ');
  const clients = cluster.clients.map((c) => `${c.id}:${c.client.inFlight}`).join(' ');
  return `${replicas}; clients ${clients}; max executed ${cluster.checker.maxExecuted}`;
}

function finalChecks(cluster: Cluster): void {
  const correct = cluster.correctInstances();
  const states = new Set(correct.map((i) => i.app.stateHex()));
  if (states.size > 1) cluster.checker.fail(`correct replicas ended with different application states`);
  for (const inst of correct) {
    if (inst.app.violations.length > 0) cluster.checker.fail(`exactly-once: ${inst.app.violations[0]}`);
  }
  for (const c of cluster.clients) {
    for (const requestId of c.results.keys()) {
      for (const inst of correct) {
        if ((inst.app.lastIds.get(c.id) ?? 0) < requestId) {
          cluster.checker.fail(`lost: ${c.id}/${requestId} was accepted but replica ${inst.replica.id} never executed it`);
        }
      }
    }
  }
}

/** Partitions, swizzle-clogging, crashes and restarts, driven by the plan. */
class FaultInjector {
  private partitionLinks: [string, string][] = [];
  private partitionEndsAt = 0;
  private readonly clogged: [string, string][] = [];
  private clogging = true;
  private clogTarget = 0;
  private readonly clogEveryTicks: number;

  constructor(private readonly cluster: Cluster, private readonly rng: Prng, private readonly plan: FaultPlan) {
    this.clogEveryTicks = rng.range(3, 15);
  }

  step(): void {
    const { cluster, rng, plan } = this;
    if (plan.crashPerTick > 0 && rng.chance(plan.crashPerTick)) {
      const alive = cluster.nodes.filter((n) => n.kind === 'correct' && n.instances[0]!.alive);
      if (alive.length > 0) {
        const node = rng.pick(alive);
        if (rng.chance(plan.tornRate)) cluster.crashTorn(node.id);
        else cluster.crash(node.id);
      }
    }
    for (const [id, inst] of cluster.deadInstances()) if (rng.chance(plan.restartPerTick)) cluster.restart(id, inst);
    if (this.partitionLinks.length > 0 && cluster.now >= this.partitionEndsAt) this.endPartition();
    else if (this.partitionLinks.length === 0 && plan.partitionPerTick > 0 && rng.chance(plan.partitionPerTick)) this.startPartition();
    if (plan.clogging && cluster.now % this.clogEveryTicks === 0) this.swizzle();
  }

  private startPartition(): void {
    const { cluster, rng } = this;
    const n = cluster.n;
    if (n < 2) return;
    const ids = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const links: [string, string][] = [];
    const kind = rng.pick(['isolate', 'split', 'one-way'] as const);
    if (kind === 'one-way') {
      for (let k = rng.range(1, n); k > 0; k--) {
        const a = rng.int(n);
        const b = rng.int(n);
        if (a !== b) links.push([replicaAddress(a), replicaAddress(b)]);
      }
    } else {
      const minority = kind === 'isolate' ? 1 : rng.range(1, Math.max(1, Math.floor(n / 2)));
      const left = ids.slice(0, minority);
      const right = ids.slice(minority);
      for (const a of left) for (const b of right) {
        links.push([replicaAddress(a), replicaAddress(b)], [replicaAddress(b), replicaAddress(a)]);
      }
    }
    for (const [a, b] of links) cluster.net.linkDown(a, b);
    this.partitionLinks = links;
    this.partitionEndsAt = cluster.now + rng.range(10, this.plan.partitionTicksMax);
  }

  private endPartition(): void {
    for (const [a, b] of this.partitionLinks) this.cluster.net.linkUp(a, b);
    this.partitionLinks = [];
    this.reapplyClogs();
  }

  /** Links stop one by one up to a target, then come back one by one in random order. */
  private swizzle(): void {
    const { cluster, rng } = this;
    const n = cluster.n;
    if (n < 2) return;
    if (this.clogging) {
      if (this.clogTarget === 0) this.clogTarget = rng.range(1, n * (n - 1));
      const a = rng.int(n);
      const b = rng.int(n);
      if (a !== b) {
        this.clogged.push([replicaAddress(a), replicaAddress(b)]);
        cluster.net.linkDown(replicaAddress(a), replicaAddress(b));
      }
      if (this.clogged.length >= this.clogTarget) {
        this.clogging = false;
        rng.shuffle(this.clogged);
      }
    } else {
      const link = this.clogged.pop();
      if (link) cluster.net.linkUp(link[0], link[1]);
      this.reapplyPartition();
      if (this.clogged.length === 0) {
        this.clogging = true;
        this.clogTarget = 0;
      }
    }
  }

  private reapplyClogs(): void {
    for (const [a, b] of this.clogged) this.cluster.net.linkDown(a, b);
  }

  private reapplyPartition(): void {
    for (const [a, b] of this.partitionLinks) this.cluster.net.linkDown(a, b);
  }

  healAll(): void {
    this.partitionLinks = [];
    this.clogged.length = 0;
    this.cluster.net.heal();
    for (const [id, inst] of this.cluster.deadInstances()) this.cluster.restart(id, inst);
    for (const node of this.cluster.nodes) for (const inst of node.instances) inst.tearNext = false;
  }
}
