/**
 * The public face of a PBFT replica: `step(message)` and `tick()` return the actions the shell must
 * perform (types.ts `Action`, executed in order, persists before the sends that follow them).
 * `restore(persisted)` rebuilds a replica after a restart. Nothing here does I/O or reads a clock.
 *
 *   const replica = createReplica({ n: 4, id: 0, keys, app });
 *   for (const action of replica.step(message)) await shell.perform(action);
 *   // and from the shell's timer, at a fixed rate: perform(replica.tick(wallClockMs))
 */
import { assert, unreachable } from '../errors.ts';
import { Core } from './core.ts';
import { requestKey } from './messages.ts';
import { ed25519Signer, ed25519Verifier, type ReplicaKeys, type Signer, type Verifier } from './crypto.ts';
import { checkClusterSize, defaultFaults, quorumSize } from './quorum.ts';
import { replicaOptions, type Action, type Application, type ReplicaId, type ReplicaOptions } from './types.ts';
import { onCommit, onPrePrepare, onPrepare, onRequest, propose } from './normal-case.ts';
import { onCheckpoint, onCommitted, onFetchState, onState, requestState } from './checkpoint.ts';
import { restoreCore } from './restore.ts';
import { onNewView, onViewChange, startViewChange } from './view-change.ts';
import { broadcastStatus, onStatus } from './status.ts';
import { requestTimerExpired, suspectSilentPrimary, syncViewTimer } from './suspicion.ts';
import type { Message } from './messages.ts';
import type { PersistedState } from './persistence.ts';

export interface ReplicaConfig {
  n: number;
  /** Byzantine faults tolerated; default floor((n-1)/3). */
  f?: number;
  id: ReplicaId;
  /** Ed25519 keys; or pass `signer` and `verifier` directly (the simulator does). */
  keys?: ReplicaKeys;
  signer?: Signer;
  verifier?: Verifier;
  app: Application;
  options?: Partial<ReplicaOptions>;
}

export interface ReplicaStatus {
  readonly id: ReplicaId;
  readonly view: number;
  readonly viewChanging: boolean;
  readonly primary: ReplicaId;
  readonly stableSeq: number;
  readonly lastExecuted: number;
  readonly pendingRequests: number;
  readonly logEntries: number;
  readonly received: number;
  readonly rejected: Readonly<Record<string, number>>;
}

export class Replica {
  private readonly c: Core;
  private started = false;

  constructor(config: ReplicaConfig) {
    const { n, id } = config;
    const f = config.f ?? defaultFaults(n);
    checkClusterSize(n, f);
    assert(Number.isSafeInteger(id) && id >= 0 && id < n, `replica id ${id} outside 0..${n - 1}`);
    const signer = config.signer ?? (config.keys && ed25519Signer(config.keys.self));
    const verifier = config.verifier ?? (config.keys && ed25519Verifier(config.keys.replicas, config.keys.clients));
    assert(signer && verifier, 'a replica needs keys, or a signer and a verifier');
    this.c = new Core(n, f, id, replicaOptions(config.options), signer, verifier, config.app, quorumSize(n, f));
  }

  get id(): ReplicaId {
    return this.c.id;
  }

  get status(): ReplicaStatus {
    const c = this.c;
    return {
      id: c.id,
      view: c.view,
      viewChanging: c.viewChanging,
      primary: c.primaryOf(c.view),
      stableSeq: c.stable.seq,
      lastExecuted: c.lastExecuted,
      pendingRequests: c.pending.size,
      logEntries: c.log.size,
      received: c.stats.received,
      rejected: { ...c.stats.rejected },
    };
  }

  /** Handles one message from a peer or a client (decoded by codec.ts). Bad ones are counted and dropped. */
  step(message: Message, nowMs?: number): Action[] {
    const c = this.c;
    this.started = true;
    if (nowMs !== undefined) c.clockMs = nowMs;
    c.stats.received += 1;
    switch (message.type) {
      case 'request': onRequest(c, message); break;
      case 'pre-prepare': onPrePrepare(c, message); break;
      case 'prepare': onPrepare(c, message); break;
      case 'commit': onCommit(c, message); break;
      case 'checkpoint': onCheckpoint(c, message); break;
      case 'view-change': onViewChange(c, message); break;
      case 'new-view': onNewView(c, message); break;
      case 'status': onStatus(c, message); break;
      case 'fetch-state': onFetchState(c, message); break;
      case 'state': onState(c, message); break;
      case 'committed': onCommitted(c, message); break;
      case 'reply': c.reject('reply-at-replica'); break;
      default: unreachable(message, 'message type');
    }
    syncViewTimer(c);
    return c.take();
  }

  /** Advances logical time by one tick. `nowMs` is what the primary stamps on its pre-prepares. */
  tick(nowMs?: number): Action[] {
    const c = this.c;
    this.started = true;
    c.ticks += 1;
    c.clockMs = nowMs ?? c.ticks;
    if (c.timeouts.view.tick()) requestTimerExpired(c);
    suspectSilentPrimary(c);
    if (c.timeouts.status.tick()) {
      broadcastStatus(c);
      c.timeouts.status.start();
    }
    if (c.timeouts.fetch.tick()) requestState(c);
    propose(c, true);
    syncViewTimer(c);
    return c.take();
  }

  /**
   * Rebuilds the replica from what it persisted, before any step or tick. The Application passed to
   * the constructor must be in its initial state; the highest snapshot is restored into it and the
   * committed log after it replayed (the returned actions hold those `execute`s).
   */
  restore(state: PersistedState): Action[] {
    const c = this.c;
    assert(!this.started, 'restore() must come before any step() or tick()');
    this.started = true;
    restoreCore(c, state);
    syncViewTimer(c);
    return c.take();
  }

  /** Internal consistency; throws on a broken invariant (a bug). Tests call it after every step. */
  invariants(): void {
    const c = this.c;
    const { checkpointInterval: K, logWindow: L } = c.options;
    assert(c.stable.seq % K === 0, `stable checkpoint ${c.stable.seq} is not a multiple of ${K}`);
    assert(c.lastExecuted <= c.stable.seq + L, `executed ${c.lastExecuted} beyond the window of ${c.stable.seq}`);
    if (c.stable.seq > 0 && c.lastExecuted >= c.stable.seq) {
      assert(c.snapshots.has(c.stable.seq), `no snapshot for the stable checkpoint ${c.stable.seq}`);
    }
    for (const [seq, e] of c.log) {
      assert(c.inWindow(seq), `log entry ${seq} outside (${c.stable.seq}, ${c.stable.seq + L}]`);
      assert(e.view <= c.view, `entry ${seq} in future view ${e.view}`);
      if (e.prePrepare) assert(e.prePrepare.seq === seq && e.prePrepare.view === e.view, `entry ${seq} holds a foreign pre-prepare`);
      if (e.commitCert) assert(e.commitCert.prePrepare.seq === seq, `entry ${seq} holds a foreign commit certificate`);
      if (e.sentCommit) assert(e.preparedCert, `entry ${seq} committed without being prepared`);
    }
    for (let seq = c.stable.seq + 1; seq <= c.lastExecuted; seq++) {
      assert(c.log.get(seq)?.commitCert, `executed entry ${seq} has no commit certificate`);
    }
    assert(c.pending.size <= c.options.pendingRequestsMax, 'pending requests above the bound');
    for (const [client, r] of c.pending) {
      const last = c.clientTable.get(client);
      assert(!last || r.requestId > last.requestId, `executed request ${client}/${r.requestId} still pending`);
      const inLog = c.inLog.has(requestKey(client, r.requestId));
      assert(inLog !== (c.unproposed.get(client) === r), `request ${client}/${r.requestId} is ${inLog ? 'in the log and unproposed' : 'neither in the log nor unproposed'}`);
    }
    for (const [client, r] of c.unproposed) assert(c.pending.get(client) === r, `unproposed request ${client}/${r.requestId} is not the pending one`);
    if (!c.viewChanging && c.isPrimary()) {
      for (const e of c.log.values()) {
        if (e.prePrepare && e.view === c.view) assert(e.seq < c.nextSeq, `primary reuses sequence number ${e.seq}`);
      }
    }
  }
}

export function createReplica(config: ReplicaConfig): Replica {
  return new Replica(config);
}
