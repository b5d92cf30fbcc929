/**
 * A PBFT client (PBFT §4.1): one request outstanding at a time, sent to the primary it believes in;
 * a result is accepted after f+1 matching replies from distinct replicas (at least one is correct).
 * On timeout it broadcasts the request to every replica (backups relay it to the primary and start
 * suspecting it), with the timeout doubling up to `requestTimeoutTicksMax`.
 *
 * Request ids must never be reused, even across restarts of the client: replicas answer a reused id
 * with the cached reply of the old request. A shell that restarts a client passes the next unused id
 * as `firstRequestId` (e.g. a persisted counter, or a millisecond timestamp).
 */
import { assert } from '../errors.ts';
import { ed25519Signer, ed25519Verifier, hex, type Signer, type Verifier } from './crypto.ts';
import { signedBytes, type Reply, type Request } from './messages.ts';
import { defaultFaults } from './quorum.ts';
import type { SigningKeyPair } from '../crypto/sign.ts';
import type { ClientId, ReplicaId } from './types.ts';

export interface ClientOptions {
  requestTimeoutTicks: number;
  requestTimeoutTicksMax: number;
  /** Operations queued behind the outstanding one; `submit` refuses more. */
  queuedRequestsMax: number;
}

export const defaultClientOptions: ClientOptions = {
  requestTimeoutTicks: 40,
  requestTimeoutTicksMax: 640,
  queuedRequestsMax: 1024,
};

export interface ClientConfig {
  id: ClientId;
  n: number;
  f?: number;
  /** The client's key pair and the replicas' public keys; or `signer` and `verifier`. */
  keys?: { readonly self: SigningKeyPair; readonly replicas: readonly Uint8Array[] };
  signer?: Signer;
  verifier?: Verifier;
  firstRequestId?: number;
  options?: Partial<ClientOptions>;
}

/** A signature made ahead for the request with `requestId` (Client.submit). */
export interface Presigned {
  readonly requestId: number;
  readonly sig: Uint8Array;
}

export type ClientAction =
  | { readonly type: 'send'; readonly to: ReplicaId; readonly message: Request }
  /** To every replica. */
  | { readonly type: 'broadcast'; readonly message: Request }
  | { readonly type: 'result'; readonly requestId: number; readonly op: Uint8Array; readonly result: Uint8Array };

interface Outstanding {
  readonly request: Request;
  /** replica -> hex(result) of its reply */
  readonly replies: Map<ReplicaId, string>;
  readonly results: Map<string, Uint8Array>;
  ticks: number;
  timeoutTicks: number;
}

export class Client {
  readonly id: ClientId;
  private readonly n: number;
  private readonly f: number;
  private readonly signer: Signer;
  private readonly verifier: Verifier;
  private readonly options: ClientOptions;
  private nextRequestId: number;
  private view = 0;
  private outstanding: Outstanding | undefined;
  private readonly queue: { readonly op: Uint8Array; readonly presigned?: Presigned }[] = [];

  constructor(config: ClientConfig) {
    this.id = config.id;
    this.n = config.n;
    this.f = config.f ?? defaultFaults(config.n);
    const signer = config.signer ?? (config.keys && ed25519Signer(config.keys.self));
    const verifier = config.verifier ?? (config.keys && ed25519Verifier(config.keys.replicas));
    assert(signer && verifier, 'a client needs keys, or a signer and a verifier');
    this.signer = signer;
    this.verifier = verifier;
    this.options = { ...defaultClientOptions, ...config.options };
    this.nextRequestId = config.firstRequestId ?? 1;
  }

  /** Requests waiting for a result (the outstanding one included). */
  get inFlight(): number {
    return (this.outstanding ? 1 : 0) + this.queue.length;
  }

  /** The id the next submitted operation will get (persist it to survive restarts). */
  get nextId(): number {
    return this.nextRequestId;
  }

  /**
   * Queues an operation; it is sent at once if nothing is outstanding. `presigned` is a signature the
   * caller already made over the request this operation becomes (signedBytes of it, with the id
   * `nextId` gives): used when that id is the one it gets, so a caller that signs many clients'
   * requests together (a client node) does not have them built and signed again here.
   */
  submit(op: Uint8Array, presigned?: Presigned): ClientAction[] {
    if (this.queue.length >= this.options.queuedRequestsMax) throw new RangeError('client queue is full');
    this.queue.push({ op, presigned });
    return this.sendNext();
  }

  step(reply: Reply): ClientAction[] {
    const o = this.outstanding;
    if (reply.type !== 'reply' || !o || reply.client !== this.id || reply.requestId !== o.request.requestId) return [];
    if (!Number.isSafeInteger(reply.replica) || reply.replica < 0 || reply.replica >= this.n) return [];
    if (o.replies.has(reply.replica)) return [];
    if (!this.verifier.verifyReplica(reply.replica, signedBytes(reply), reply.sig)) return [];
    this.view = Math.max(this.view, reply.view);
    const key = hex(reply.result);
    o.replies.set(reply.replica, key);
    o.results.set(key, reply.result);
    let matching = 0;
    for (const k of o.replies.values()) if (k === key) matching += 1;
    if (matching < this.f + 1) return [];
    this.outstanding = undefined;
    const done: ClientAction = { type: 'result', requestId: reply.requestId, op: o.request.op, result: reply.result };
    return [done, ...this.sendNext()];
  }

  tick(): ClientAction[] {
    const o = this.outstanding;
    if (!o) return [];
    o.ticks += 1;
    if (o.ticks < o.timeoutTicks) return [];
    o.ticks = 0;
    o.timeoutTicks = Math.min(o.timeoutTicks * 2, this.options.requestTimeoutTicksMax);
    return [{ type: 'broadcast', message: o.request }];
  }

  private sendNext(): ClientAction[] {
    if (this.outstanding) return [];
    const next = this.queue.shift();
    if (!next) return [];
    const { op, presigned } = next;
    const unsigned = { type: 'request' as const, client: this.id, requestId: this.nextRequestId++, op };
    const sig = presigned?.requestId === unsigned.requestId ? presigned.sig : this.signer.sign(signedBytes(unsigned));
    const request: Request = { ...unsigned, sig };
    this.outstanding = {
      request,
      replies: new Map(),
      results: new Map(),
      ticks: 0,
      timeoutTicks: this.options.requestTimeoutTicks,
    };
    return [{ type: 'send', to: this.view % this.n, message: request }];
  }
}

export function createClient(config: ClientConfig): Client {
  return new Client(config);
}
