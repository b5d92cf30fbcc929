/**
 * Write-only mode (DESIGN §3 step 4): a gateway seals each chunk under a fresh random key and wraps that
 * key to the tenant's X25519 public key, so a stolen gateway holds nothing that decrypts old backups.
 * Restore unwraps with the tenant private key.
 *
 * Wrapped bytes (format 1), an ECIES in the style of HPKE base mode:
 *
 *     offset 0   1 byte    format version (0x01)
 *     offset 1   32 bytes  ephemeral X25519 public key
 *     offset 33  …         seal(KEK, key, aad = bytes 0..32)          (aead.ts format: 29 + key bytes)
 *
 *     KEK = HKDF-SHA-256(ikm = X25519(ephemeral, recipient),
 *                        salt = ephemeral public ‖ recipient public, info = "2baksa/key-wrap/v1")
 *
 * A 32-byte key wraps to 94 bytes. `unwrapKey` throws DECRYPT_FAILED for a wrong private key and for any
 * altered, truncated or malformed input; it never throws anything else for bad bytes.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { BaksaError, ExitCode, assert } from '../errors.ts';
import { SEAL_OVERHEAD_BYTES, decryptFailed, open, seal } from './aead.ts';

export const WRAP_FORMAT = 0x01;
export const X25519_KEY_BYTES = 32;
export const WRAP_HEADER_BYTES = 1 + X25519_KEY_BYTES;
/** The largest key `wrapKey` takes (and `unwrapKey` returns). */
export const WRAPPED_KEY_BYTES_MAX = 64;

const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const INFO = Buffer.from('2baksa/key-wrap/v1', 'utf8');

export interface WrapKeyPair {
  /** Raw 32-byte X25519 public key (what gateways are configured with). */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

function rawPublic(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - X25519_KEY_BYTES));
}

export function generateWrapKeyPair(): WrapKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: rawPublic(publicKey), privateKey };
}

/** Rebuilds a pair from the raw 32-byte private key (as stored in a key file of kind "wrap"). */
export function wrapKeyPairFromSecret(secret: Uint8Array): WrapKeyPair {
  assert(secret.length === X25519_KEY_BYTES, `an X25519 private key is ${X25519_KEY_BYTES} bytes, got ${secret.length}`);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  return { publicKey: rawPublic(createPublicKey(privateKey)), privateKey };
}

/** The raw 32-byte private key, for a key file. */
export function wrapSecretOf(pair: WrapKeyPair): Uint8Array {
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(der.length - X25519_KEY_BYTES));
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== X25519_KEY_BYTES) {
    throw new BaksaError('WRAP_KEY_INVALID', `an X25519 public key is ${X25519_KEY_BYTES} bytes, got ${raw.length}`, {
      hint: 'configure the tenant public key as the 32 raw bytes printed when the tenant key pair was made',
      exitCode: ExitCode.config,
    });
  }
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function kek(shared: Buffer, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', shared, Buffer.concat([ephemeralPublic, recipientPublic]), INFO, 32));
}

/** Wraps `key` (1 … 64 bytes) so that only the holder of the recipient's private key can unwrap it. */
export function wrapKey(recipientPublic: Uint8Array, key: Uint8Array): Uint8Array {
  assert(key.length >= 1 && key.length <= WRAPPED_KEY_BYTES_MAX, `a wrapped key is 1 to ${WRAPPED_KEY_BYTES_MAX} bytes, got ${key.length}`);
  const recipient = publicKeyObject(recipientPublic);
  const ephemeral = generateKeyPairSync('x25519');
  const ephemeralPublic = rawPublic(ephemeral.publicKey);
  let shared: Buffer;
  try {
    shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient });
  } catch (error) {
    throw new BaksaError('WRAP_KEY_INVALID', 'the tenant public key is not a usable X25519 key', {
      hint: 'configure the tenant public key printed when the tenant key pair was made', exitCode: ExitCode.config, cause: error,
    });
  }
  const header = new Uint8Array(WRAP_HEADER_BYTES);
  header[0] = WRAP_FORMAT;
  header.set(ephemeralPublic, 1);
  const sealed = seal(kek(shared, ephemeralPublic, recipientPublic), key, header);
  const out = new Uint8Array(WRAP_HEADER_BYTES + sealed.length);
  out.set(header, 0);
  out.set(sealed, WRAP_HEADER_BYTES);
  return out;
}

/** Unwraps bytes from `wrapKey`; throws DECRYPT_FAILED for a wrong private key or altered bytes. */
export function unwrapKey(recipientPrivate: KeyObject | WrapKeyPair, wrapped: Uint8Array): Uint8Array {
  const privateKey = 'privateKey' in recipientPrivate ? recipientPrivate.privateKey : recipientPrivate;
  const what = 'wrapped key';
  if (wrapped.length < WRAP_HEADER_BYTES + SEAL_OVERHEAD_BYTES + 1) throw decryptFailed(what);
  if (wrapped.length > WRAP_HEADER_BYTES + SEAL_OVERHEAD_BYTES + WRAPPED_KEY_BYTES_MAX) throw decryptFailed(what);
  if (wrapped[0] !== WRAP_FORMAT) throw decryptFailed(what);
  const header = wrapped.subarray(0, WRAP_HEADER_BYTES);
  const ephemeralPublic = wrapped.subarray(1, WRAP_HEADER_BYTES);
  let shared: Buffer;
  let recipientPublic: Uint8Array;
  try {
    recipientPublic = rawPublic(createPublicKey(privateKey));
    shared = diffieHellman({ privateKey, publicKey: publicKeyObject(ephemeralPublic) });
  } catch {
    throw decryptFailed(what);
  }
  try {
    return open(kek(shared, ephemeralPublic, recipientPublic), wrapped.subarray(WRAP_HEADER_BYTES), header);
  } catch {
    throw decryptFailed(what);
  }
}
