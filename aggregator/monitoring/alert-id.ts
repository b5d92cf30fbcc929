/**
 * One alert per event, not one per replica.
 *
 * Every aggregator node runs the monitor and sees the same heartbeats (they come from the same broker,
 * and the deadline is computed from the heartbeat's own signed timestamp, not from the node's receive
 * time), so every node decides "account X went silent at deadline D" on its own. Two measures make
 * that one alert:
 *   1. the alert id is derived from (account, event, deadline), so every node names the same event
 *      the same way, and a node that restarts and re-decides it gets the same id (its `alerts` table
 *      keeps ids, so it never sends one twice);
 *   2. only the deterministic owner sends: the node ranked first by rendezvous hashing of the alert id
 *      over the live nodes. If the owner is down, the next live node in that order is first, and
 *      sends. The others record the alert as "seen, not sent".
 * A sink that receives from several clusters can dedupe on the id too (it travels in every route).
 */
import { createHash } from 'node:crypto';

export type AlertEvent = 'silent' | 'recovered' | 'error' | 'soft-limit' | 'hard-limit';

export function alertIdOf(account: string | number, event: AlertEvent, atMs: number): string {
  return createHash('sha256').update(`2baksa/alert\u0000${account}\u0000${event}\u0000${atMs}`).digest('hex').slice(0, 32);
}

function score(node: string, alertId: string): Buffer {
  return createHash('sha256').update(`${node}\u0000${alertId}`).digest();
}

/** Live nodes ordered by rendezvous score for the alert: the first one sends. */
export function rendezvousOrder(alertId: string, nodes: readonly string[]): string[] {
  return [...new Set(nodes)]
    .map((n) => ({ n, s: score(n, alertId) }))
    .sort((a, b) => Buffer.compare(b.s, a.s) || (a.n < b.n ? -1 : 1))
    .map((x) => x.n);
}

export function alertOwner(alertId: string, liveNodes: readonly string[]): string | undefined {
  return rendezvousOrder(alertId, liveNodes)[0];
}
