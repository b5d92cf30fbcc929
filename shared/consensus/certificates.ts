/**
 * Checking certificates, and the deterministic new-view computation (PBFT §4.4).
 *
 * A certificate is valid only if every signature in it verifies, its votes come from distinct
 * replicas (fabric#370), and its parts match (view, seq, digest). A view-change message with any
 * invalid part is rejected as a whole: a Byzantine replica must not be able to hide a good prepared
 * certificate behind a forged one of a higher view (concord-bft#50). Only validated view-change
 * messages ever reach `planNewView`.
 */
import { bytesEqual } from './crypto.ts';
import { digestKey, type Core } from './core.ts';
import { batchDigest, NULL_DIGEST, type Checkpoint, type CommitCert, type PrePrepare, type PreparedCert,
  type ViewChange } from './messages.ts';
import type { StableCheckpoint } from './persistence.ts';

/** Signature by the primary of its view, and the batch matches the digest. Client signatures are the
 * caller's business (the normal case checks them; certificates carry requests a quorum checked). */
export function validPrePrepare(c: Core, pp: PrePrepare): boolean {
  if (!c.isReplica(pp.replica) || pp.replica !== c.primaryOf(pp.view)) return false;
  if (pp.batch.length > c.options.batchRequestsMax) return false;
  if (!bytesEqual(batchDigest(pp.batch), pp.digest)) return false;
  return c.verify(pp);
}

export function validPreparedCert(c: Core, cert: PreparedCert): boolean {
  const pp = cert.prePrepare;
  if (!validPrePrepare(c, pp)) return false;
  const seen = new Set<number>();
  for (const p of cert.prepares) {
    if (p.view !== pp.view || p.seq !== pp.seq || !bytesEqual(p.digest, pp.digest)) return false;
    if (p.replica === pp.replica || seen.has(p.replica)) return false;
    if (!c.verify(p)) return false;
    seen.add(p.replica);
  }
  return seen.size >= c.quorum - 1;
}

export function validCommitCert(c: Core, cert: CommitCert): boolean {
  const pp = cert.prePrepare;
  if (!validPrePrepare(c, pp)) return false;
  const seen = new Set<number>();
  for (const m of cert.commits) {
    if (m.view !== pp.view || m.seq !== pp.seq || !bytesEqual(m.digest, pp.digest)) return false;
    if (seen.has(m.replica) || !c.verify(m)) return false;
    seen.add(m.replica);
  }
  return seen.size >= c.quorum;
}

/** A quorum of valid checkpoint messages from distinct replicas for (seq, digest). */
export function validCheckpointProof(c: Core, seq: number, digest: Uint8Array, proof: readonly Checkpoint[]): boolean {
  if (seq === 0) return proof.length === 0;
  if (seq % c.options.checkpointInterval !== 0) return false;
  const seen = new Set<number>();
  for (const cp of proof) {
    if (cp.seq !== seq || !bytesEqual(cp.stateDigest, digest)) return false;
    if (seen.has(cp.replica) || !c.verify(cp)) return false;
    seen.add(cp.replica);
  }
  return seen.size >= c.quorum;
}

export function validViewChange(c: Core, vc: ViewChange): boolean {
  if (!c.verify(vc)) return false;
  const { stableSeq } = vc;
  const first = vc.checkpointProof[0];
  if (stableSeq > 0 && (!first || !validCheckpointProof(c, stableSeq, first.stateDigest, vc.checkpointProof))) return false;
  if (stableSeq === 0 && vc.checkpointProof.length !== 0) return false;
  if (vc.prepared.length > c.options.logWindow) return false;
  let previous = stableSeq;
  for (const cert of vc.prepared) {
    const { seq, view } = cert.prePrepare;
    if (seq <= previous || seq > stableSeq + c.options.logWindow || view >= vc.view) return false;
    if (!validPreparedCert(c, cert)) return false;
    previous = seq;
  }
  return true;
}

export interface NewViewSlot {
  readonly seq: number;
  /** The prepared certificate of the highest view for this seq, or none (a null request). */
  readonly cert: PreparedCert | undefined;
}

export interface NewViewPlan {
  /** min-s: the highest stable checkpoint in V, with its proof. */
  readonly checkpoint: StableCheckpoint;
  /** max-s: the highest prepared seq in V (or min-s). */
  readonly maxSeq: number;
  /** One slot for every seq in (min-s, max-s]: the O set before signing. */
  readonly slots: readonly NewViewSlot[];
}

/**
 * Computes min-s, max-s and O from validated view-change messages. Deterministic: the same V gives
 * the same plan on every replica, so backups recompute it to check a new-view.
 */
export function planNewView(viewChanges: readonly ViewChange[]): NewViewPlan {
  let best: ViewChange | undefined;
  for (const vc of viewChanges) {
    if (!best || vc.stableSeq > best.stableSeq || (vc.stableSeq === best.stableSeq && vc.replica < best.replica)) best = vc;
  }
  const first = best?.checkpointProof[0];
  const checkpoint: StableCheckpoint =
    best && first ? { seq: best.stableSeq, stateDigest: first.stateDigest, proof: best.checkpointProof } : { seq: 0, stateDigest: new Uint8Array(0), proof: [] };
  const minSeq = checkpoint.seq;
  const chosen = new Map<number, PreparedCert>();
  for (const vc of viewChanges) {
    for (const cert of vc.prepared) {
      const { seq, view } = cert.prePrepare;
      if (seq <= minSeq) continue;
      const current = chosen.get(seq);
      // Highest view wins. Two valid certificates of one view and seq cannot differ unless more than
      // f replicas are faulty; the digest tie-break only keeps the plan deterministic.
      if (
        !current ||
        view > current.prePrepare.view ||
        (view === current.prePrepare.view && digestKey(cert.prePrepare.digest) < digestKey(current.prePrepare.digest))
      ) {
        chosen.set(seq, cert);
      }
    }
  }
  const maxSeq = Math.max(minSeq, ...chosen.keys());
  const slots: NewViewSlot[] = [];
  for (let seq = minSeq + 1; seq <= maxSeq; seq++) slots.push({ seq, cert: chosen.get(seq) });
  return { checkpoint, maxSeq, slots };
}

/** The pre-prepare a slot must become in the new view (without signature). */
export function slotPrePrepare(view: number, primary: number, slot: NewViewSlot): Omit<PrePrepare, 'sig'> {
  const pp = slot.cert?.prePrepare;
  return {
    type: 'pre-prepare',
    view,
    seq: slot.seq,
    digest: pp ? pp.digest : NULL_DIGEST,
    timeMs: pp ? pp.timeMs : 0,
    replica: primary,
    batch: pp ? pp.batch : [],
  };
}
