/**
 * A cheap deterministic signature scheme with Ed25519's semantics inside the simulation: a signature
 * is a keyed 64-bit hash of the data, and only code given a principal's signer can make one that
 * verifies. Byzantine nodes get only their own signer, so they cannot forge others' votes.
 */
import type { Signer, Verifier } from '../../shared/consensus/index.ts';

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

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class FakeKeyring {
  constructor(readonly clusterSeed: number) {}

  replicaSigner(id: number): Signer {
    const secret = secretOf(this.clusterSeed, `replica/${id}`);
    return { sign: (data) => mac(secret, data) };
  }

  clientSigner(id: string): Signer {
    const secret = secretOf(this.clusterSeed, `client/${id}`);
    return { sign: (data) => mac(secret, data) };
  }

  verifier(): Verifier {
    const replicaSecrets = new Map<number, number>();
    const clientSecrets = new Map<string, number>();
    return {
      verifyReplica: (id, data, sig) => {
        let s = replicaSecrets.get(id);
        if (s === undefined) replicaSecrets.set(id, (s = secretOf(this.clusterSeed, `replica/${id}`)));
        return sig.length === 8 && equal(mac(s, data), sig);
      },
      verifyClient: (id, data, sig) => {
        let s = clientSecrets.get(id);
        if (s === undefined) clientSecrets.set(id, (s = secretOf(this.clusterSeed, `client/${id}`)));
        return sig.length === 8 && equal(mac(s, data), sig);
      },
    };
  }
}
