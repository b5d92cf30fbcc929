/**
 * Normal-case operation (PBFT §4.2-4.3): request, pre-prepare, prepare, commit, execute.
 *
 * - The primary batches pending requests (up to `batchRequestsMax`) into a pre-prepare, for sequence
 *   numbers inside the window h < seq <= h + L. A full batch goes out at once. A partial one goes out
 *   while fewer than `eagerInFlightBatchesMax` batches are proposed and not yet executed, checked on
 *   every request, execution and tick: an idle cluster orders a lone request without waiting for a
 *   tick, and under load what arrives while the pipeline is full waits for room, so batches grow
 *   with the load and the signatures per request shrink. With 0, partial batches go out on ticks.
 * - A backup accepts one pre-prepare per (view, seq), persists it, then broadcasts its prepare.
 * - prepared = the pre-prepare plus quorum-1 matching prepares from distinct backups; the replica
 *   persists the certificate, then broadcasts its commit.
 * - committed-local = prepared plus a quorum of matching commits; the entry is persisted with its
 *   commit certificate, then executed in sequence order.
 * - Execution is exactly-once per (client, requestId): the client table (part of the checkpointed
 *   state) remembers each client's last executed request and its reply (bft-smart#63).
 */
import { digestKey, type Core, type Entry } from './core.ts';
import { validPrePrepare } from './certificates.ts';
import { takeCheckpoint } from './checkpoint.ts';
import { heardFromPrimary } from './suspicion.ts';
import { batchDigest, type Commit, type Prepare, type PrePrepare, type Reply, type Request } from './messages.ts';
import type { ExecutedRequest } from './types.ts';

export function onRequest(c: Core, r: Request): void {
  if (!c.verifyRequest(r)) return c.reject('request-signature');
  const last = c.clientTable.get(r.client);
  if (last && r.requestId <= last.requestId) {
    // A retransmission of the last executed request gets its cached reply; older ones are dropped.
    if (r.requestId === last.requestId) sendReplies(c, [{ client: r.client, requestId: r.requestId, result: last.result }]);
    return;
  }
  const held = c.pending.get(r.client);
  if (held && held.requestId > r.requestId) return;
  if (!held && c.pending.size >= c.options.pendingRequestsMax) return c.reject('pending-full');
  if (!held || held.requestId < r.requestId) c.hold(r);
  if (c.viewChanging) return;
  if (c.isPrimary()) {
    propose(c, false);
  } else {
    // PBFT: a backup relays the request to the primary and starts suspecting it (the view timer).
    c.send(c.primaryOf(c.view), c.pending.get(r.client) ?? r);
  }
}

/** Pending requests not yet in a pre-prepare of this view, in arrival order. */
function proposable(c: Core, max: number): Request[] {
  const batch: Request[] = [];
  for (const r of c.unproposed.values()) {
    if (batch.length >= max) break;
    batch.push(r);
  }
  return batch;
}

/** A partial batch may go out now: the pipeline has room (eager batching), or on a tick when that is off. */
function partialBatchDue(c: Core, onTick: boolean): boolean {
  const inFlightMax = c.options.eagerInFlightBatchesMax;
  return inFlightMax === 0 ? onTick : c.nextSeq - 1 - c.lastExecuted < inFlightMax;
}

/** The primary assigns sequence numbers to pending requests while the window (and, for a partial batch, the pipeline) allows. */
export function propose(c: Core, onTick: boolean): void {
  if (c.viewChanging || !c.isPrimary()) return;
  while (c.nextSeq <= c.stable.seq + c.options.logWindow) {
    const batch = proposable(c, c.options.batchRequestsMax);
    if (batch.length === 0) return;
    if (batch.length < c.options.batchRequestsMax && !partialBatchDue(c, onTick)) return;
    const seq = Math.max(c.nextSeq, c.stable.seq + 1);
    c.nextSeq = seq + 1;
    const pp = c.sign<PrePrepare>({
      type: 'pre-prepare',
      view: c.view,
      seq,
      digest: batchDigest(batch),
      timeMs: c.clockMs,
      replica: c.id,
      batch,
    });
    const e = c.entry(seq);
    acceptPrePrepare(c, e, pp);
    c.broadcast(pp);
    checkPrepared(c, e);
  }
}

export function onPrePrepare(c: Core, pp: PrePrepare): void {
  if (pp.view !== c.view || c.viewChanging) return c.reject('pre-prepare-view');
  if (pp.replica === c.id) return; // a twin's message, or an echo
  if (!c.inWindow(pp.seq)) return c.reject('pre-prepare-window');
  const accepted = c.log.get(pp.seq);
  if (accepted?.prePrepare && accepted.view === c.view) {
    // Already have one for this view and seq: a retransmission, or an equivocating primary.
    if (digestKey(accepted.prePrepare.digest) !== digestKey(pp.digest)) c.reject('pre-prepare-conflict');
    return;
  }
  if (!validPrePrepare(c, pp)) return c.reject('pre-prepare-invalid');
  for (const r of pp.batch) if (!c.verifyRequest(r)) return c.reject('pre-prepare-request');
  heardFromPrimary(c);
  const e = c.entry(pp.seq);
  acceptPrePrepare(c, e, pp);
  checkPrepared(c, e);
}

/**
 * Accepts a pre-prepare into the entry of the current view: persisted before the backup's prepare
 * goes out (a restarted replica never accepts a different one for the same view and seq).
 */
export function acceptPrePrepare(c: Core, e: Entry, pp: PrePrepare): void {
  e.prePrepare = pp;
  if (e.seq > c.lastExecuted) for (const r of pp.batch) c.logRequest(r);
  c.persistEntry(e);
  if (pp.replica !== c.id) {
    const p = c.sign<Prepare>({ type: 'prepare', view: c.view, seq: e.seq, digest: pp.digest, replica: c.id });
    e.prepares.add(digestKey(pp.digest), c.id, p);
    c.broadcast(p);
  }
}

export function onPrepare(c: Core, p: Prepare): void {
  if (p.view !== c.view || c.viewChanging) return c.reject('prepare-view');
  if (p.replica === c.primaryOf(p.view)) return c.reject('prepare-from-primary');
  if (!c.inWindow(p.seq)) return c.reject('prepare-window');
  const e = c.entry(p.seq);
  if (e.prepares.hasVoted(p.replica)) return; // duplicates are free: no signature check
  // Prepared in this view already: the certificate is made and a late prepare changes nothing, so it
  // costs no signature check (a primary hears from every backup and needs all but one).
  if (e.sentCommit) return;
  if (!c.verify(p)) return c.reject('prepare-signature');
  if (e.prepares.add(digestKey(p.digest), p.replica, p)) checkPrepared(c, e);
}

export function onCommit(c: Core, m: Commit): void {
  if (m.view !== c.view || c.viewChanging) return c.reject('commit-view');
  if (!c.inWindow(m.seq)) return c.reject('commit-window');
  const e = c.entry(m.seq);
  if (e.commits.hasVoted(m.replica) || e.commitCert) return;
  if (!c.verify(m)) return c.reject('commit-signature');
  if (e.commits.add(digestKey(m.digest), m.replica, m)) checkCommitted(c, e);
}

/** prepared(m, v, n, i): pre-prepare plus quorum-1 matching prepares from distinct backups. */
export function checkPrepared(c: Core, e: Entry): void {
  const pp = e.prePrepare;
  if (!pp || e.sentCommit || pp.view !== c.view) return;
  const key = digestKey(pp.digest);
  if (e.prepares.count(key) < c.quorum - 1) return;
  const prepares = e.prepares
    .votes(key)
    .sort((a, b) => a.replica - b.replica)
    .slice(0, c.quorum - 1);
  e.preparedCert = { prePrepare: pp, prepares };
  e.sentCommit = true;
  c.persistEntry(e);
  const m = c.sign<Commit>({ type: 'commit', view: c.view, seq: e.seq, digest: pp.digest, replica: c.id });
  e.commits.add(key, c.id, m);
  c.broadcast(m);
  checkCommitted(c, e);
}

/** committed-local(m, v, n, i): prepared plus a quorum of matching commits. */
export function checkCommitted(c: Core, e: Entry): void {
  const pp = e.prePrepare;
  if (!pp || !e.sentCommit || e.commitCert) return;
  const key = digestKey(pp.digest);
  if (e.commits.count(key) < c.quorum) return;
  const commits = e.commits
    .votes(key)
    .sort((a, b) => a.replica - b.replica)
    .slice(0, c.quorum);
  e.commitCert = { prePrepare: pp, commits };
  c.persistEntry(e);
  executeReady(c, false);
  // What arrived while the pipeline was full goes out as one batch now that it has room.
  propose(c, false);
}

/** Executes committed entries in sequence order, as far as the log allows. */
export function executeReady(c: Core, replay: boolean): void {
  while (c.lastExecuted >= c.stable.seq) {
    const e = c.log.get(c.lastExecuted + 1);
    if (!e?.commitCert) return;
    executeEntry(c, e, replay);
  }
}

function executeEntry(c: Core, e: Entry, replay: boolean): void {
  const pp = e.commitCert!.prePrepare;
  const executed: ExecutedRequest[] = [];
  for (const r of pp.batch) {
    c.unlogRequest(r);
    const last = c.clientTable.get(r.client);
    if (last && r.requestId <= last.requestId) continue; // already executed: exactly-once
    const result = c.app.execute(r.op, { seq: e.seq, client: r.client, requestId: r.requestId, timeMs: pp.timeMs });
    c.clientTable.set(r.client, { requestId: r.requestId, result });
    executed.push({ client: r.client, requestId: r.requestId, op: r.op, result });
    const held = c.pending.get(r.client);
    if (held && held.requestId <= r.requestId) c.release(r.client);
  }
  c.lastExecuted = e.seq;
  c.out.push({ type: 'execute', seq: e.seq, view: pp.view, digest: pp.digest, timeMs: pp.timeMs, requests: executed, replay });
  sendReplies(c, executed);
  if (!c.viewChanging) {
    // Progress: the primary is doing its job, so forget earlier suspicion and restart the timer.
    c.viewChangeAttempts = 0;
    c.timeouts.view.stop();
  }
  if (e.seq % c.options.checkpointInterval === 0) takeCheckpoint(c, e.seq);
}

/**
 * Replies to these requests, all under one signature (batch-signature.ts; one alone gets a plain one),
 * or unsigned where the clients authenticate replies by their link (`replySignatures: false`).
 */
function sendReplies(c: Core, to: ReadonlyArray<{ client: string; requestId: number; result: Uint8Array }>): void {
  const unsigned = to.map((x) => ({
    type: 'reply' as const, view: c.view, client: x.client, requestId: x.requestId, result: x.result, replica: c.id,
  }));
  const replies: Reply[] = c.options.replySignatures ? c.signMany<Reply>(unsigned) : unsigned.map((r) => ({ ...r, sig: NO_SIGNATURE }));
  for (const reply of replies) c.reply(reply.client, reply);
}

const NO_SIGNATURE = new Uint8Array(0);

/** Drops pending requests the client table shows as executed (after a state transfer). */
export function prunePending(c: Core): void {
  for (const [client, r] of c.pending) {
    const last = c.clientTable.get(client);
    if (last && r.requestId <= last.requestId) c.release(client);
  }
}

/** True while this replica waits for something to execute (the view timer then runs). */
export function waitingForExecution(c: Core): boolean {
  if (c.lastExecuted < c.stable.seq) return false; // lagging: state transfer, not the primary, is late
  if (c.pending.size > 0) return true;
  for (const e of c.log.values()) if (e.seq > c.lastExecuted && e.prePrepare && e.view === c.view) return true;
  return false;
}
