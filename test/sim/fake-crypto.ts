/**
 * A cheap deterministic signature scheme with Ed25519's semantics inside the simulation: a signature
 * is a keyed 64-bit hash of the data, and only code given a principal's signer can make one that
 * verifies. Byzantine nodes get only their own signer, so they cannot forge others' votes. Batch
 * signatures (one over a Merkle root, shared/consensus/batch-signature.ts) work as with Ed25519.
 */
import { bytesEqual, signBatch, verifySignature, VerifiedTrees, type Signer, type Verifier } from '../../shared/consensus/index.ts';

function secretOf(clusterSeed: number, principal: string): number {
  let h = (0x811c9dc5 ^ clusterSeed) >>> 0;
  for (let i = 0; i < principal.length; i++) h = Math.imul(h ^ principal.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function mac(secret: number, data: Uint8Array): Uint8Array {
  let h1 = 0xdeadbeef ^ secret;
  let h2 = 0x41c6ce57 ^ secret;
  for (let i = 0; i < data.length; i++) {
    const ch = data[i]!;
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint32(0, h1 >>> 0);
  v.setUint32(4, h2 >>> 0);
  return out;
}

const MAC_BYTES = 8;

function signerOf(secret: number): Signer {
  const one = (data: Uint8Array) => mac(secret, data);
  return { sign: one, signMany: (data) => signBatch(data, one) };
}


export class FakeKeyring {
  constructor(readonly clusterSeed: number) {}

  replicaSigner(id: number): Signer {
    return signerOf(secretOf(this.clusterSeed, `replica/${id}`));
  }

  clientSigner(id: string): Signer {
    return signerOf(secretOf(this.clusterSeed, `client/${id}`));
  }

  verifier(): Verifier {
    const secrets = new Map<string, number>();
    const verified = new VerifiedTrees();
    const check = (principal: string, data: Uint8Array, sig: Uint8Array) => {
      let s = secrets.get(principal);
      if (s === undefined) secrets.set(principal, (s = secretOf(this.clusterSeed, principal)));
      const secret = s;
      const plain = (d: Uint8Array, x: Uint8Array) => bytesEqual(mac(secret, d), x);
      return verifySignature(principal, data, sig, MAC_BYTES, plain, verified);
    };
    return {
      verifyReplica: (id, data, sig) => check(`replica/${id}`, data, sig),
      verifyClient: (id, data, sig) => check(`client/${id}`, data, sig),
    };
  }
}
