/**
 * View change (PBFT §4.4, TOCS'02 §4.5).
 *
 * A backup that suspects the primary (suspicion.ts: a request waited a view timeout, or the primary
 * fell silent) moves to view v+1: it persists the new view, stops taking part in view v, and
 * broadcasts a view-change message with its last stable checkpoint (and proof) and its P set
 * (prepared certificates, each a signed pre-prepare and quorum-1 signed prepares). A replica
 * that sees f+1 valid view-change messages for higher views joins the (f+1)-th highest of them, so
 * correct replicas do not straggle. The timer for the new view starts once a quorum wants it, and
 * doubles with each view change that brings no progress.
 *
 * The primary of v+1, holding a quorum of valid view-change messages for it (V), computes O
 * deterministically (certificates.ts `planNewView`): one pre-prepare per seq between min-s and max-s,
 * the highest-view prepared batch or a null request. It installs the view and broadcasts new-view.
 * A backup accepts a new-view only after checking every view-change in V and recomputing O.
 */
import { bytesEqual } from './crypto.ts';
import { resetVotes, type Core } from './core.ts';
import { planNewView, slotPrePrepare, validViewChange, type NewViewPlan } from './certificates.ts';
import { becomeStable } from './checkpoint.ts';
import { acceptPrePrepare, checkPrepared, executeReady } from './normal-case.ts';
import { heardFromPrimary } from './suspicion.ts';
import { batchDigest, signedBytes, type NewView, type PrePrepare, type PreparedCert,
  type ViewChange } from './messages.ts';

/** Leaves the current view for `view` (> current). */
export function startViewChange(c: Core, view: number): void {
  if (view <= c.view) return;
  c.view = view;
  c.viewChanging = true;
  c.newView = undefined;
  c.viewChangeAttempts += 1;
  c.persist({ kind: 'view', view, viewChanging: true });
  const vc = buildViewChange(c, view);
  c.latestViewChange.set(c.id, vc);
  c.broadcast(vc);
  c.timeouts.view.stop();
  armViewChangeTimer(c);
  tryNewView(c);
}

/**
 * PBFT §4.5.2 liveness: the timer for the new view starts only once a quorum wants that view. A
 * replica alone in a view change waits (and follows the f+1 rule) instead of running ahead; so no
 * correct replica gets more than one view beyond a view a quorum reached, and they cannot drift apart.
 */
export function armViewChangeTimer(c: Core): void {
  if (!c.viewChanging || c.timeouts.view.running) return;
  let wanting = 0;
  for (const vc of c.latestViewChange.values()) if (vc.view === c.view) wanting += 1;
  if (wanting >= c.quorum) c.timeouts.view.start(c.viewTimeoutTicks());
}

export function buildViewChange(c: Core, view: number): ViewChange {
  const prepared: PreparedCert[] = [];
  const seqs = [...c.log.keys()].filter((s) => s > c.stable.seq).sort((a, b) => a - b);
  for (const seq of seqs) {
    const cert = c.log.get(seq)!.preparedCert;
    if (cert && cert.prePrepare.view < view) prepared.push(cert);
  }
  return c.sign<ViewChange>({
    type: 'view-change',
    view,
    stableSeq: c.stable.seq,
    checkpointProof: c.stable.proof,
    prepared,
    replica: c.id,
  });
}

export function onViewChange(c: Core, vc: ViewChange): void {
  if (vc.replica === c.id || !c.isReplica(vc.replica)) return; // a twin's message, or an echo
  if (vc.view < c.view || (vc.view === c.view && !c.viewChanging)) {
    // The sender is behind: show it the view we are in.
    helpPeer(c, vc.replica);
    return;
  }
  const previous = c.latestViewChange.get(vc.replica);
  if (previous && previous.view >= vc.view) return;
  if (!validViewChange(c, vc)) return c.reject('view-change-invalid');
  c.latestViewChange.set(vc.replica, vc);
  joinHigherView(c);
  armViewChangeTimer(c);
  tryNewView(c);
}

/** Sends a peer in an older view our new-view (or our view-change while we are still changing). */
export function helpPeer(c: Core, peer: number): void {
  if (!c.viewChanging && c.newView) c.send(peer, c.newView);
  const own = c.latestViewChange.get(c.id);
  if (c.viewChanging && own && own.view === c.view) c.send(peer, own);
}

/** PBFT liveness rule: f+1 replicas want a higher view, so at least one correct replica does. */
function joinHigherView(c: Core): void {
  const views: number[] = [];
  for (const vc of c.latestViewChange.values()) if (vc.replica !== c.id && vc.view > c.view) views.push(vc.view);
  if (views.length < c.f + 1) return;
  views.sort((a, b) => b - a);
  startViewChange(c, views[c.f]!);
}

/** The new primary installs the view once it holds a quorum of view-changes for it. */
function tryNewView(c: Core): void {
  if (!c.viewChanging || c.primaryOf(c.view) !== c.id) return;
  const vcs = [...c.latestViewChange.values()].filter((vc) => vc.view === c.view).sort((a, b) => a.replica - b.replica);
  if (vcs.length < c.quorum) return;
  const viewChanges = vcs.slice(0, c.quorum);
  const plan = planNewView(viewChanges);
  const prePrepares = plan.slots.map((slot) => c.sign<PrePrepare>(slotPrePrepare(c.view, c.id, slot)));
  const nv = c.sign<NewView>({ type: 'new-view', view: c.view, viewChanges, prePrepares, replica: c.id });
  installNewView(c, nv, plan);
  c.broadcast(nv);
}

export function onNewView(c: Core, nv: NewView): void {
  if (nv.replica === c.id) return;
  if (nv.view < c.view || (nv.view === c.view && !c.viewChanging)) return;
  if (nv.replica !== c.primaryOf(nv.view) || !c.verify(nv)) return c.reject('new-view-signature');
  const plan = checkNewView(c, nv);
  if (!plan) return c.reject('new-view-invalid');
  installNewView(c, nv, plan);
}

/** Verifies V and recomputes O; returns the plan if the new-view is exactly what V implies. */
export function checkNewView(c: Core, nv: NewView): NewViewPlan | undefined {
  const senders = new Set<number>();
  for (const vc of nv.viewChanges) {
    if (vc.view !== nv.view || senders.has(vc.replica)) return undefined;
    // A view-change we already validated (same signed bytes) need not be checked again.
    const known = c.latestViewChange.get(vc.replica);
    const same = known && known.view === vc.view && bytesEqual(known.sig, vc.sig) && bytesEqual(signedBytes(known), signedBytes(vc));
    if (!same && !validViewChange(c, vc)) return undefined;
    senders.add(vc.replica);
  }
  if (senders.size < c.quorum) return undefined;
  const plan = planNewView(nv.viewChanges);
  if (nv.prePrepares.length !== plan.slots.length) return undefined;
  for (let i = 0; i < plan.slots.length; i++) {
    const pp = nv.prePrepares[i]!;
    const want = slotPrePrepare(nv.view, nv.replica, plan.slots[i]!);
    if (pp.type !== 'pre-prepare' || pp.view !== want.view || pp.seq !== want.seq || pp.replica !== want.replica) return undefined;
    if (pp.timeMs !== want.timeMs || !bytesEqual(pp.digest, want.digest)) return undefined;
    if (!bytesEqual(batchDigest(pp.batch), pp.digest) || !c.verify(pp)) return undefined;
  }
  return plan;
}

/** Enters the new view: checkpoint from V, then the O set accepted as pre-prepares of the view. */
function installNewView(c: Core, nv: NewView, plan: NewViewPlan): void {
  c.view = nv.view;
  c.viewChanging = false;
  c.newView = nv;
  c.persist({ kind: 'view', view: nv.view, viewChanging: false, newView: nv });
  if (plan.checkpoint.seq > c.stable.seq) {
    becomeStable(c, plan.checkpoint.seq, plan.checkpoint.stateDigest, plan.checkpoint.proof);
  }
  // Requests of abandoned pre-prepares go back to the pending set; clients retransmit the rest.
  for (const e of c.log.values()) {
    for (const r of e.prePrepare?.batch ?? []) {
      const last = c.clientTable.get(r.client);
      const held = c.pending.get(r.client);
      if ((!last || last.requestId < r.requestId) && (!held || held.requestId < r.requestId)) {
        if (held || c.pending.size < c.options.pendingRequestsMax) c.hold(r);
      }
    }
    resetVotes(e, c.view);
  }
  c.clearLog();
  for (const pp of nv.prePrepares) {
    if (!c.inWindow(pp.seq)) continue;
    const e = c.entry(pp.seq);
    acceptPrePrepare(c, e, pp);
  }
  c.nextSeq = Math.max(plan.maxSeq, c.stable.seq) + 1;
  for (const [r, vc] of c.latestViewChange) if (vc.view <= c.view) c.latestViewChange.delete(r);
  c.out.push({ type: 'new-view', view: c.view, primary: c.primaryOf(c.view) });
  c.timeouts.view.stop();
  heardFromPrimary(c);
  for (const pp of nv.prePrepares) {
    const e = c.log.get(pp.seq);
    if (e) checkPrepared(c, e);
  }
  executeReady(c, false);
}
