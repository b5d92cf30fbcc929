/**
 * Checkpoints, garbage collection and state transfer (PBFT §4.3, §5.3 of TOCS'02).
 *
 * After executing every K-th sequence number a replica snapshots the application and the client table,
 * persists the snapshot, and broadcasts a checkpoint message with their digest. A quorum of matching
 * checkpoint messages makes the checkpoint stable: the low watermark h moves to it and the log at or
 * below it is discarded.
 *
 * A replica may learn of a stable checkpoint it has not reached (it was partitioned, crashed, or
 * dropped messages): from a peer's whole proof (status.ts), a view-change or a new-view. The
 * watermark still moves (fabric#1174: the log is discarded, lastExecuted is not lowered), and the
 * replica fetches the snapshot from the replicas that signed the proof, one at a time, checks it
 * against the proven digest, restores it, and then executes the committed log that came with it.
 */
import { decode, encode } from '@msgpack/msgpack';
import { bytesEqual } from './crypto.ts';
import { digestKey, type ClientRecord, type Core } from './core.ts';
import { validCheckpointProof, validCommitCert } from './certificates.ts';
import { executeReady, prunePending } from './normal-case.ts';
import { stateDigest, type Checkpoint, type CommitCert, type Committed, type FetchState,
  type StateSnapshot } from './messages.ts';
import { VoteSet } from './quorum.ts';
import { assert } from '../errors.ts';

export function takeCheckpoint(c: Core, seq: number): void {
  const snapshot = c.app.snapshot();
  const clientTable = encodeClientTable(c.clientTable);
  const digest = stateDigest(snapshot, clientTable);
  c.snapshots.set(seq, { seq, stateDigest: digest, snapshot, clientTable });
  c.persist({ kind: 'snapshot', seq, stateDigest: digest, snapshot, clientTable });
  const cp = c.sign<Checkpoint>({ type: 'checkpoint', seq, stateDigest: digest, replica: c.id });
  c.ownCheckpoints.set(seq, cp);
  if (seq > c.stable.seq) {
    addVote(c, cp);
    c.broadcast(cp);
    checkStable(c, seq);
  }
}

/** After a restart: our checkpoint for a snapshot taken before the crash counts again. */
export function restoreOwnCheckpoint(c: Core, seq: number, digest: Uint8Array): void {
  const cp = c.sign<Checkpoint>({ type: 'checkpoint', seq, stateDigest: digest, replica: c.id });
  c.ownCheckpoints.set(seq, cp);
  if (seq > c.stable.seq && seq <= c.stable.seq + c.options.logWindow) {
    addVote(c, cp);
    checkStable(c, seq);
  }
}

export function onCheckpoint(c: Core, cp: Checkpoint): void {
  if (cp.seq <= c.stable.seq || cp.seq % c.options.checkpointInterval !== 0) return;
  if (cp.replica === c.id || c.checkpointVotes.get(cp.seq)?.hasVoted(cp.replica)) return;
  if (!c.verify(cp)) return c.reject('checkpoint-signature');
  // Beyond the window we are behind: peers send their whole stable proof (`committed`), not votes.
  if (cp.seq > c.stable.seq + c.options.logWindow) return c.reject('checkpoint-window');
  addVote(c, cp);
  checkStable(c, cp.seq);
}

function addVote(c: Core, cp: Checkpoint): void {
  let votes = c.checkpointVotes.get(cp.seq);
  if (!votes) c.checkpointVotes.set(cp.seq, (votes = new VoteSet()));
  votes.add(digestKey(cp.stateDigest), cp.replica, cp);
}

function checkStable(c: Core, seq: number): void {
  const votes = c.checkpointVotes.get(seq);
  if (!votes || seq <= c.stable.seq) return;
  for (const key of votes.keys()) {
    if (votes.count(key) < c.quorum) continue;
    const proof = votes.votes(key).sort((a, b) => a.replica - b.replica);
    return becomeStable(c, seq, proof[0]!.stateDigest, proof.slice(0, c.quorum));
  }
}

/** Moves the low watermark to a proven checkpoint; starts a state transfer if we have not reached it. */
export function becomeStable(c: Core, seq: number, digest: Uint8Array, proof: readonly Checkpoint[]): void {
  if (seq <= c.stable.seq) return;
  const own = c.snapshots.get(seq);
  // Correct replicas are deterministic: a different digest for the same seq is a bug, not a fault.
  assert(!own || bytesEqual(own.stateDigest, digest), `replica ${c.id} diverged from the stable checkpoint at ${seq}`);
  c.stable = { seq, stateDigest: digest, proof: [...proof] };
  for (const s of [...c.log.keys()]) {
    if (s > seq) continue;
    const e = c.log.get(s)!;
    for (const r of e.prePrepare?.batch ?? []) c.unlogRequest(r);
    c.log.delete(s);
  }
  for (const s of [...c.checkpointVotes.keys()]) if (s <= seq) c.checkpointVotes.delete(s);
  for (const s of [...c.snapshots.keys()]) if (s < seq) c.snapshots.delete(s);
  for (const s of [...c.ownCheckpoints.keys()]) if (s < seq) c.ownCheckpoints.delete(s);
  c.persist({ kind: 'stable', seq, stateDigest: digest, proof: c.stable.proof });
  c.out.push({ type: 'stable-checkpoint', seq, stateDigest: digest });
  if (c.nextSeq <= seq) c.nextSeq = seq + 1;
  if (c.lastExecuted < seq) {
    c.fetchAttempt = 0;
    requestState(c);
  }
}

/** Asks the next signer of the stable proof for the snapshot. */
export function requestState(c: Core): void {
  if (c.lastExecuted >= c.stable.seq) return c.timeouts.fetch.stop();
  const signers = c.stable.proof.map((cp) => cp.replica).filter((r) => r !== c.id);
  const target = signers[c.fetchAttempt % Math.max(1, signers.length)];
  c.fetchAttempt += 1;
  if (target !== undefined) c.send(target, c.sign<FetchState>({ type: 'fetch-state', seq: c.stable.seq, replica: c.id }));
  c.timeouts.fetch.start();
}

export function onFetchState(c: Core, m: FetchState): void {
  if (m.replica === c.id || !c.verify(m)) return c.reject('fetch-state-signature');
  // The snapshot asked for, even if we never saw its checkpoint become stable (the asker has the
  // proof); otherwise our stable one if it is newer. Snapshots are kept from the stable one up.
  let snap = c.snapshots.get(m.seq);
  if (!snap || c.lastExecuted < m.seq) {
    snap = c.stable.seq > m.seq && c.lastExecuted >= c.stable.seq ? c.snapshots.get(c.stable.seq) : undefined;
  }
  if (!snap || snap.seq === 0) return;
  const state = c.sign<StateSnapshot>({
    type: 'state',
    seq: snap.seq,
    stateDigest: snap.stateDigest,
    checkpointProof: snap.seq === c.stable.seq ? c.stable.proof : [],
    snapshot: snap.snapshot,
    clientTable: snap.clientTable,
    committed: committedCerts(c, snap.seq, c.lastExecuted, c.options.logWindow),
    replica: c.id,
  });
  c.send(m.replica, state);
}

export function onState(c: Core, m: StateSnapshot): void {
  if (m.replica === c.id || !c.verify(m)) return c.reject('state-signature');
  if (m.seq > c.lastExecuted && m.seq >= c.stable.seq) {
    // Proven by the checkpoint we already know to be stable, or by the proof that comes with it.
    const known = m.seq === c.stable.seq && bytesEqual(m.stateDigest, c.stable.stateDigest);
    if (!known && !validCheckpointProof(c, m.seq, m.stateDigest, m.checkpointProof)) return c.reject('state-proof');
    if (!bytesEqual(stateDigest(m.snapshot, m.clientTable), m.stateDigest)) return c.reject('state-digest');
    const table = decodeClientTable(m.clientTable);
    if (!table) return c.reject('state-client-table');
    c.app.restore(m.snapshot);
    c.clientTable.clear();
    for (const [client, record] of table) c.clientTable.set(client, record);
    c.lastExecuted = m.seq;
    // The proof goes to disk before the state it proves: a crash between the two then leaves a stable
    // checkpoint whose state is fetched again, never a transferred snapshot past an older stable
    // checkpoint without its proof (simulator seed 591089605: n=3, a torn write between them).
    becomeStable(c, m.seq, m.stateDigest, m.checkpointProof);
    const snap = { seq: m.seq, stateDigest: m.stateDigest, snapshot: m.snapshot, clientTable: m.clientTable };
    c.snapshots.set(m.seq, snap);
    c.persist({ kind: 'snapshot', ...snap });
    // We hold this state now: our own checkpoint lets peers still short of a quorum (a Byzantine
    // replica's vote may be a lie) complete theirs.
    const own = c.sign<Checkpoint>({ type: 'checkpoint', seq: m.seq, stateDigest: m.stateDigest, replica: c.id });
    c.ownCheckpoints.set(m.seq, own);
    c.broadcast(own);
    c.timeouts.fetch.stop();
    c.out.push({ type: 'state-transferred', seq: m.seq, stateDigest: m.stateDigest });
    prunePending(c);
  }
  acceptCommitted(c, m.committed);
}

export function onCommitted(c: Core, m: Committed): void {
  if (m.replica === c.id || !c.verify(m)) return c.reject('committed-signature');
  const first = m.checkpointProof[0];
  if (first && first.seq > c.stable.seq) {
    if (!validCheckpointProof(c, first.seq, first.stateDigest, m.checkpointProof)) return c.reject('committed-proof');
    becomeStable(c, first.seq, first.stateDigest, m.checkpointProof);
  }
  acceptCommitted(c, m.certs);
}

/** Takes peers' commit certificates for entries we have not executed, then executes what we can. */
export function acceptCommitted(c: Core, certs: readonly CommitCert[]): void {
  for (const cert of certs) {
    const seq = cert.prePrepare.seq;
    if (seq <= c.lastExecuted || !c.inWindow(seq)) continue;
    const e = c.entry(seq);
    if (e.commitCert) continue;
    if (!validCommitCert(c, cert)) {
      c.reject('committed-invalid');
      continue;
    }
    e.commitCert = cert;
    c.persistEntry(e);
  }
  executeReady(c, false);
}

/** Commit certificates for (from, to], at most `max`. */
export function committedCerts(c: Core, from: number, to: number, max: number): CommitCert[] {
  const certs: CommitCert[] = [];
  for (let seq = from + 1; seq <= to && certs.length < max; seq++) {
    const cert = c.log.get(seq)?.commitCert;
    if (!cert) break;
    certs.push(cert);
  }
  return certs;
}

const TABLE_LIMITS = {
  maxStrLength: 1024,
  maxBinLength: 16 * 1024 * 1024,
  maxArrayLength: 10_000_000,
  maxMapLength: 0,
  maxExtLength: 0,
};

/** The client table as deterministic bytes: [[client, requestId, result], ...] sorted by client. */
export function encodeClientTable(table: ReadonlyMap<string, ClientRecord>): Uint8Array {
  const rows = [...table.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([client, r]) => [client, r.requestId, r.result]);
  return encode(rows);
}

export function decodeClientTable(bytes: Uint8Array): Map<string, ClientRecord> | undefined {
  let rows: unknown;
  try {
    rows = decode(bytes, TABLE_LIMITS);
  } catch {
    return undefined;
  }
  if (!Array.isArray(rows)) return undefined;
  const table = new Map<string, ClientRecord>();
  for (const row of rows) {
    if (!Array.isArray(row) || row.length !== 3) return undefined;
    const [client, requestId, result] = row as unknown[];
    if (typeof client !== 'string' || !Number.isSafeInteger(requestId) || (requestId as number) < 0) return undefined;
    if (!(result instanceof Uint8Array)) return undefined;
    table.set(client, { requestId: requestId as number, result });
  }
  return table;
}
