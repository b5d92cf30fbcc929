/**
 * When a backup suspects its primary. PBFT leaves the rule open (§4.4): a view change costs liveness,
 * never safety, so any rule is safe, and the rules below only decide how soon a failed primary is
 * replaced and how rarely a live one is. Both wait the current view timeout, which doubles with each
 * view change that brings no progress (core.ts `viewTimeoutTicks`).
 *
 * - Request timer (PBFT §4.4): the view timer runs while a request this replica knows of waits to
 *   execute. It catches a primary that is alive but does not order requests (Byzantine, or stuck).
 * - Silence: a backup that has heard neither a pre-prepare nor a status of its view from the primary
 *   for a view timeout suspects it. Clients send to the primary alone and broadcast a request only
 *   when their own timeout expires, so with the request timer alone the backups noticed a crashed
 *   primary only a client timeout plus a view timeout after it died (3.3–4 view timeouts from kill -9
 *   in the pbft bench), and not at all while no client was waiting. A live primary is never silent
 *   that long: under load its pre-prepares come continually, and idle, every replica broadcasts its
 *   status every `statusIntervalTicks`, at most half a view timeout (types.ts). The messages that
 *   already flow are the heartbeat, so a crash costs one view timeout plus the view change, with no
 *   new message and no extra traffic. The price: a primary that stalls for a view timeout (a blocked
 *   event loop) is replaced even when no request waits, as it already was when one did.
 *
 * Silence counts only while the backup hears quorum-1 other backups, and only what it heard of them
 * after the primary had already been silent for half a view timeout. Their statuses come at least
 * that often, and a backup cut off from everyone just after it last heard the primary cannot have
 * heard them that late. Such a backup cannot tell its own isolation from the primary's death, and a
 * view change it started could gather no quorum; worse, having sent its view-change it takes no
 * further part in the view (PBFT has no way back), and would sit out until the others change view,
 * one fault closer to a stall.
 *
 * Not chosen: clients sending every request to every replica (BFT-SMaRt), so that backups start
 * their request timers at once. It multiplies client traffic and client signature checks by n on
 * every request to speed up the failure case only, and a primary that dies while no client waits
 * still goes unnoticed until one does.
 *
 * Hearing the primary is no proof that it lives: a Byzantine backup can replay its old status or relay
 * its pre-prepares to keep it from being suspected, and a correct backup relays the pre-prepares a
 * peer missed (status.ts), which can delay suspicion by a status interval. Nothing relayed holds off
 * the request timer, so liveness still rests on it, as in PBFT.
 */
import type { Core } from './core.ts';
import type { Status } from './messages.ts';
import { waitingForExecution } from './normal-case.ts';
import { startViewChange } from './view-change.ts';

/** The primary of the current view acted as one: a pre-prepare of the view, or its new-view. */
export function heardFromPrimary(c: Core): void {
  c.primaryHeardAt = c.ticks;
}

/** A status with a valid signature: the sender is alive and reaches us. */
export function heardStatus(c: Core, s: Status): void {
  c.statusHeardAt[s.replica] = c.ticks;
  c.statusExecuted[s.replica] = { view: s.view, viewChanging: s.viewChanging, lastExecuted: s.lastExecuted };
  if (s.replica === c.primaryOf(c.view) && s.view === c.view && !s.viewChanging) heardFromPrimary(c);
}

/** Called every tick: starts a view change if the primary has been silent for a view timeout. */
export function suspectSilentPrimary(c: Core): void {
  if (c.viewChanging || c.isPrimary()) return;
  const patience = c.viewTimeoutTicks();
  if (c.ticks - c.primaryHeardAt < patience) return;
  const primary = c.primaryOf(c.view);
  const since = c.primaryHeardAt + patience / 2;
  let heard = 0;
  for (let r = 0; r < c.n; r++) if (r !== c.id && r !== primary && c.statusHeardAt[r]! > since) heard += 1;
  if (heard >= c.quorum - 1) startViewChange(c, c.view + 1);
}

/**
 * Whether this replica is merely behind: f+1 others (so at least one correct) said, within the last
 * view timeout, that they are in this view, not leaving it, and have executed past what this replica
 * has. The primary is ordering; this replica has the catching up to do (the committed certificates
 * and checkpoints its own status draws from them: status.ts), not a view change to start. A replica
 * that fell behind under load used to let its request timer expire, ask for a view change alone, and
 * sit out the view (PBFT has no way back) until the others changed view: one fault closer to a stall
 * (seen in the process test: 14 state transfers, then view 1 alone while the rest ran on in view 0).
 * A primary that does not order some request is still caught: the replicas that are not behind time it
 * out, and f+1 view changes bring this one along (view-change.ts).
 */
export function behindProgress(c: Core): boolean {
  const since = c.ticks - c.viewTimeoutTicks();
  let ahead = 0;
  for (let r = 0; r < c.n; r++) {
    const s = c.statusExecuted[r];
    if (r === c.id || !s || c.statusHeardAt[r]! < since) continue;
    if (s.view === c.view && !s.viewChanging && s.lastExecuted > c.lastExecuted) ahead += 1;
  }
  return ahead >= c.f + 1;
}

/** The request timer expired: a view change, unless this replica is only behind (then it waits again). */
export function requestTimerExpired(c: Core): void {
  if (!c.viewChanging && behindProgress(c)) {
    c.timeouts.view.start(c.viewTimeoutTicks());
    return;
  }
  startViewChange(c, c.view + 1);
}

/** The request timer runs while a request waits to execute (normal case) or until the new view. */
export function syncViewTimer(c: Core): void {
  if (c.viewChanging) return;
  if (!waitingForExecution(c)) c.timeouts.view.stop();
  else if (!c.timeouts.view.running) c.timeouts.view.start(c.viewTimeoutTicks());
}
