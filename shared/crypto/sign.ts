/**
 * Ed25519 signing with Node's own crypto. Public keys travel as their raw 32 bytes; private keys are
 * KeyObjects in memory and their raw 32-byte seed on disk. `verify` never throws: a malformed key
 * or signature from a peer is simply a bad signature.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SEED_BYTES = 32;

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface SigningKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

function rawPublicKey(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - PUBLIC_KEY_BYTES));
}

export function generateSigningKey(): SigningKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKey };
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKeyPair {
  if (seed.length !== SEED_BYTES) throw new RangeError(`an Ed25519 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return { publicKey: rawPublicKey(createPublicKey(privateKey)), privateKey };
}

export function seedOf(pair: SigningKeyPair): Uint8Array {
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(der.length - SEED_BYTES));
}

export function sign(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(edSign(null, data, privateKey));
}

const publicKeyCache = new Map<string, KeyObject>();
// Building a KeyObject costs about as much as a verify, so keep one per peer: 10,000 gateways fit.
const PUBLIC_KEY_CACHE_MAX = 65_536;

export function publicKeyObject(raw: Uint8Array): KeyObject | undefined {
  if (raw.length !== PUBLIC_KEY_BYTES) return undefined;
  const id = Buffer.from(raw).toString('hex');
  let key = publicKeyCache.get(id);
  if (!key) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
    } catch {
      return undefined;
    }
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_MAX) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

export function verify(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  try {
    return edVerify(null, data, key, signature);
  } catch {
    return false;
  }
}
