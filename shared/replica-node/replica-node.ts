/**
 * ReplicaNode: the thin shell that runs one pure PBFT core (shared/consensus) as a real replica. It
 * binds the core to a Transport, a durable persist log (persist-log.ts), a tick timer and the
 * Application, and does nothing the core could decide.
 *
 * One loop, never two at once:
 *   frames in (bounded queue) -> decodeMessage (garbage is counted and dropped) -> replica.step;
 *   ticks owed by the timer   -> replica.tick(Date.now());
 *   then the actions of up to `stepBatchFramesMax` frames are performed together (group commit):
 *   every persist record of the batch is written with one write and one fsync, and only then do the
 *   batch's sends and broadcasts go out, in order, then its replies, those to one client link
 *   together in as few frames as the codec's limits allow (encodeReplies). Persisting a later record before an
 *   earlier send is always safe (a crash then looks like lost messages); sending before a persist is
 *   never done. The next batch is stepped while this one is being fsynced (two in flight), its
 *   records written after this one's and its sends after this one's. After a stable checkpoint the
 *   log is compacted when it has grown enough.
 *
 * Addressing (addressing.ts): replica id i is transport name `replicaNames[i]`; any other sender is a
 * client link, from which only `request`s of that link's clients (`<link>` or `<link>/<n>`) are taken.
 * A reply goes to the link of its client id.
 *
 * A broken core invariant, or a persist log that cannot be written, stops the node and calls
 * `onFatal` (default: log and crash the process): a replica must not run on past either.
 */
import { BaksaError, configError } from '../errors.ts';
import { silentLogger, type Logger } from '../log.ts';
import {
  createReplica,
  decodeMessage,
  defaultCodecOptions,
  encodeMessage,
  encodeReplies,
  type Action,
  type Application,
  type CodecOptions,
  type PersistRecord,
  type Replica,
  type ReplicaId,
  type ReplicaKeys,
  type ReplicaStatus,
  type Reply,
  type Signer,
  type Verifier,
} from '../consensus/index.ts';
import type { Transport } from '../transport/index.ts';
import { clientLinkOf, replicaIdsByName } from './addressing.ts';
import { InboundQueue } from './inbound-queue.ts';
import { replicaNodeOptions, type ReplicaNodeOptions } from './options.ts';
import { PersistLog, type PersistLogStats } from './persist-log.ts';

export interface ReplicaNodeConfig {
  n: number;
  /** Byzantine faults tolerated; default floor((n-1)/3). */
  f?: number;
  id: ReplicaId;
  /** Transport name of every replica, by id; `replicaNames[id]` must be `transport.self`. */
  replicaNames: readonly string[];
  transport: Transport;
  /** A fresh application in its initial state; the node restores it from the persist log. */
  app: Application;
  keys?: ReplicaKeys;
  signer?: Signer;
  verifier?: Verifier;
  /** The node's own directory: the persist log lives here. */
  dataDir: string;
  options?: Partial<ReplicaNodeOptions>;
  logger?: Logger;
  /**
   * Informational actions (execute, state-transferred, new-view, stable-checkpoint), and `view-change`
   * when the replica leaves its view for `view`; each once its batch is durable.
   */
  observe?: (action: ObservedAction) => void;
  onFatal?: (error: Error) => void;
}

export type ObservedAction =
  | Extract<Action, { type: 'execute' | 'state-transferred' | 'new-view' | 'stable-checkpoint' }>
  | { readonly type: 'view-change'; readonly view: number };

export interface ReplicaNodeStatus extends ReplicaStatus {
  readonly framesReceived: number;
  /** Frames that did not decode. */
  readonly framesGarbage: number;
  /** Frames dropped because the inbound queue was full. */
  readonly framesDropped: number;
  /** Frames from a client link that were not a request of that link's clients. */
  readonly framesRefused: number;
  readonly executedRequests: number;
  readonly stateTransfers: number;
  readonly viewsInstalled: number;
  /** View changes this replica started or joined. */
  readonly viewChangesStarted: number;
  /** Records folded from the log at start, and bytes of a torn tail cut off then. */
  readonly restoredRecords: number;
  readonly tornBytes: number;
  readonly persist: PersistLogStats;
}

export class ReplicaNode {
  readonly id: ReplicaId;
  private readonly options: ReplicaNodeOptions;
  private readonly codec: Partial<CodecOptions>;
  private readonly inbound = new InboundQueue();
  private readonly idsByName: Map<string, number>;
  private readonly peerNames: string[];
  /** Replies to one link in one frame at most (what the clients' codec, configured alike, accepts). */
  private readonly repliesPerFrame: number;
  private ticksOwed = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  /** The last batch stepped, until its sends are out; the next batch's sends wait for it. */
  private performing: Promise<void> | undefined;
  private closed = false;
  private failure: Error | undefined;
  private readonly counters = {
    framesReceived: 0, framesGarbage: 0, framesDropped: 0, framesRefused: 0, executedRequests: 0, stateTransfers: 0,
    viewsInstalled: 0, viewChangesStarted: 0,
  };

  private constructor(
    private readonly config: ReplicaNodeConfig,
    private readonly replica: Replica,
    private readonly log: PersistLog,
    options: ReplicaNodeOptions,
    private readonly logger: Logger,
  ) {
    this.id = config.id;
    this.options = options;
    this.codec = options.codec;
    this.idsByName = replicaIdsByName(config.replicaNames);
    this.peerNames = config.replicaNames.filter((_, id) => id !== config.id);
    this.repliesPerFrame = Math.min(REPLIES_PER_FRAME, this.codec.batchRequestsMax ?? defaultCodecOptions.batchRequestsMax);
  }

  /**
   * Opens the persist log in `dataDir`, restores the replica from it (replaying the committed log into
   * the app), then starts taking frames and ticking. The transport may be started before or after.
   */
  static async start(config: ReplicaNodeConfig): Promise<ReplicaNode> {
    const options = replicaNodeOptions(config.options);
    if (config.replicaNames.length !== config.n) {
      throw configError('replicaNames', `names ${config.replicaNames.length} replicas, but n is ${config.n}`);
    }
    if (config.replicaNames[config.id] !== config.transport.self) {
      throw configError('replicaNames', `replica ${config.id} is "${config.replicaNames[config.id]}", but the transport is "${config.transport.self}"`);
    }
    const replica = createReplica({
      n: config.n, f: config.f, id: config.id, keys: config.keys, signer: config.signer, verifier: config.verifier,
      app: config.app, options: options.replica,
    });
    const log = await PersistLog.open(config.dataDir, {
      fsync: options.persistFsync,
      syncWriteMsMax: options.persistSyncWriteMsMax,
      preallocateBytes: options.persistPreallocateBytes,
      recordBytesMax: options.recordBytesMax,
      compactBytesMin: options.compactBytesMin,
      compactGrowthFactor: options.compactGrowthFactor,
      codec: options.codec,
    });
    const node = new ReplicaNode(config, replica, log, options, config.logger ?? silentLogger);
    try {
      await node.perform(replica.restore(log.state));
    } catch (error) {
      await log.close();
      throw error;
    }
    node.logger.info(
      { id: config.id, view: replica.status.view, lastExecuted: replica.status.lastExecuted, records: log.opened.records, tornBytes: log.opened.tornBytes },
      'replica restored from its persist log',
    );
    config.transport.onFrame((from, frame) => node.receive(from, frame));
    node.timer = setInterval(() => node.onTimer(), options.tickMs);
    return node;
  }

  get status(): ReplicaNodeStatus {
    return {
      ...this.replica.status,
      ...this.counters,
      restoredRecords: this.log.opened.records,
      tornBytes: this.log.opened.tornBytes,
      persist: this.log.stats,
    };
  }

  /** The error that stopped the node, if one did. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** Stops ticking and taking frames, finishes the batch in progress and closes the log. The transport stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.draining;
    await this.performing?.catch(() => undefined);
    await this.log.close();
  }

  private receive(from: string, frame: Uint8Array): void {
    if (this.closed) return;
    this.counters.framesReceived += 1;
    const o = this.options;
    if (this.inbound.length >= o.inboundQueueFramesMax || this.inbound.bytes + frame.length > o.inboundQueueBytesMax) {
      this.counters.framesDropped += 1;
      return;
    }
    this.inbound.push(from, frame);
    this.schedule();
  }

  /**
   * One tick per timer period that the event loop actually ran (TigerBeetle's rule): when the process
   * is starved or busy, logical time slows down with it instead of firing timeouts in a burst, so an
   * overloaded replica does not add view changes to its load. Ticks that fire while a batch is in
   * progress are caught up, at most `ticksOwedMax` of them.
   */
  private onTimer(): void {
    if (this.ticksOwed < this.options.ticksOwedMax) this.ticksOwed += 1;
    this.schedule();
  }

  private schedule(): void {
    if (this.draining || this.closed) return;
    // setImmediate lets the frames already read from sockets join this batch.
    this.draining = new Promise<void>((resolve) => setImmediate(() => void this.drain().finally(resolve)));
  }

  /**
   * Two batches in flight: batch k+1 is stepped (CPU: decoding, signatures) as soon as its frames are
   * in, while batch k's records are being written and fsynced; k+1's records are written after k's,
   * and its sends wait for k's. A third batch is stepped once k is done. The drain may end while k is
   * still in flight, so a frame that arrives during a lone fsync is stepped at once, not after it.
   */
  private async drain(): Promise<void> {
    try {
      while (!this.closed && (this.inbound.length > 0 || this.ticksOwed > 0)) {
        const previous = this.performing;
        const current = this.perform(this.stepBatch(), previous);
        this.performing = current;
        current.then(() => {
          if (this.performing === current) this.performing = undefined;
        }, (error: Error) => this.fail(error));
        if (previous) await previous;
        else await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      this.fail(error as Error);
    } finally {
      this.draining = undefined;
    }
  }

  /** Steps the owed ticks and up to `stepBatchFramesMax` frames; returns all their actions. */
  private stepBatch(): Action[] {
    const actions: Action[] = [];
    const now = Date.now();
    const ticked = this.ticksOwed > 0;
    for (; this.ticksOwed > 0; this.ticksOwed--) append(actions, this.replica.tick(now));
    for (let i = 0; i < this.options.stepBatchFramesMax; i++) {
      const item = this.inbound.shift();
      if (!item) break;
      this.stepFrame(item[0], item[1], now, actions);
    }
    // In a batch with a tick, so at most once a tick: the check walks the log window and every pending
    // request (60 µs with 256 clients), which after every batch cost a loaded primary 5 % of its CPU.
    if (this.options.checkInvariants && ticked) this.replica.invariants();
    return actions;
  }

  private stepFrame(from: string, frame: Uint8Array, now: number, actions: Action[]): void {
    const decoded = decodeMessage(frame, this.codec);
    if (!decoded.ok) {
      this.counters.framesGarbage += 1;
      this.logger.debug({ from, code: decoded.error.code, err: decoded.error.message }, 'dropped a frame that does not decode');
      return;
    }
    const message = decoded.value;
    if (!this.idsByName.has(from) && (message.type !== 'request' || clientLinkOf(message.client) !== from)) {
      this.counters.framesRefused += 1;
      this.logger.debug({ from, type: message.type }, 'refused a frame from a client link');
      return;
    }
    append(actions, this.replica.step(message, now));
  }

  /**
   * Group commit: the batch's persist records go out with one write and one fsync (queued behind the
   * previous batch's), then, once the previous batch's sends are out, this batch's sends in order.
   */
  private async perform(actions: readonly Action[], previous?: Promise<void>): Promise<void> {
    const records: PersistRecord[] = [];
    for (const a of actions) if (a.type === 'persist') records.push(a.record);
    const durable = records.length > 0 ? this.log.append(records) : undefined;
    durable?.catch(() => undefined); // awaited below, after `previous`
    await previous;
    if (durable) {
      try {
        await durable;
      } catch (error) {
        throw new BaksaError('PERSIST_WRITE_FAILED', `replica ${this.id} could not write its persist log: ${(error as Error).message}`, {
          hint: 'check the disk under the data directory (space, permissions, errors), then restart the replica',
          cause: error,
        });
      }
    }
    let stable = false;
    const transport = this.config.transport;
    /** The batch's replies by client link, sent together after its other messages (sendReplies). */
    let replies: Map<string, Reply[]> | undefined;
    for (const a of actions) {
      switch (a.type) {
        case 'persist':
          if (a.record.kind === 'view' && a.record.viewChanging) {
            this.counters.viewChangesStarted += 1;
            this.config.observe?.({ type: 'view-change', view: a.record.view });
          }
          break;
        case 'send': {
          const name = this.config.replicaNames[a.to];
          if (name !== undefined) transport.send(name, encodeMessage(a.message));
          break;
        }
        case 'broadcast': {
          const bytes = encodeMessage(a.message);
          for (const name of this.peerNames) transport.send(name, bytes);
          break;
        }
        case 'reply': {
          const link = clientLinkOf(a.client);
          replies ??= new Map();
          const toLink = replies.get(link);
          if (toLink) toLink.push(a.message);
          else replies.set(link, [a.message]);
          break;
        }
        case 'execute':
          this.counters.executedRequests += a.requests.length;
          this.config.observe?.(a);
          break;
        case 'stable-checkpoint':
          stable = true;
          this.config.observe?.(a);
          break;
        case 'state-transferred':
          this.counters.stateTransfers += 1;
          this.config.observe?.(a);
          break;
        case 'new-view':
          this.counters.viewsInstalled += 1;
          this.config.observe?.(a);
          break;
        default: {
          const never: never = a;
          throw new Error(`invariant violated: unknown action ${JSON.stringify(never)}`);
        }
      }
    }
    if (replies) for (const [link, toLink] of replies) sendReplies(transport, link, toLink, this.repliesPerFrame);
    if (stable) await this.log.compactIfDue();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.closed = true;
    clearInterval(this.timer);
    this.logger.fatal({ id: this.id, err: error.message, code: (error as BaksaError).code }, 'replica stopped');
    void this.log.close().catch(() => undefined);
    const onFatal = this.config.onFatal ?? ((e: Error) => setImmediate(() => { throw e; }));
    onFatal(error);
  }
}

/** Replies in one frame: at most this many (or the codec's batchRequestsMax, if lower), and about this many bytes of results. */
const REPLIES_PER_FRAME = 256;
const REPLY_FRAME_BYTES = 1024 * 1024;

/**
 * The replies of one batch to the clients of one link, several to a frame (encodeReplies): a client
 * node takes them with one read, one decode and one frame instead of one each. Replies go out in the
 * order the replica made them; a lone reply goes as itself.
 */
function sendReplies(transport: Transport, link: string, replies: readonly Reply[], perFrame: number): void {
  for (let from = 0; from < replies.length;) {
    let to = from;
    let bytes = 0;
    while (to < replies.length && to - from < perFrame && (to === from || bytes < REPLY_FRAME_BYTES)) {
      bytes += replies[to]!.result.length + replies[to]!.sig.length;
      to += 1;
    }
    transport.send(link, to - from === 1 ? encodeMessage(replies[from]!) : encodeReplies(replies.slice(from, to)));
    from = to;
  }
}

function append(into: Action[], actions: readonly Action[]): void {
  for (const a of actions) into.push(a);
}
