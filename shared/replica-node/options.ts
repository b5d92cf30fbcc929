/**
 * Options of the replica shell and the client shell, with their defaults and checks. Bounds carry their
 * unit in the name. The consensus core's own options (`replica`) and the codec's limits (`codec`) pass
 * through unchanged; the core checks its own.
 */
import { configError } from '../errors.ts';
import type { CodecOptions, ReplicaOptions } from '../consensus/index.ts';

export interface ReplicaNodeOptions {
  /** Period of `replica.tick(Date.now())`; every core timeout counts these ticks. */
  tickMs: number;
  /** Make every batch of records durable before its sends: an O_DSYNC write, else write + fdatasync (off only for tests and benchmarks). */
  persistFsync: boolean;
  /**
   * A batch's durable write is made from the replica's own thread while the fastest of the recent
   * ones took at most this (ms), through the thread pool otherwise (persist-log.ts); 0 always uses the pool.
   */
  persistSyncWriteMsMax: number;
  /**
   * Zero-filled space kept ahead of the persist log's end (bytes): a durable write over it needs no
   * journal commit, one that appends does (persist-log.ts). 0: every batch appends (less written in all, for flash that wears).
   */
  persistPreallocateBytes: number;
  /** Frames received but not yet stepped; more are dropped and counted (peers retransmit). */
  inboundQueueFramesMax: number;
  inboundQueueBytesMax: number;
  /** Frames stepped before their persist records are written with one write and one fsync (group commit). */
  stepBatchFramesMax: number;
  /** Ticks owed when the timer fires late (a busy or starved process) are caught up, at most this many at once. */
  ticksOwedMax: number;
  /** The log is rewritten as its folded state after a stable checkpoint once it is this large ... */
  compactBytesMin: number;
  /** ... and at least this many times the size it had right after the last compaction. */
  compactGrowthFactor: number;
  /** Largest persist record accepted when reading the log (a snapshot or a new-view can be large). */
  recordBytesMax: number;
  /** Run `replica.invariants()` after a batch, at most once a tick (it walks the log window and the pending requests); a broken one stops the node. */
  checkInvariants: boolean;
  replica: Partial<ReplicaOptions>;
  codec: Partial<CodecOptions>;
}

export const defaultReplicaNodeOptions: ReplicaNodeOptions = {
  tickMs: 10,
  persistFsync: true,
  persistSyncWriteMsMax: 2,
  persistPreallocateBytes: 4 * 1024 * 1024,
  inboundQueueFramesMax: 100_000,
  inboundQueueBytesMax: 256 * 1024 * 1024,
  stepBatchFramesMax: 256,
  ticksOwedMax: 10,
  compactBytesMin: 8 * 1024 * 1024,
  compactGrowthFactor: 2,
  recordBytesMax: 256 * 1024 * 1024,
  checkInvariants: true,
  replica: {},
  codec: {},
};

export type ReplyAuth = 'signature' | 'channel';

export interface ClientNodeOptions {
  /**
   * Logical core clients multiplexed on the one link. Each has one request outstanding, so this is
   * also the bound on requests in flight.
   */
  logicalClients: number;
  /** Operations waiting for a free logical client; `submit` refuses more (CLIENT_QUEUE_FULL). */
  queuedOpsMax: number;
  tickMs: number;
  /** Ticks before a request is broadcast to every replica (then doubling up to the max). */
  requestTimeoutTicks: number;
  requestTimeoutTicksMax: number;
  /** First request id of every logical client; default `Date.now() * 1000`, so ids never repeat across restarts. */
  firstRequestId: number | undefined;
  /**
   * How replies are authenticated. `signature`: every reply's Ed25519 signature is checked.
   * `channel`: a reply that arrives on the authenticated link of the replica it names is accepted
   * without checking its signature (the PBFT MAC optimisation: the TLS link already authenticates
   * it, and replies are never forwarded); a reply naming another replica is still checked.
   */
  replyAuth: ReplyAuth;
  codec: Partial<CodecOptions>;
}

export const defaultClientNodeOptions: ClientNodeOptions = {
  logicalClients: 16,
  queuedOpsMax: 100_000,
  tickMs: 10,
  requestTimeoutTicks: 100,
  requestTimeoutTicksMax: 1600,
  firstRequestId: undefined,
  replyAuth: 'signature',
  codec: {},
};

function positiveIntegers(prefix: string, values: Record<string, unknown>, fields: readonly string[]): void {
  for (const field of fields) {
    const value = values[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw configError(`${prefix}.${field}`, `must be a positive integer, got ${String(value)}`);
    }
  }
}

/** Merges over the defaults; a bad value is refused with its field name. */
export function replicaNodeOptions(options: Partial<ReplicaNodeOptions> = {}): ReplicaNodeOptions {
  const o: ReplicaNodeOptions = { ...defaultReplicaNodeOptions, ...options };
  positiveIntegers('replicaNode', o as unknown as Record<string, unknown>, [
    'tickMs', 'inboundQueueFramesMax', 'inboundQueueBytesMax', 'stepBatchFramesMax', 'ticksOwedMax',
    'compactBytesMin', 'recordBytesMax',
  ]);
  if (!(o.compactGrowthFactor >= 1)) throw configError('replicaNode.compactGrowthFactor', 'must be at least 1');
  if (!(typeof o.persistSyncWriteMsMax === 'number' && o.persistSyncWriteMsMax >= 0 && Number.isFinite(o.persistSyncWriteMsMax))) {
    throw configError('replicaNode.persistSyncWriteMsMax', `must be a number of milliseconds, 0 or more (0: always write through the thread pool), got ${String(o.persistSyncWriteMsMax)}`);
  }
  if (!(Number.isSafeInteger(o.persistPreallocateBytes) && o.persistPreallocateBytes >= 0)) {
    throw configError('replicaNode.persistPreallocateBytes', `must be a whole number of bytes, 0 or more (0: no zero-filled space, every batch appends), got ${String(o.persistPreallocateBytes)}`);
  }
  return o;
}

export function clientNodeOptions(options: Partial<ClientNodeOptions> = {}): ClientNodeOptions {
  const o: ClientNodeOptions = { ...defaultClientNodeOptions, ...options };
  positiveIntegers('clientNode', o as unknown as Record<string, unknown>, [
    'logicalClients', 'queuedOpsMax', 'tickMs', 'requestTimeoutTicks', 'requestTimeoutTicksMax',
  ]);
  if (o.requestTimeoutTicksMax < o.requestTimeoutTicks) {
    throw configError('clientNode.requestTimeoutTicksMax', `must be at least requestTimeoutTicks (${o.requestTimeoutTicks})`);
  }
  if (o.firstRequestId !== undefined && (!Number.isSafeInteger(o.firstRequestId) || o.firstRequestId < 1)) {
    throw configError('clientNode.firstRequestId', `must be a positive integer, got ${String(o.firstRequestId)}`);
  }
  if (o.replyAuth !== 'signature' && o.replyAuth !== 'channel') {
    throw configError('clientNode.replyAuth', `must be "signature" or "channel", got ${String(o.replyAuth)}`);
  }
  return o;
}
