/**
 * ClientNode: many logical PBFT clients (shared/consensus `Client`) over one transport link, behind
 * one `submit(op) -> Promise<result>`.
 *
 * A core client has one request outstanding at a time, so throughput needs many of them: logical
 * client i is `<linkId>/<i>` (addressing.ts), all signing with the link's key. `submit` hands the
 * operation to an idle logical client, or queues it (bounded by `queuedOpsMax`) until one is free, so
 * at most `logicalClients` requests are in flight. A result is accepted after f+1 matching replies.
 *
 * The requests that go out in one turn of the event loop (those submitted, and those whose logical
 * client a result just freed) are signed together, with one signature over their Merkle root
 * (shared/consensus/batch-signature.ts): each replica then checks one signature for them, not one each.
 *
 * Request ids start at `firstRequestId`, by default `Date.now() * 1000`: a restarted client never
 * reuses an id (a replica would answer a reused id with the cached result of the old request), as
 * long as a logical client averages under 1,000 requests per millisecond, which a round trip forbids.
 *
 * For TLS, run the transport as a client (`listen: false`) with the replicas as its peers: replies come
 * back on the links it dialed, named by the replica's certificate.
 */
import { BaksaError } from '../errors.ts';
import {
  createClient,
  decodeReplies,
  encodeMessage,
  ed25519Signer,
  ed25519Verifier,
  signAll,
  signedBytes,
  type Client,
  type ClientAction,
  type Signer,
  type Verifier,
} from '../consensus/index.ts';
import type { SigningKeyPair } from '../crypto/sign.ts';
import type { Transport } from '../transport/index.ts';
import { logicalClientId, replicaIdsByName } from './addressing.ts';
import { clientNodeOptions, type ClientNodeOptions } from './options.ts';

export interface ClientNodeConfig {
  /** The link id: this client's transport name (for TLS, its certificate name). */
  id: string;
  n: number;
  f?: number;
  replicaNames: readonly string[];
  transport: Transport;
  /** The link's key pair and the replicas' public keys (by id); or `signer` and `verifier`. */
  keys?: { readonly self: SigningKeyPair; readonly replicas: readonly Uint8Array[] };
  signer?: Signer;
  verifier?: Verifier;
  options?: Partial<ClientNodeOptions>;
}

export interface ClientNodeStats {
  submitted: number;
  completed: number;
  inFlight: number;
  queued: number;
  /** Request broadcasts after a timeout (each also makes backups suspect the primary). */
  retransmissions: number;
  /** Frames that did not decode or were not replies, and replies to clients that are not ours. */
  framesIgnored: number;
}

interface Waiting {
  readonly op: Uint8Array;
  readonly resolve: (result: Uint8Array) => void;
  readonly reject: (error: Error) => void;
}

export class ClientNode {
  readonly id: string;
  private readonly options: ClientNodeOptions;
  private readonly clients: Client[] = [];
  private readonly indexOf = new Map<string, number>();
  private readonly outstanding: (Waiting | undefined)[] = [];
  private readonly idle: number[] = [];
  private readonly queue: Waiting[] = [];
  private queueHead = 0;
  private readonly replicaIds: Map<string, number>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The replica whose authenticated link the reply being stepped came on (channel reply auth). */
  private channelReplica: number | undefined;
  private readonly counters = { submitted: 0, completed: 0, retransmissions: 0, framesIgnored: 0 };
  private readonly signer: Signer;
  /** Logical clients given an operation this turn; their requests are signed together, then sent. */
  private unsent: number[] = [];

  constructor(private readonly config: ClientNodeConfig) {
    this.id = config.id;
    const o = clientNodeOptions(config.options);
    this.options = o;
    this.replicaIds = replicaIdsByName(config.replicaNames);
    const linkSigner = config.signer ?? (config.keys && ed25519Signer(config.keys.self));
    const inner = config.verifier ?? (config.keys && ed25519Verifier(config.keys.replicas));
    if (!linkSigner || !inner) throw new Error('invariant violated: a client node needs keys, or a signer and a verifier');
    this.signer = linkSigner;
    const verifier: Verifier = {
      verifyReplica: (replica, data, sig) =>
        (o.replyAuth === 'channel' && replica === this.channelReplica) || inner.verifyReplica(replica, data, sig),
      verifyClient: () => false,
    };
    const firstRequestId = o.firstRequestId ?? Date.now() * 1000;
    for (let i = 0; i < o.logicalClients; i++) {
      const id = logicalClientId(config.id, i);
      this.clients.push(createClient({
        id, n: config.n, f: config.f, signer: linkSigner, verifier, firstRequestId,
        options: { requestTimeoutTicks: o.requestTimeoutTicks, requestTimeoutTicksMax: o.requestTimeoutTicksMax, queuedRequestsMax: 1 },
      }));
      this.indexOf.set(id, i);
      this.outstanding.push(undefined);
      this.idle.push(o.logicalClients - 1 - i);
    }
  }

  /** Starts taking replies and ticking. The transport may be started before or after. */
  start(): void {
    this.config.transport.onFrame((from, frame) => this.receive(from, frame));
    this.timer = setInterval(() => this.tick(), this.options.tickMs);
  }

  get stats(): ClientNodeStats {
    return {
      ...this.counters,
      inFlight: this.options.logicalClients - this.idle.length,
      queued: this.queue.length - this.queueHead,
    };
  }

  /** Orders `op` through consensus; resolves with its result once f+1 replicas agree on it. */
  submit(op: Uint8Array): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new BaksaError('CLIENT_CLOSED', 'the consensus client is closed', { hint: 'open a new client' }));
    if (this.queue.length - this.queueHead >= this.options.queuedOpsMax) {
      return Promise.reject(new BaksaError('CLIENT_QUEUE_FULL', `${this.options.queuedOpsMax} operations are already waiting`, {
        hint: 'wait for results before submitting more, or raise clientNode.queuedOpsMax',
      }));
    }
    this.counters.submitted += 1;
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiting: Waiting = { op, resolve, reject };
      const i = this.idle.pop();
      if (i === undefined) this.queue.push(waiting);
      else this.dispatch(i, waiting);
    });
  }

  /** Stops ticking; every operation not yet answered is rejected (CLIENT_CLOSED). The transport stays the caller's. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const error = new BaksaError('CLIENT_CLOSED', 'the consensus client was closed before the result came', {
      hint: 'the operation may or may not have been executed; check its effect before submitting it again',
    });
    for (const w of this.outstanding) w?.reject(error);
    for (let k = this.queueHead; k < this.queue.length; k++) this.queue[k]!.reject(error);
    this.outstanding.fill(undefined);
    this.queue.length = 0;
    this.queueHead = 0;
  }

  private dispatch(i: number, waiting: Waiting): void {
    this.outstanding[i] = waiting;
    this.unsent.push(i);
    // setImmediate: the results of every frame read this turn free their clients before the signing.
    if (this.unsent.length === 1) setImmediate(() => this.sendUnsent());
  }

  /** Signs the requests of this turn's operations together, then lets each logical client send its own. */
  private sendUnsent(): void {
    const unsent = this.unsent;
    this.unsent = [];
    if (this.closed) return;
    const requests = unsent.map((i) => {
      const client = this.clients[i]!;
      return signedBytes({ type: 'request', client: client.id, requestId: client.nextId, op: this.outstanding[i]!.op });
    });
    const sigs = signAll(this.signer, requests);
    unsent.forEach((i, k) => {
      const client = this.clients[i]!;
      this.perform(i, client.submit(this.outstanding[i]!.op, { requestId: client.nextId, sig: sigs[k]! }));
    });
  }

  /** A frame of one reply, or of several (a replica sends a batch's replies to this link together). */
  private receive(from: string, frame: Uint8Array): void {
    if (this.closed) return;
    const replica = this.replicaIds.get(from);
    const decoded = replica === undefined ? undefined : decodeReplies(frame, this.options.codec);
    if (!decoded?.ok) {
      this.counters.framesIgnored += 1;
      return;
    }
    for (const reply of decoded.value) {
      const i = this.indexOf.get(reply.client);
      if (i === undefined) {
        this.counters.framesIgnored += 1;
        continue;
      }
      this.channelReplica = replica;
      let actions: ClientAction[];
      try {
        actions = this.clients[i]!.step(reply);
      } finally {
        this.channelReplica = undefined;
      }
      this.perform(i, actions);
    }
  }

  private tick(): void {
    for (let i = 0; i < this.clients.length; i++) {
      if (this.outstanding[i]) this.perform(i, this.clients[i]!.tick());
    }
  }

  private perform(i: number, actions: readonly ClientAction[]): void {
    const transport = this.config.transport;
    for (const a of actions) {
      switch (a.type) {
        case 'send': {
          const name = this.config.replicaNames[a.to];
          if (name !== undefined) transport.send(name, encodeMessage(a.message));
          break;
        }
        case 'broadcast': {
          this.counters.retransmissions += 1;
          const bytes = encodeMessage(a.message);
          for (const name of this.config.replicaNames) transport.send(name, bytes);
          break;
        }
        case 'result': {
          const waiting = this.outstanding[i];
          this.outstanding[i] = undefined;
          this.counters.completed += 1;
          waiting?.resolve(a.result);
          this.next(i);
          break;
        }
      }
    }
  }

  /** Gives logical client i the next queued operation, or marks it idle. */
  private next(i: number): void {
    if (this.closed) return;
    if (this.queueHead < this.queue.length) {
      const waiting = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as Waiting;
      if (this.queueHead === this.queue.length) {
        this.queue.length = 0;
        this.queueHead = 0;
      } else if (this.queueHead > 4096 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.dispatch(i, waiting);
    } else {
      this.idle.push(i);
    }
  }
}
