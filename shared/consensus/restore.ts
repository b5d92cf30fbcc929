/**
 * Rebuilding a replica from what it persisted (persistence.ts), after a crash.
 *
 * The application restarts from the highest persisted snapshot and replays the committed log after
 * it. Votes of the current view come back as they were (our own prepare and commit are signed again:
 * the same statements). If the replica was in a view started by a new-view, the O set and the
 * checkpoint of that new-view are restored from the `view` record itself, which was written in one
 * piece before anything else of the view: a torn write while installing the view cannot leave a
 * replica (least of all a primary) in the view without knowing what O assigned.
 */
import { assert } from '../errors.ts';
import { digestKey, type Core, type Entry } from './core.ts';
import { planNewView } from './certificates.ts';
import { decodeClientTable, requestState, restoreOwnCheckpoint } from './checkpoint.ts';
import { executeReady } from './normal-case.ts';
import { armViewChangeTimer, buildViewChange } from './view-change.ts';
import { type Commit, type Prepare, type PrePrepare, type PreparedCert } from './messages.ts';
import type { PersistedState } from './persistence.ts';

export function restoreCore(c: Core, state: PersistedState): void {
  c.view = state.view;
  c.viewChanging = state.viewChanging;
  c.newView = state.newView?.view === state.view && !state.viewChanging ? state.newView : undefined;
  c.stable = state.stable;
  const plan = c.newView ? planNewView(c.newView.viewChanges) : undefined;
  if (plan && plan.checkpoint.seq > c.stable.seq) {
    c.stable = plan.checkpoint;
    c.persist({ kind: 'stable', ...plan.checkpoint });
  }

  const snapshots = [...state.snapshots.values()].filter((s) => s.seq >= c.stable.seq).sort((a, b) => a.seq - b.seq);
  const latest = snapshots.at(-1);
  if (latest) {
    const table = decodeClientTable(latest.clientTable);
    assert(table, `persisted client table at ${latest.seq} does not decode`);
    c.app.restore(latest.snapshot);
    for (const [client, record] of table) c.clientTable.set(client, record);
    c.lastExecuted = latest.seq;
  }
  for (const s of snapshots) c.snapshots.set(s.seq, s);
  for (const s of snapshots) restoreOwnCheckpoint(c, s.seq, s.stateDigest);

  const entries = [...state.entries.values()].sort((a, b) => a.seq - b.seq);
  for (const pe of entries) {
    if (!c.inWindow(pe.seq)) continue;
    const e = c.entry(pe.seq);
    e.preparedCert = pe.preparedCert;
    e.commitCert = pe.commitCert;
    if (pe.prePrepare && pe.prePrepare.view === c.view && !c.viewChanging) adopt(c, e, pe.prePrepare, pe.preparedCert);
  }
  if (c.newView && plan) {
    for (const pp of c.newView.prePrepares) {
      if (!c.inWindow(pp.seq)) continue;
      const e = c.entry(pp.seq);
      if (e.prePrepare) continue;
      adopt(c, e, pp, e.preparedCert);
      c.persistEntry(e);
    }
    c.nextSeq = Math.max(c.nextSeq, plan.maxSeq + 1);
  }
  c.nextSeq = Math.max(c.nextSeq, c.stable.seq + 1);

  executeReady(c, true);
  if (c.lastExecuted < c.stable.seq) requestState(c);
  if (c.viewChanging) {
    const vc = buildViewChange(c, c.view);
    c.latestViewChange.set(c.id, vc);
    c.broadcast(vc);
    armViewChangeTimer(c);
  }
}

/** Puts back a pre-prepare accepted in the current view, with our own votes for it. */
function adopt(c: Core, e: Entry, pp: PrePrepare, preparedCert: PreparedCert | undefined): void {
  e.prePrepare = pp;
  const key = digestKey(pp.digest);
  if (e.seq > c.lastExecuted) for (const r of pp.batch) c.logRequest(r);
  if (pp.replica !== c.id) {
    e.prepares.add(key, c.id, c.sign<Prepare>({ type: 'prepare', view: c.view, seq: e.seq, digest: pp.digest, replica: c.id }));
  } else {
    c.nextSeq = Math.max(c.nextSeq, e.seq + 1);
  }
  if (preparedCert && preparedCert.prePrepare.view === c.view && digestKey(preparedCert.prePrepare.digest) === key) {
    for (const p of preparedCert.prepares) e.prepares.add(key, p.replica, p);
    e.sentCommit = true;
    e.commits.add(key, c.id, c.sign<Commit>({ type: 'commit', view: c.view, seq: e.seq, digest: pp.digest, replica: c.id }));
  }
}
