/**
 * How long an API call waits for its account command to be ordered and applied. A node whose links
 * reach fewer nodes than a commit needs would wait forever, and the caller's own timeout then said "no
 * answer from the node: check that it runs" about a node that runs fine. Instead the call answers
 * COMMIT_TIMEOUT (503, exit 5) naming the nodes it cannot reach: after `shortWaitMs` while fewer than a
 * quorum are reachable (links that were just cut get that long to come back), after `waitMs` in any
 * case. The command stays queued in the node's client (while the node runs) and is applied once enough
 * nodes answer, so the error says to look before running it again (a second `accounts create` then
 * fails ACCOUNT_EXISTS).
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { quorumSize } from '../../shared/ledger/quorum.ts';

export interface CommitWaitOptions {
  /** Every node of the cluster. */
  nodes: readonly string[];
  /** The nodes this one reaches now, itself included. */
  reachable: () => readonly string[];
  /** Longest wait for a commit (default 20 s, below the CLI's 30 s request timeout). */
  waitMs?: number;
  /** Wait while fewer than a quorum are reachable (default 3 s). */
  shortWaitMs?: number;
  /** How often the reachable nodes are looked at (default 500 ms). */
  checkMs?: number;
  now?: () => number;
}

export const COMMIT_WAIT_MS = 20_000;
export const COMMIT_SHORT_WAIT_MS = 3_000;

/** `committed`, or COMMIT_TIMEOUT once the waits above run out (the command itself is not withdrawn). */
export function awaitCommit<T>(committed: Promise<T>, o: CommitWaitOptions): Promise<T> {
  const waitMs = o.waitMs ?? COMMIT_WAIT_MS;
  const shortWaitMs = o.shortWaitMs ?? COMMIT_SHORT_WAIT_MS;
  const quorum = quorumSize(o.nodes.length);
  const now = o.now ?? Date.now;
  const started = now();
  return new Promise<T>((resolve, reject) => {
    const check = setInterval(() => {
      const waited = now() - started;
      const reach = o.reachable();
      if (waited < waitMs && (reach.length >= quorum || waited < shortWaitMs)) return;
      clearInterval(check);
      const down = o.nodes.filter((n) => !reach.includes(n));
      const why =
        reach.length < quorum
          ? `this node reaches ${reach.length} of ${o.nodes.length} nodes and a commit needs ${quorum}`
          : `the cluster did not order it (this node reaches ${reach.length} of ${o.nodes.length} nodes; a commit needs ${quorum})`;
      reject(
        new BaksaError('COMMIT_TIMEOUT', `the command was not committed within ${Math.round(waited / 1000)} s: ${why}${down.length > 0 ? `; down or cut off: ${down.join(', ')}` : ''}`, {
          hint: 'it stays queued on this node (while it runs) and is applied once enough nodes answer: bring them back (2baksa check-nagios cluster tells), then look (accounts info, groups info) before running it again',
          exitCode: ExitCode.unavailable,
          details: { reachable: [...reach], down, quorum },
        }),
      );
    }, o.checkMs ?? 500);
    committed.then(
      (v) => {
        clearInterval(check);
        resolve(v);
      },
      (e: unknown) => {
        clearInterval(check);
        reject(e);
      },
    );
  });
}
