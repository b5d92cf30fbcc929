/**
 * Shared vocabulary of the PBFT core: ids, options with their defaults, the application interface and
 * the actions a replica returns. Everything here is data; nothing does I/O.
 *
 * Time is logical: the shell calls `tick()` at a fixed rate, and every timeout is counted in ticks
 * (`viewTimeoutTicks`, `statusIntervalTicks`, ...). Wall-clock time enters only as `tick(nowMs)`, and
 * only the primary uses it, by fixing `timeMs` in its pre-prepare (TigerBeetle style).
 */
import { configError } from '../errors.ts';
import type { PersistRecord } from './persistence.ts';
import type { Reply, ReplicaMessage, Request } from './messages.ts';

/** Replicas are numbered 0..n-1; the primary of view v is replica v mod n. */
export type ReplicaId = number;
/** A client is named by a string the shell maps to a key (account id, node id). */
export type ClientId = string;

export interface ReplicaOptions {
  /** Requests per pre-prepare. The primary proposes a full batch at once, a partial one as `eagerInFlightBatchesMax` says. */
  batchRequestsMax: number;
  /**
   * The primary proposes a partial batch only while fewer batches than this are proposed and not yet
   * executed, and then at once (on a request, an execution or a tick): an idle cluster orders a lone
   * request without waiting for a tick, and a busy one batches what arrives while its pipeline is
   * full (normal-case.ts). 0: partial batches go out on every tick, whatever is in flight.
   */
  eagerInFlightBatchesMax: number;
  /** K: a checkpoint is taken after every K-th sequence number. */
  checkpointInterval: number;
  /** L: sequence numbers accepted are h < seq <= h + L, h being the last stable checkpoint. */
  logWindow: number;
  /** Patience before suspecting the primary; doubles per view change without progress. */
  viewTimeoutTicks: number;
  /** Cap of the doubled view timeout. */
  viewTimeoutTicksMax: number;
  /**
   * Period of the status message that drives retransmission; also the idle primary's heartbeat, so
   * at most half of viewTimeoutTicks (suspicion.ts).
   */
  statusIntervalTicks: number;
  /** Wait for a state snapshot before asking the next replica. */
  stateTransferTimeoutTicks: number;
  /** Requests held (one per client) while waiting to be ordered; more are dropped (clients retry). */
  pendingRequestsMax: number;
  /** Log entries retransmitted to one peer per status message. */
  retransmitEntriesMax: number;
  /** Largest client operation accepted. */
  opBytesMax: number;
  /**
   * Whether replies are signed (one signature per executed batch, batch-signature.ts). False only where
   * every client authenticates replies by the link they come on (ClientNode `replyAuth: 'channel'`:
   * mutual TLS, or MQTT envelopes signed by their sender); a client that checks signatures never
   * accepts an unsigned reply. Replies are never forwarded as proof, so nothing else needs them signed.
   */
  replySignatures: boolean;
}

export const defaultReplicaOptions: ReplicaOptions = {
  batchRequestsMax: 16,
  eagerInFlightBatchesMax: 1,
  checkpointInterval: 16,
  logWindow: 32,
  viewTimeoutTicks: 20,
  viewTimeoutTicksMax: 320,
  statusIntervalTicks: 5,
  stateTransferTimeoutTicks: 10,
  pendingRequestsMax: 4096,
  retransmitEntriesMax: 32,
  opBytesMax: 1024 * 1024,
  replySignatures: true,
};

/** Merges options over the defaults and refuses bad values with the field name. */
export function replicaOptions(options: Partial<ReplicaOptions> = {}): ReplicaOptions {
  const o: ReplicaOptions = { ...defaultReplicaOptions, ...options };
  for (const [field, value] of Object.entries(o)) {
    if (field === 'replySignatures') {
      if (typeof value !== 'boolean') throw configError('consensus.replySignatures', `must be true or false, got ${String(value)}`);
      continue;
    }
    const min = field === 'eagerInFlightBatchesMax' ? 0 : 1;
    if (!Number.isSafeInteger(value) || (value as number) < min) {
      throw configError(`consensus.${field}`, `must be an integer of at least ${min}, got ${String(value)}`);
    }
  }
  if (o.logWindow < o.checkpointInterval) {
    throw configError('consensus.logWindow', `must be at least checkpointInterval (${o.checkpointInterval})`);
  }
  if (o.viewTimeoutTicksMax < o.viewTimeoutTicks) {
    throw configError('consensus.viewTimeoutTicksMax', `must be at least viewTimeoutTicks (${o.viewTimeoutTicks})`);
  }
  if (o.statusIntervalTicks * 2 > o.viewTimeoutTicks) {
    throw configError(
      'consensus.statusIntervalTicks',
      `must be at most half of viewTimeoutTicks (${o.viewTimeoutTicks}), got ${o.statusIntervalTicks}: backups suspect a primary they have not heard from for a view timeout`,
    );
  }
  return o;
}

/** What a replica needs from the execution context of one request. */
export interface ExecuteContext {
  readonly seq: number;
  readonly client: ClientId;
  readonly requestId: number;
  /** Time fixed by the primary in its pre-prepare (ms since the epoch, or sim ticks). */
  readonly timeMs: number;
}

/**
 * The replicated state machine. It must be deterministic: the same operations in the same order give
 * the same results and the same snapshot bytes on every replica. The core calls it synchronously;
 * a new Application starts in the initial (genesis) state.
 */
export interface Application {
  execute(op: Uint8Array, context: ExecuteContext): Uint8Array;
  /** The whole state as bytes (taken at every checkpoint). */
  snapshot(): Uint8Array;
  /** Replaces the state by a snapshot (state transfer, restart). */
  restore(snapshot: Uint8Array): void;
}

export interface ExecutedRequest {
  readonly client: ClientId;
  readonly requestId: number;
  readonly op: Uint8Array;
  readonly result: Uint8Array;
}

/**
 * What the shell must do, in order. Ordering rule: a `persist` must be durable (fsynced) before any
 * later `send`, `broadcast` or `reply` of the same list is performed; messages never go out ahead of
 * the state that justifies them. Informational actions (`execute`, `state-transferred`, `new-view`,
 * `stable-checkpoint`) need no I/O.
 */
export type Action =
  | { readonly type: 'send'; readonly to: ReplicaId; readonly message: ReplicaMessage | Request }
  /** To every other replica (never to itself). */
  | { readonly type: 'broadcast'; readonly message: ReplicaMessage | Request }
  | { readonly type: 'persist'; readonly record: PersistRecord }
  | { readonly type: 'reply'; readonly client: ClientId; readonly message: Reply }
  /** A committed batch was applied through Application.execute (duplicates left out of `requests`). */
  | {
      readonly type: 'execute';
      readonly seq: number;
      readonly view: number;
      readonly digest: Uint8Array;
      readonly timeMs: number;
      readonly requests: readonly ExecutedRequest[];
      /** True while replaying the persisted log after a restart. */
      readonly replay: boolean;
    }
  | { readonly type: 'state-transferred'; readonly seq: number; readonly stateDigest: Uint8Array }
  | { readonly type: 'new-view'; readonly view: number; readonly primary: ReplicaId }
  | { readonly type: 'stable-checkpoint'; readonly seq: number; readonly stateDigest: Uint8Array };
