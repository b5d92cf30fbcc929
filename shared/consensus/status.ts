/**
 * Retransmission driven by status messages (as in Castro's PBFT library and concord-bft).
 *
 * The network may lose, delay or reorder anything, so every `statusIntervalTicks` a replica broadcasts
 * {view, viewChanging, stableSeq, lastExecuted}. A peer that sees it behind answers with what it
 * misses, never more than `retransmitEntriesMax` entries at once:
 * - an older stable checkpoint or fewer executed entries: a `committed` message with the whole proof
 *   of our stable checkpoint (the peer moves its watermark, and fetches the state if it lacks it) and
 *   the commit certificates after it, all of which prove themselves (in any view);
 * - our own newer checkpoint messages (so checkpoints become stable despite losses, and despite a
 *   Byzantine replica whose first checkpoint vote was a lie: votes are one per replica);
 * - an older view: our new-view, or our view-change while we are still changing;
 * - the same view, in progress: our pre-prepare, prepare and commit for the entries it has not
 *   executed (fabric#1119: a pre-prepare dropped outside a not-yet-moved window comes again).
 */
import { digestKey, type Core } from './core.ts';
import { committedCerts } from './checkpoint.ts';
import { heardStatus } from './suspicion.ts';
import { helpPeer } from './view-change.ts';
import type { Committed, Status } from './messages.ts';

export function broadcastStatus(c: Core): void {
  c.broadcast(
    c.sign<Status>({
      type: 'status',
      view: c.view,
      viewChanging: c.viewChanging,
      stableSeq: c.stable.seq,
      lastExecuted: c.lastExecuted,
      replica: c.id,
    }),
  );
}

export function onStatus(c: Core, s: Status): void {
  if (s.replica === c.id) return;
  if (!c.verify(s)) return c.reject('status-signature');
  heardStatus(c, s);
  const peer = s.replica;

  for (const [seq, cp] of c.ownCheckpoints) if (seq > s.stableSeq) c.send(peer, cp);

  if (s.view < c.view || (s.view === c.view && s.viewChanging)) helpPeer(c, peer);

  if (s.stableSeq < c.stable.seq || s.lastExecuted < c.lastExecuted) {
    const checkpointProof = s.stableSeq < c.stable.seq ? c.stable.proof : [];
    const from = Math.max(s.lastExecuted, c.stable.seq);
    const certs = committedCerts(c, from, c.lastExecuted, c.options.retransmitEntriesMax);
    if (checkpointProof.length > 0 || certs.length > 0) {
      c.send(peer, c.sign<Committed>({ type: 'committed', checkpointProof, certs, replica: c.id }));
    }
  }

  if (s.view === c.view && !s.viewChanging && !c.viewChanging) retransmitInProgress(c, peer, s);
}

function retransmitInProgress(c: Core, peer: number, s: Status): void {
  let sent = 0;
  const from = Math.max(s.lastExecuted, c.lastExecuted, c.stable.seq) + 1;
  const to = c.stable.seq + c.options.logWindow;
  for (let seq = from; seq <= to && sent < c.options.retransmitEntriesMax; seq++) {
    const e = c.log.get(seq);
    if (!e || e.view !== c.view || !e.prePrepare) continue;
    sent += 1;
    c.send(peer, e.prePrepare);
    const key = digestKey(e.prePrepare.digest);
    const prepare = e.prepares.get(key, c.id);
    if (prepare) c.send(peer, prepare);
    const commit = e.commits.get(key, c.id);
    if (commit) c.send(peer, commit);
  }
}
