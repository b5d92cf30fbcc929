/**
 * A new-view carries each prepared batch up to n times: in the P set of every view-change message of
 * V, and again in its own O. Under load that was a 4 MB message (four copies of about 30 batches of
 * 64 KiB) that the new primary encoded, and each backup received, decoded and hashed, while clients
 * waited for the new view. On the wire (and in the persist log's `view` record) a batch that
 * appeared earlier in the same new-view (the same digest and the same requests, signatures included)
 * is written as an empty batch; decoding puts the earlier copy back.
 *
 * An empty batch is read as a reference only when its digest is not the null digest: a real empty
 * batch (the null request of a new view) always has the null digest, and the core refuses any other
 * pre-prepare whose digest is not its batch's. An empty batch that names no earlier batch stays
 * empty, and the core refuses it as before. Signatures never cover batches (a pre-prepare signs its
 * digest), so none changes.
 */
import { bytesEqual, hex } from './bytes.ts';
import { NULL_DIGEST, type NewView, type PrePrepare, type Request } from './messages.ts';

const NULL_KEY = hex(NULL_DIGEST);

function sameRequests(a: readonly Request[], b: readonly Request[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.client !== y.client || x.requestId !== y.requestId || !bytesEqual(x.sig, y.sig) || !bytesEqual(x.op, y.op)) return false;
  }
  return true;
}

/** Applies `each` to the new-view's pre-prepares in wire order: V's P sets, then O. */
function mapPrePrepares(nv: NewView, each: (pp: PrePrepare) => PrePrepare): NewView {
  const viewChanges = nv.viewChanges.map((vc) => ({
    ...vc,
    prepared: vc.prepared.map((cert) => ({ ...cert, prePrepare: each(cert.prePrepare) })),
  }));
  return { ...nv, viewChanges, prePrepares: nv.prePrepares.map(each) };
}

/** The new-view to encode: a batch written before in the same message becomes a reference. */
export function elideRepeatedBatches(nv: NewView): NewView {
  const written = new Map<string, readonly Request[]>();
  return mapPrePrepares(nv, (pp) => {
    if (pp.batch.length === 0) return pp;
    const key = hex(pp.digest);
    const earlier = written.get(key);
    if (earlier && sameRequests(earlier, pp.batch)) return { ...pp, batch: [] };
    if (!earlier) written.set(key, pp.batch);
    return pp;
  });
}

/** The decoded new-view with its references replaced by the batches they name. */
export function restoreRepeatedBatches(nv: NewView): NewView {
  const read = new Map<string, readonly Request[]>();
  return mapPrePrepares(nv, (pp) => {
    const key = hex(pp.digest);
    if (pp.batch.length > 0) {
      if (!read.has(key)) read.set(key, pp.batch);
      return pp;
    }
    if (key === NULL_KEY) return pp;
    const batch = read.get(key);
    return batch ? { ...pp, batch } : pp;
  });
}
