/**
 * How the core signs and checks messages. The core only sees `Signer` and `Verifier`; production
 * binds them to Ed25519 keys (shared/crypto/sign.ts), the simulator to a cheap deterministic scheme
 * with the same semantics (only the key holder can make a signature that verifies).
 * Digests are SHA-256 (pure, no I/O).
 */
import { createHash, hash } from 'node:crypto';
import { sign, verify, SIGNATURE_BYTES, type SigningKeyPair } from '../crypto/sign.ts';
import { signBatch, verifySignature, VerifiedTrees } from './batch-signature.ts';
import { hex } from './bytes.ts';
import type { ClientId, ReplicaId } from './types.ts';

export interface Signer {
  sign(data: Uint8Array): Uint8Array;
  /**
   * Signs several messages at once, in order: with one signature over a Merkle root where the scheme
   * allows it (batch-signature.ts), so a batch of replies or requests costs one signature.
   */
  signMany?(data: readonly Uint8Array[]): Uint8Array[];
}

/** `signer.signMany`, or one `sign` each for a signer without it. */
export function signAll(signer: Signer, data: readonly Uint8Array[]): Uint8Array[] {
  return signer.signMany ? signer.signMany(data) : data.map((d) => signer.sign(d));
}

export interface Verifier {
  /** Never throws: a malformed signature is simply false. */
  verifyReplica(replica: ReplicaId, data: Uint8Array, signature: Uint8Array): boolean;
  verifyClient(client: ClientId, data: Uint8Array, signature: Uint8Array): boolean;
}

/** This replica's key pair, and the public keys of all replicas (by id) and of the known clients. */
export interface ReplicaKeys {
  readonly self: SigningKeyPair;
  readonly replicas: readonly Uint8Array[];
  readonly clients: ReadonlyMap<ClientId, Uint8Array> | ((client: ClientId) => Uint8Array | undefined);
}

export function ed25519Signer(pair: SigningKeyPair): Signer {
  const one = (data: Uint8Array) => sign(pair.privateKey, data);
  return { sign: one, signMany: (data) => signBatch(data, one) };
}

/** Checks a plain Ed25519 signature, or a batch signature whose root `key` signed (remembered in `verified`). */
function verifyEd25519(key: Uint8Array, data: Uint8Array, signature: Uint8Array, verified: VerifiedTrees): boolean {
  return verifySignature(hex(key), data, signature, SIGNATURE_BYTES, (d, s) => verify(key, d, s), verified);
}

export function ed25519Verifier(
  replicas: readonly Uint8Array[],
  clients: ReplicaKeys['clients'] = new Map(),
): Verifier {
  const clientKey = typeof clients === 'function' ? clients : (c: ClientId) => clients.get(c);
  const verified = new VerifiedTrees();
  return {
    verifyReplica(replica, data, signature) {
      const key = replicas[replica];
      return key !== undefined && verifyEd25519(key, data, signature, verified);
    },
    verifyClient(client, data, signature) {
      const key = clientKey(client);
      return key !== undefined && verifyEd25519(key, data, signature, verified);
    },
  };
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return new Uint8Array(hash('sha256', parts[0]!, 'buffer'));
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export const DIGEST_BYTES = 32;

export { bytesEqual, hex } from './bytes.ts';
