/**
 * Byzantine behaviour for the simulator. A forger runs the honest core but passes what it sends
 * through `forge`, which lies with its own (valid) key: equivocating pre-prepares, votes and
 * checkpoints for wrong digests, view-changes carrying forged prepared certificates (concord-bft#50),
 * new-views with a wrong O set, commit certificates with a bad signature, corrupt snapshots. It also
 * sends garbage bytes. (The twin, the other Byzantine kind, is two honest cores sharing one key; the
 * cluster builds it.)
 */
import {
  batchDigest,
  encodeMessage,
  signedBytes,
  type Message,
  type PrePrepare,
  type Prepare,
  type ReplicaMessage,
  type Request,
  type Signer,
  type ViewChange,
} from '../../shared/consensus/index.ts';
import { planNewView, slotPrePrepare } from '../../shared/consensus/certificates.ts';
import type { Prng } from './prng.ts';

function resign<M extends ReplicaMessage>(signer: Signer, m: M): M {
  const { sig: _, ...rest } = m;
  return { ...m, sig: signer.sign(signedBytes(rest as unknown as M)) };
}

/** Returns what the forger sends instead of `m` (possibly `m` itself). */
export function forge(rng: Prng, signer: Signer, n: number, quorum: number, m: ReplicaMessage | Request): ReplicaMessage | Request {
  if (!rng.chance(0.4)) return m;
  switch (m.type) {
    case 'request':
      return { ...m, op: rng.bytes(m.op.length + 1) }; // breaks the client's signature
    case 'pre-prepare': {
      if (m.batch.length > 0 && rng.chance(0.3)) {
        // A request the client never signed: a different operation under its id.
        const [first, ...rest] = m.batch;
        const batch = [{ ...first!, op: rng.bytes(4) }, ...rest];
        return resign(signer, { ...m, batch, digest: batchDigest(batch) });
      }
      if (m.batch.length > 1 && rng.chance(0.5)) {
        const batch = m.batch.slice(1); // a valid, different proposal: equivocation
        return resign(signer, { ...m, batch, digest: batchDigest(batch) });
      }
      return resign(signer, { ...m, digest: rng.bytes(32) });
    }
    case 'prepare':
    case 'commit':
      return resign(signer, { ...m, digest: rng.bytes(32) });
    case 'checkpoint':
      return resign(signer, { ...m, stateDigest: rng.bytes(32) });
    case 'view-change':
      return forgeViewChange(rng, signer, n, quorum, m);
    case 'new-view': {
      // As the new primary: put a forged view-change of our own into V and derive O from it.
      if (rng.chance(0.3)) return resign(signer, { ...m, prePrepares: m.prePrepares.slice(0, -1) });
      if (rng.chance(0.5)) {
        // Same V, but O turns every re-proposed batch into a null request.
        const prePrepares = m.prePrepares.map((pp) => {
          const nulled = { ...pp, batch: [], digest: batchDigest([]), timeMs: 0 };
          return { ...nulled, sig: signer.sign(signedBytes(nulled)) };
        });
        return resign(signer, { ...m, prePrepares });
      }
      const own = m.viewChanges.find((vc) => vc.replica === m.replica);
      if (!own) return m;
      const forged = forgeViewChange(rng, signer, n, quorum, own);
      const viewChanges = m.viewChanges.map((vc) => (vc === own ? forged : vc));
      const plan = planNewView(viewChanges);
      const prePrepares = plan.slots.map((slot) => {
        const pp = slotPrePrepare(m.view, m.replica, slot);
        return { ...pp, sig: signer.sign(signedBytes(pp)) };
      });
      return resign(signer, { ...m, viewChanges, prePrepares });
    }
    case 'committed': {
      // Certificates for other batches (the same seqs), with signatures nobody made.
      const certs = m.certs.map((cert) => {
        const batch = cert.prePrepare.batch.slice(1);
        const prePrepare = { ...cert.prePrepare, batch, digest: batchDigest(batch), sig: rng.bytes(8) };
        const commits = cert.commits.map((x) => ({ ...x, digest: prePrepare.digest, sig: rng.bytes(8) }));
        return { prePrepare, commits };
      });
      return resign(signer, { ...m, certs });
    }
    case 'state': {
      const snapshot = new Uint8Array(m.snapshot);
      if (snapshot.length > 0) snapshot[0] = snapshot[0]! ^ 0xff;
      return resign(signer, { ...m, snapshot });
    }
    case 'status':
      return resign(signer, { ...m, lastExecuted: 0, stableSeq: 0 });
    case 'fetch-state':
      return m;
  }
}

/**
 * Replaces every prepared certificate (or the first seq above the checkpoint) by one of the highest
 * possible view for a null request, with prepares nobody signed: accepted, it would erase committed
 * requests.
 */
function forgeViewChange(rng: Prng, signer: Signer, n: number, quorum: number, m: ViewChange): ViewChange {
  const view = Math.max(0, m.view - 1);
  const seqs = m.prepared.length > 0 ? m.prepared.map((c) => c.prePrepare.seq) : [m.stableSeq + 1];
  const prepared = seqs.map((seq) => {
    const pp: PrePrepare = {
      type: 'pre-prepare', view, seq, digest: batchDigest([]), timeMs: 0, replica: view % n, sig: rng.bytes(8), batch: [],
    };
    const prepares: Prepare[] = [];
    for (let r = 0; r < n && prepares.length < quorum - 1; r++) {
      if (r !== pp.replica) prepares.push({ type: 'prepare', view, seq, digest: pp.digest, replica: r, sig: rng.bytes(8) });
    }
    return { prePrepare: pp, prepares };
  });
  return resign(signer, { ...m, prepared });
}

/** Random bytes, or a real message with a few bits flipped or cut short. */
export function garbage(rng: Prng, sample: Message | undefined): Uint8Array {
  if (!sample || rng.chance(0.3)) return rng.bytes(rng.range(0, 64));
  const bytes = new Uint8Array(encodeMessage(sample));
  if (rng.chance(0.5)) return bytes.subarray(0, rng.int(bytes.length));
  for (let i = 0; i < 3; i++) {
    const at = rng.int(bytes.length);
    bytes[at] = bytes[at]! ^ (1 << rng.int(8));
  }
  return bytes;
}
