/**
 * shared/crypto: everything secret or signed, on Node's own crypto.
 *
 * - keys.ts      root → tenant → data/dedup keys (HKDF-SHA-256, versioned), chunk ids, KeyRing
 * - aead.ts      AES-256-GCM seal/open (format byte | nonce | ciphertext | tag), versioned sealing
 * - wrap.ts      X25519 key wrapping for write-only gateways
 * - key-file.ts  secret key files (0600, crash-safe, checked)
 * - sign.ts      Ed25519 signatures (raw 32-byte public keys)
 * - verify-pool.ts  Ed25519 verification in batches on worker threads (falls back to the calling thread)
 * - pki.ts       cluster CA, certificates with roles, mutual TLS 1.3 options, peer identity and role
 */
export {
  CHUNK_ID_BYTES, DERIVED_KEY_BYTES, KEY_VERSION_MAX, KeyRing, ROOT_KEY_BYTES, chunkId, deriveDataKeys, deriveTenantKey,
  generateRootKey, validateKeyVersion, type DataKeys,
} from './keys.ts';
export {
  AEAD_KEY_BYTES, KEY_VERSION_HEADER_BYTES, NONCE_BYTES, SEAL_FORMAT, SEAL_OVERHEAD_BYTES, TAG_BYTES, keyVersionOf, open,
  openVersioned, seal, sealVersioned,
} from './aead.ts';
export {
  WRAP_FORMAT, X25519_KEY_BYTES, generateWrapKeyPair, unwrapKey, wrapKey, wrapKeyPairFromSecret, wrapSecretOf,
  type WrapKeyPair,
} from './wrap.ts';
export { createRootKeyFile, readKeyFile, readRootKeyFile, writeKeyFile, type KeyFileWriteOptions } from './key-file.ts';
export { writeFileDurable, fsyncDir, type DurableWriteOptions } from './durable-file.ts';
export {
  PUBLIC_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES, generateSigningKey, seedOf, sign, signingKeyFromSeed, verify,
  type SigningKeyPair,
} from './sign.ts';
export {
  VerifyPool, defaultVerifyPoolOptions, defaultVerifyPoolSize, syncVerifier, type BatchVerifier, type VerifyItem, type VerifyPoolOptions,
  type VerifyPoolStats,
} from './verify-pool.ts';
export {
  ROLES, authenticatedPeer, certificateInfo, defaultPkiOptions, identityOf, initCa, issueCertificate, loadTlsMaterial,
  pkiPaths, roleOf, showCertificate, tlsClientOptions, tlsServerOptions, validateHostName, validateRole,
  type AuthenticatedPeer, type CertificateInfo, type IssueOptions, type IssuedCertificate, type InitCaOptions, type PkiOptions,
  type Role, type TlsClientExtras, type TlsMaterial, type WrittenCertificate,
} from './pki.ts';
