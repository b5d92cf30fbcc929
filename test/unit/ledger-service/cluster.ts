/**
 * An in-process ledger cluster for tests: n PBFT replicas (shared/consensus, fast deterministic signatures
 * from test/sim) whose Application is a LedgerMachine, each with a LedgerService and a real LedgerStore in
 * a temporary directory, and PBFT clients that submit ledger ops. Ledger messages really travel as signed
 * envelopes (sealEnvelope / verifyEnvelope with the validators' Ed25519 keys).
 *
 * One tick: deliver every queued PBFT message (FIFO, including the ones delivery produces), tick replicas
 * and clients, deliver every queued ledger message, tick the services, and wait for their appends.
 * Faults: crash / restart a replica (its PBFT disk image and ledger directory survive), and a Byzantine
 * replica that signs a different hash than the block it formed ('wrong-hash').
 */
import { join } from 'node:path';
import {
  applyPersistRecord,
  clonePersistedState,
  createClient,
  createReplica,
  emptyPersistedState,
  type Action,
  type Client,
  type ClientAction,
  type PersistedState,
  type Replica,
  type ReplicaMessage,
  type ReplicaOptions,
  type Reply,
  type Request,
} from '../../../shared/consensus/index.ts';
import { sign } from '../../../shared/crypto/sign.ts';
import { LedgerStore, blockHash, blockSigningBytes, type Block } from '../../../shared/ledger/index.ts';
import { sealEnvelope, verifyEnvelope } from '../../../shared/protocol/index.ts';
import {
  LedgerMachine,
  LedgerService,
  decodeLedgerResult,
  ledgerMessageOf,
  outgoingLedgerMessage,
  type LedgerMachineOptions,
  type LedgerMessage,
  type LedgerResult,
} from '../../../shared/ledger-service/index.ts';
import type { Logger } from '../../../shared/log.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';
import { LIFETIME_MS, T0, keys, registry, sha, type TestKey } from './fixture.ts';

export type LedgerFault = 'wrong-hash';

export interface LedgerNode {
  readonly index: number;
  readonly key: TestKey;
  readonly dir: string;
  alive: boolean;
  disk: PersistedState;
  machine: LedgerMachine;
  replica: Replica;
  store: LedgerStore;
  service: LedgerService;
}

export interface LedgerClusterOptions {
  root: string;
  clients?: number;
  faults?: Readonly<Record<number, LedgerFault>>;
  replicaOptions?: Partial<ReplicaOptions>;
  machineOptions?: Partial<LedgerMachineOptions>;
  tickMs?: number;
  logger?: Logger;
}

type PbftPacket = { to: number; message: ReplicaMessage | Request } | { client: string; message: Reply };

export class LedgerCluster {
  readonly nodes: LedgerNode[] = [];
  readonly clients: Client[] = [];
  /** Results by client index, then request id. */
  readonly results: Map<number, LedgerResult>[] = [];
  /** Every replica's own reply, by client index, then request id, then replica index (the client keeps only the f+1 that match). */
  readonly replies: Map<number, Map<number, LedgerResult>>[] = [];
  now = T0;
  private readonly keyring = new FakeKeyring(7);
  private pbft: PbftPacket[] = [];
  private ledger: { from: string; to: string; bytes: Uint8Array }[] = [];
  private readonly submitted: number[] = [];

  private constructor(readonly options: LedgerClusterOptions) {}

  static async create(options: LedgerClusterOptions): Promise<LedgerCluster> {
    const c = new LedgerCluster(options);
    for (let i = 0; i < keys.length; i++) {
      const dir = join(options.root, `node${i}`);
      const store = await LedgerStore.create(dir, registry);
      c.nodes.push(await c.boot(i, dir, store, emptyPersistedState()));
    }
    for (let j = 0; j < (options.clients ?? 1); j++) {
      c.clients.push(createClient({ id: `coord${j}`, n: keys.length, signer: c.keyring.clientSigner(`coord${j}`), verifier: c.keyring.verifier() }));
      c.results.push(new Map());
      c.replies.push(new Map());
      c.submitted.push(0);
    }
    return c;
  }

  private async boot(index: number, dir: string, store: LedgerStore, disk: PersistedState): Promise<LedgerNode> {
    const key = keys[index]!;
    const machine = new LedgerMachine({ registry, options: { txLifetimeMs: LIFETIME_MS, ...this.options.machineOptions } });
    const replica = createReplica({
      n: keys.length,
      id: index,
      signer: this.keyring.replicaSigner(index),
      verifier: this.keyring.verifier(),
      app: machine,
      options: { checkpointInterval: 4, logWindow: 8, ...this.options.replicaOptions },
    });
    const fault = this.options.faults?.[index];
    const service = await LedgerService.open({
      self: key.id,
      privateKey: key.privateKey,
      store,
      machine,
      send: (to, message) => this.sendLedger(key, to, fault === 'wrong-hash' ? lie(key, message) : message),
      options: { certifier: { retryTicks: 5 } },
      ...(this.options.logger ? { logger: this.options.logger } : {}),
    });
    return { index, key, dir, alive: true, disk, machine, replica, store, service };
  }

  // ---- clients ------------------------------------------------------------------------------------

  /** Submits an op from client `client`; returns its request id. */
  submit(op: Uint8Array, client = 0): number {
    this.submitted[client]! += 1;
    this.performClient(client, this.clients[client]!.submit(op));
    return this.submitted[client]!;
  }

  result(requestId: number, client = 0): LedgerResult | undefined {
    return this.results[client]!.get(requestId);
  }

  /** The reply each replica sent for a request, by replica index (replicas that never replied are absent). */
  repliesTo(requestId: number, client = 0): Map<number, LedgerResult> {
    return this.replies[client]!.get(requestId) ?? new Map();
  }

  private performClient(index: number, actions: ClientAction[]): void {
    for (const a of actions) {
      if (a.type === 'send') this.pbft.push({ to: a.to, message: a.message });
      else if (a.type === 'broadcast') for (let to = 0; to < this.nodes.length; to++) this.pbft.push({ to, message: a.message });
      else this.results[index]!.set(a.requestId, decodeLedgerResult(a.result));
    }
  }

  // ---- the loop -----------------------------------------------------------------------------------

  async tick(): Promise<void> {
    this.tickPbft();
    await this.deliverLedger();
  }

  /** The PBFT half of a tick: replicas execute (and form blocks), but no ledger message moves. */
  tickPbft(): void {
    this.now += this.options.tickMs ?? 100;
    this.deliverPbft();
    for (const node of this.alive()) this.perform(node, node.replica.tick(this.now));
    this.clients.forEach((client, i) => this.performClient(i, client.tick()));
    this.deliverPbft();
  }

  async runUntil(done: () => boolean | Promise<boolean>, ticksMax = 400): Promise<number> {
    for (let t = 0; t < ticksMax; t++) {
      if (await done()) return t;
      await this.tick();
    }
    throw new Error(`not done after ${ticksMax} ticks`);
  }

  /** Runs until every client has every result and every live store holds the chain its machine formed. */
  async settle(ticksMax = 400): Promise<number> {
    return this.runUntil(() => {
      const answered = this.clients.every((_, i) => this.results[i]!.size === this.submitted[i]);
      const heights = this.alive().map((n) => n.service.status());
      return answered && heights.every((s) => s.storeHeight === s.machineHeight && s.storeHeight === heights[0]!.storeHeight);
    }, ticksMax);
  }

  deliverPbft(): void {
    for (let budget = 1_000_000; this.pbft.length > 0 && budget > 0; budget--) {
      const p = this.pbft.shift()!;
      if ('client' in p) {
        const i = this.clients.findIndex((c) => c.id === p.client);
        if (i >= 0) this.performClient(i, this.clients[i]!.step(p.message));
        continue;
      }
      const node = this.nodes[p.to]!;
      if (node.alive) this.perform(node, node.replica.step(p.message, this.now));
    }
  }

  async deliverLedger(): Promise<void> {
    for (let round = 0; round < 3; round++) {
      const queue = this.ledger;
      this.ledger = [];
      for (const { from, to, bytes } of queue) {
        const node = this.nodes.find((n) => n.key.id === to);
        if (!node?.alive) continue;
        const { message } = verifyEnvelope(bytes, { keyOf: (id) => registry.keyOf(id) });
        const ledgerMessage = ledgerMessageOf(message);
        if (!ledgerMessage) throw new Error(`not a ledger message: ${message.type}`);
        node.service.receive(from, ledgerMessage);
      }
      await Promise.all(this.alive().map((n) => n.service.idle()));
    }
    for (const node of this.alive()) node.service.tick();
    await Promise.all(this.alive().map((n) => n.service.idle()));
  }

  private perform(node: LedgerNode, actions: Action[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'persist':
          applyPersistRecord(node.disk, a.record);
          break;
        case 'send':
          this.pbft.push({ to: a.to, message: a.message });
          break;
        case 'broadcast':
          for (let to = 0; to < this.nodes.length; to++) if (to !== node.index) this.pbft.push({ to, message: a.message });
          break;
        case 'reply': {
          this.pbft.push({ client: a.client, message: a.message });
          const byRequest = this.replies[this.clients.findIndex((c) => c.id === a.client)];
          if (byRequest) {
            const byReplica = byRequest.get(a.message.requestId) ?? new Map<number, LedgerResult>();
            byReplica.set(node.index, decodeLedgerResult(a.message.result));
            byRequest.set(a.message.requestId, byReplica);
          }
          break;
        }
        default:
          node.service.observe(a);
      }
    }
  }

  private sendLedger(from: TestKey, to: string | undefined, message: LedgerMessage): void {
    const bytes = sealEnvelope(outgoingLedgerMessage(message, from.id, this.now), from);
    for (const node of this.nodes) {
      if (node.key.id === from.id || (to !== undefined && node.key.id !== to)) continue;
      this.ledger.push({ from: from.id, to: node.key.id, bytes });
    }
  }

  // ---- faults and checks --------------------------------------------------------------------------

  alive(): LedgerNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** Stops the node; ledger messages it queued but that have not left yet are lost with it. */
  async crash(index: number): Promise<void> {
    const node = this.nodes[index]!;
    node.alive = false;
    this.ledger = this.ledger.filter((m) => m.from !== node.key.id);
    await node.service.idle();
    await node.store.close();
  }

  /** A fresh machine, replica and service over the node's PBFT disk image and ledger directory. */
  async restart(index: number): Promise<void> {
    const old = this.nodes[index]!;
    const store = await LedgerStore.open(old.dir);
    const node = await this.boot(index, old.dir, store, old.disk);
    this.nodes[index] = node;
    this.perform(node, node.replica.restore(clonePersistedState(old.disk)));
  }

  /** Every block of node `index`'s store. */
  async chain(index: number): Promise<Block[]> {
    const blocks: Block[] = [];
    for await (const b of this.nodes[index]!.store.blocks()) blocks.push(b);
    return blocks;
  }

  async close(): Promise<void> {
    for (const node of this.alive()) {
      await node.service.idle();
      await node.store.close();
    }
  }
}

/** The Byzantine twist: our BlockSignatures name (and validly sign) a hash of a block we did not form. */
function lie(key: TestKey, message: LedgerMessage): LedgerMessage {
  if (message.type !== 'BlockSignature' || message.body.signer !== key.id) return message;
  const hash = sha(`a block that does not exist ${message.body.height}`);
  return { type: 'BlockSignature', body: { ...message.body, hash, signature: sign(key.privateKey, blockSigningBytes(hash)) } };
}

export const hashesOf = (blocks: readonly Block[]): string[] => blocks.map((b) => Buffer.from(blockHash(b)).toString('hex'));
