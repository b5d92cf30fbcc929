/**
 * How the core signs and checks messages. The core only sees `Signer` and `Verifier`; production
 * binds them to Ed25519 keys (shared/crypto/sign.ts), the simulator to a cheap deterministic scheme
 * with the same semantics (only the key holder can make a signature that verifies).
 * Digests are SHA-256 (pure, no I/O).
 */
import { createHash } from 'node:crypto';
import { sign, verify, type SigningKeyPair } from '../crypto/sign.ts';
import type { ClientId, ReplicaId } from './types.ts';

export interface Signer {
  sign(data: Uint8Array): Uint8Array;
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
  return { sign: (data) => sign(pair.privateKey, data) };
}

export function ed25519Verifier(
  replicas: readonly Uint8Array[],
  clients: ReplicaKeys['clients'] = new Map(),
): Verifier {
  const clientKey = typeof clients === 'function' ? clients : (c: ClientId) => clients.get(c);
  return {
    verifyReplica(replica, data, signature) {
      const key = replicas[replica];
      return key !== undefined && verify(key, data, signature);
    },
    verifyClient(client, data, signature) {
      const key = clientKey(client);
      return key !== undefined && verify(key, data, signature);
    },
  };
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export const DIGEST_BYTES = 32;

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
