/**
 * A whole PBFT cluster in one process: replicas (each with its app and its simulated disk), clients,
 * the simulated network and clock. It performs the replicas' actions as a shell would (persist into
 * the disk image, then send), feeds the checkers, and offers the faults the runner and the scripted
 * scenarios use: crash and restart from the disk (optionally tearing the last persist), partitions,
 * clogged links, and Byzantine nodes (a twin pair sharing one key, or a forger).
 */
import {
  applyPersistRecord,
  clonePersistedState,
  createClient,
  createReplica,
  decodeMessage,
  emptyPersistedState,
  encodeMessage,
  quorumSize,
  defaultFaults,
  ed25519Signer,
  ed25519Verifier,
  type Action,
  type Client,
  type ClientAction,
  type ClientOptions,
  type Message,
  type PersistedState,
  type Replica,
  type ReplicaMessage,
  type ReplicaOptions,
  type Request,
  type Signer,
  type Verifier,
} from '../../shared/consensus/index.ts';
import { generateSigningKey } from '../../shared/crypto/sign.ts';
import { SimApp } from './app.ts';
import { forge, garbage } from './byzantine.ts';
import { Checker } from './checker.ts';
import { FakeKeyring } from './fake-crypto.ts';
import { SimNetwork, type NetworkOptions, type Packet } from './network.ts';
import { Prng } from './prng.ts';

/** correct; a twin pair sharing one key; a forger (lies, forges, sends garbage); mute (sends nothing). */
export type ReplicaKind = 'correct' | 'twin' | 'forger' | 'mute';

export interface ClusterConfig {
  seed: number;
  n: number;
  f?: number;
  clients: number;
  replicaOptions?: Partial<ReplicaOptions>;
  clientOptions?: Partial<ClientOptions>;
  /** 'bytes' sends every message through the MessagePack codec. */
  wire?: 'objects' | 'bytes';
  network: NetworkOptions;
  /** Byzantine replicas by id (at most f of them). */
  byzantine?: Readonly<Record<number, Exclude<ReplicaKind, 'correct'>>>;
  manual?: boolean;
  /** Real Ed25519 signatures instead of the fast deterministic scheme. */
  ed25519?: boolean;
}

export interface Instance {
  replica: Replica;
  app: SimApp;
  disk: PersistedState;
  alive: boolean;
  /** Crash in the middle of the next action list that persists something (torn write). */
  tearNext: boolean;
  /** Which persist is lost (1-based), in the first list with that many; random if undefined. */
  tearAt?: number | undefined;
}

export interface ReplicaNode {
  readonly id: number;
  readonly kind: ReplicaKind;
  readonly instances: Instance[];
  readonly signer: Signer;
}

export interface ClientNode {
  readonly id: string;
  readonly client: Client;
  submitted: number;
  readonly results: Map<number, Uint8Array>;
}

export const replicaAddress = (id: number) => `r${id}`;
export const clientAddress = (id: string) => `c:${id}`;

export class Cluster {
  readonly rng: Prng;
  readonly net: SimNetwork;
  readonly checker = new Checker();
  readonly nodes: ReplicaNode[] = [];
  readonly clients: ClientNode[] = [];
  readonly n: number;
  readonly f: number;
  now = 0;
  readonly stats = { steps: 0, garbageRejected: 0, crashes: 0, restarts: 0, torn: 0, newViews: 0, stateTransfers: 0, stableCheckpoints: 0 };
  private readonly verifier: Verifier;
  private readonly keyring: FakeKeyring;
  private readonly edSigners = new Map<string, Signer>();
  private lastSample: Message | undefined;

  constructor(readonly config: ClusterConfig) {
    this.n = config.n;
    this.f = config.f ?? defaultFaults(config.n);
    this.rng = new Prng(config.seed);
    this.net = new SimNetwork(this.rng.fork(), config.network, config.manual ?? false);
    this.keyring = new FakeKeyring(config.seed);
    const clientIds = Array.from({ length: config.clients }, (_, i) => `client${i}`);
    if (config.ed25519) {
      const replicaKeys = Array.from({ length: this.n }, () => generateSigningKey());
      const clientKeys = new Map(clientIds.map((c) => [c, generateSigningKey()] as const));
      replicaKeys.forEach((k, i) => this.edSigners.set(`replica/${i}`, ed25519Signer(k)));
      for (const [c, k] of clientKeys) this.edSigners.set(`client/${c}`, ed25519Signer(k));
      this.verifier = ed25519Verifier(replicaKeys.map((k) => k.publicKey), new Map([...clientKeys].map(([c, k]) => [c, k.publicKey])));
    } else {
      this.verifier = this.keyring.verifier();
    }
    for (let id = 0; id < this.n; id++) {
      const kind = config.byzantine?.[id] ?? 'correct';
      const node: ReplicaNode = { id, kind, instances: [], signer: this.replicaSigner(id) };
      node.instances.push(this.newInstance(id, emptyPersistedState()));
      if (kind === 'twin') node.instances.push(this.newInstance(id, emptyPersistedState()));
      this.nodes.push(node);
    }
    for (const id of clientIds) {
      const signer = config.ed25519 ? this.edSigners.get(`client/${id}`)! : this.keyring.clientSigner(id);
      const client = createClient({ id, n: this.n, f: this.f, signer, verifier: this.verifier, options: config.clientOptions });
      this.clients.push({ id, client, submitted: 0, results: new Map() });
    }
  }

  private replicaSigner(id: number): Signer {
    return this.config.ed25519 ? this.edSigners.get(`replica/${id}`)! : this.keyring.replicaSigner(id);
  }

  private newInstance(id: number, disk: PersistedState): Instance {
    const app = new SimApp();
    const replica = createReplica({
      n: this.n,
      f: this.f,
      id,
      signer: this.replicaSigner(id),
      verifier: this.verifier,
      app,
      options: this.config.replicaOptions,
    });
    return { replica, app, disk, alive: true, tearNext: false };
  }

  isCorrect(id: number): boolean {
    return this.nodes[id]!.kind === 'correct';
  }

  correctInstances(): Instance[] {
    return this.nodes.filter((n) => n.kind === 'correct').map((n) => n.instances[0]!);
  }

  // ---- message flow -------------------------------------------------------------------------------

  private transmit(from: string, to: string, message: Message): void {
    if (this.rng.chance(0.01)) this.lastSample = message;
    this.net.send(from, to, this.config.wire === 'bytes' ? encodeMessage(message) : message, this.now);
  }

  private outgoing(node: ReplicaNode, m: ReplicaMessage | Request): ReplicaMessage | Request {
    return node.kind === 'forger' ? forge(this.rng, node.signer, this.n, quorumSize(this.n, this.f), m) : m;
  }

  /** Performs a replica's actions in order, as a shell: persist (durable) before the sends after it. */
  perform(node: ReplicaNode, inst: Instance, actions: Action[]): void {
    let tornAt = -1;
    if (inst.tearNext) {
      const persists = actions.flatMap((a, i) => (a.type === 'persist' ? [i] : []));
      // A chosen persist tears the first list that has that many; otherwise a random one is lost.
      if (inst.tearAt === undefined) {
        if (persists.length > 0) tornAt = this.rng.pick(persists);
      } else if (persists.length >= inst.tearAt) {
        tornAt = persists[inst.tearAt - 1]!;
      }
    }
    const correct = node.kind === 'correct';
    const mute = node.kind === 'mute';
    for (let i = 0; i < actions.length; i++) {
      if (i === tornAt) {
        this.stats.torn += 1;
        this.crash(node.id, inst);
        return;
      }
      const a = actions[i]!;
      if (mute && (a.type === 'send' || a.type === 'broadcast' || a.type === 'reply')) continue;
      switch (a.type) {
        case 'persist':
          applyPersistRecord(inst.disk, a.record);
          break;
        case 'send':
          if (correct) this.checker.onSent(node.id, a.message);
          this.transmit(replicaAddress(node.id), replicaAddress(a.to), this.outgoing(node, a.message));
          break;
        case 'broadcast':
          if (correct) this.checker.onSent(node.id, a.message);
          for (let to = 0; to < this.n; to++) {
            if (to !== node.id) this.transmit(replicaAddress(node.id), replicaAddress(to), this.outgoing(node, a.message));
          }
          break;
        case 'reply':
          this.transmit(replicaAddress(node.id), clientAddress(a.client), a.message);
          break;
        case 'execute':
          if (correct) this.checker.onExecute(node.id, a);
          break;
        case 'state-transferred':
          if (correct) this.checker.onStateTransferred(node.id, a.seq);
          this.stats.stateTransfers += 1;
          break;
        case 'stable-checkpoint':
          if (correct) this.checker.onStable(node.id, a.seq, a.stateDigest);
          this.stats.stableCheckpoints += 1;
          break;
        case 'new-view':
          this.stats.newViews += 1;
          break;
        default: {
          const never: never = a;
          throw new Error(`unknown action ${JSON.stringify(never)}`);
        }
      }
    }
  }

  private performClient(node: ClientNode, actions: ClientAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.checker.onSubmitted(node.id, a.message.requestId, a.message.op);
          this.transmit(clientAddress(node.id), replicaAddress(a.to), a.message);
          break;
        case 'broadcast':
          for (let to = 0; to < this.n; to++) this.transmit(clientAddress(node.id), replicaAddress(to), a.message);
          break;
        case 'result':
          node.results.set(a.requestId, a.result);
          this.checker.onClientResult(node.id, a.requestId, a.result);
          break;
      }
    }
  }

  deliver(p: Packet): void {
    let message: Message;
    if (p.payload instanceof Uint8Array) {
      const decoded = decodeMessage(p.payload);
      if (!decoded.ok) {
        this.stats.garbageRejected += 1;
        return;
      }
      message = decoded.value;
    } else {
      message = p.payload;
    }
    if (p.to.startsWith('c:')) {
      const node = this.clients.find((c) => clientAddress(c.id) === p.to);
      if (node && message.type === 'reply') this.performClient(node, node.client.step(message));
      return;
    }
    const node = this.nodes[Number(p.to.slice(1))]!;
    for (const inst of node.instances) {
      if (!inst.alive) continue;
      // Each twin hears only part of the traffic, so the two drift apart and equivocate.
      if (node.kind === 'twin' && this.rng.chance(0.3)) continue;
      this.stats.steps += 1;
      const actions = inst.replica.step(message);
      inst.replica.invariants();
      this.perform(node, inst, actions);
    }
  }

  submit(clientIndex: number, op?: Uint8Array): void {
    const node = this.clients[clientIndex]!;
    node.submitted += 1;
    const bytes = op ?? new TextEncoder().encode(`${node.id}#${node.submitted}`);
    this.performClient(node, node.client.submit(bytes));
  }

  /** One tick: deliver due packets (random order), then tick every replica and client. */
  tick(): void {
    this.now += 1;
    this.checker.now = this.now;
    if (!this.net.manual) for (const p of this.net.due(this.now)) this.deliver(p);
    this.tickNodes();
  }

  tickNodes(): void {
    for (const node of this.nodes) {
      for (const inst of node.instances) {
        if (!inst.alive) continue;
        const actions = inst.replica.tick(this.now);
        inst.replica.invariants();
        this.perform(node, inst, actions);
      }
      if (node.kind === 'forger' && this.rng.chance(0.2)) {
        const to = this.rng.int(this.n);
        if (to !== node.id) this.net.send(replicaAddress(node.id), replicaAddress(to), garbage(this.rng, this.lastSample), this.now);
      }
    }
    for (const c of this.clients) this.performClient(c, c.client.tick());
  }

  // ---- faults -------------------------------------------------------------------------------------

  crash(id: number, inst = this.nodes[id]!.instances[0]!): void {
    if (!inst.alive) return;
    inst.alive = false;
    inst.tearNext = false;
    this.stats.crashes += 1;
  }

  /** Crashes the replica while it performs its next action list that persists (the last persist is lost). */
  crashTorn(id: number, persistIndex?: number): void {
    const inst = this.nodes[id]!.instances[0]!;
    if (!inst.alive) return;
    inst.tearNext = true;
    inst.tearAt = persistIndex;
  }

  restart(id: number, inst = this.nodes[id]!.instances[0]!): void {
    if (inst.alive) return;
    const node = this.nodes[id]!;
    const fresh = this.newInstance(id, clonePersistedState(inst.disk));
    const index = node.instances.indexOf(inst);
    node.instances[index] = fresh;
    this.stats.restarts += 1;
    if (node.kind === 'correct') this.checker.onRestart(id);
    const actions = fresh.replica.restore(fresh.disk);
    fresh.replica.invariants();
    this.perform(node, fresh, actions);
  }

  deadInstances(): [number, Instance][] {
    return this.nodes.flatMap((n) => n.instances.filter((i) => !i.alive).map((i) => [n.id, i] as [number, Instance]));
  }
}
