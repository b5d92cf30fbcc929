/**
 * The key hierarchy (DESIGN §3, §8), all HKDF-SHA-256 with Node's own crypto:
 *
 *     root key (32 random bytes, kept by the data-center operator)
 *       └─ tenant key v   = HKDF(root,       salt, "2baksa/tenant-key/v1" 0x00 u32be(v) utf8(tenantId))
 *            ├─ data key v  = HKDF(tenantKey, salt, "2baksa/data-key/v1"   0x00 u32be(v))
 *            └─ dedup key v = HKDF(tenantKey, salt, "2baksa/dedup-key/v1"  0x00 u32be(v))
 *
 * with salt = utf8("2baksa key hierarchy"). The key version v (1 … 2^32-1) is in every info string, so
 * rotation (a new v, default every 90 days) yields independent keys, and any old version can be derived
 * again to decrypt old data. Ciphertext names its version (aead.ts `sealVersioned`).
 * A chunk id is HMAC-SHA-256(dedup key, plaintext): 32 bytes, equal across every gateway of a tenant.
 * Rotation renews the data key and keeps the dedup key: ids are made with the dedup key of the ring's
 * first version (`KeyRing.idKeys`), whatever version seals. A dedup key renewed with every rotation
 * would give all content new ids, so every later backup would store (and migrate) again everything it
 * read, and a grown log could no longer be checked against its old chunk ids: each rotation would cost
 * a full backup and a doubled store until the old snapshots expire. What a dedup key protects is less
 * than that: it lets whoever sees chunk ids confirm a guessed chunk's presence, never read one. A data
 * key opens what it sealed, so renewing it bounds what one key seals (GCM's random nonces) and what a
 * leaked one opens.
 *
 * These derivations are pinned by fixed vectors in test/unit/crypto/keys.test.ts: never change them.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { BaksaError, ExitCode, assert, configError } from '../errors.ts';

export const ROOT_KEY_BYTES = 32;
export const DERIVED_KEY_BYTES = 32;
export const CHUNK_ID_BYTES = 32;
export const KEY_VERSION_MAX = 0xffff_ffff;
export const TENANT_ID_BYTES_MAX = 255;

const SALT = Buffer.from('2baksa key hierarchy', 'utf8');
const LABEL_TENANT = '2baksa/tenant-key/v1';
const LABEL_DATA = '2baksa/data-key/v1';
const LABEL_DEDUP = '2baksa/dedup-key/v1';

export interface DataKeys {
  readonly version: number;
  readonly dataKey: Uint8Array;
  readonly dedupKey: Uint8Array;
}

export function validateKeyVersion(version: number, field = 'keyVersion'): number {
  if (!Number.isInteger(version) || version < 1 || version > KEY_VERSION_MAX) {
    throw configError(field, `${String(version)} is not a key version (a whole number from 1 to ${KEY_VERSION_MAX})`);
  }
  return version;
}

function info(label: string, version: number, suffix: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.from(label, 'utf8');
  const out = Buffer.alloc(head.length + 1 + 4 + suffix.length);
  head.copy(out, 0);
  out.writeUInt32BE(version, head.length + 1);
  out.set(suffix, head.length + 5);
  return out;
}

function hkdf(ikm: Uint8Array, infoBytes: Buffer): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, SALT, infoBytes, DERIVED_KEY_BYTES));
}

export function generateRootKey(): Uint8Array {
  return new Uint8Array(randomBytes(ROOT_KEY_BYTES));
}

export function deriveTenantKey(root: Uint8Array, tenantId: string, version: number): Uint8Array {
  assert(root.length === ROOT_KEY_BYTES, `a root key is ${ROOT_KEY_BYTES} bytes, got ${root.length}`);
  const id = Buffer.from(tenantId, 'utf8');
  if (id.length === 0 || id.length > TENANT_ID_BYTES_MAX) {
    throw configError('tenantId', `must be 1 to ${TENANT_ID_BYTES_MAX} bytes of UTF-8, got ${id.length}`);
  }
  return hkdf(root, info(LABEL_TENANT, validateKeyVersion(version), id));
}

export function deriveDataKeys(tenantKey: Uint8Array, version: number): DataKeys {
  assert(tenantKey.length === DERIVED_KEY_BYTES, `a tenant key is ${DERIVED_KEY_BYTES} bytes, got ${tenantKey.length}`);
  validateKeyVersion(version);
  return {
    version,
    dataKey: hkdf(tenantKey, info(LABEL_DATA, version)),
    dedupKey: hkdf(tenantKey, info(LABEL_DEDUP, version)),
  };
}

/** HMAC-SHA-256(dedupKey, plaintext): the content address of a chunk (32 bytes). */
export function chunkId(dedupKey: Uint8Array, plaintext: Uint8Array): Uint8Array {
  assert(dedupKey.length === DERIVED_KEY_BYTES, `a dedup key is ${DERIVED_KEY_BYTES} bytes, got ${dedupKey.length}`);
  return new Uint8Array(createHmac('sha256', dedupKey).update(plaintext).digest());
}

/**
 * The data and dedup keys of a tenant for every version still needed, one of them current (new data
 * is sealed with it). A ring made from the root key derives any other version when asked for it, so
 * data sealed after the config it was made from (a copy of agent.json kept for a replacement
 * machine) still opens. Its current version never changes: `rotate` returns a new ring.
 */
export class KeyRing {
  readonly #byVersion: Map<number, DataKeys>;
  readonly #current: DataKeys;
  readonly #idKeys: DataKeys;
  readonly #derive: ((version: number) => DataKeys) | undefined;

  constructor(keys: Iterable<DataKeys>, currentVersion?: number, derive?: (version: number) => DataKeys) {
    const map = new Map<number, DataKeys>();
    for (const k of keys) {
      validateKeyVersion(k.version);
      assert(k.dataKey.length === DERIVED_KEY_BYTES && k.dedupKey.length === DERIVED_KEY_BYTES, 'data and dedup keys are 32 bytes');
      map.set(k.version, k);
    }
    if (map.size === 0) throw configError('keys', 'a key ring needs at least one key version');
    const current = map.get(currentVersion ?? Math.max(...map.keys()));
    if (!current) throw configError('keyVersion', `current version ${String(currentVersion)} is not in the ring`);
    this.#byVersion = map;
    this.#current = current;
    this.#idKeys = map.get(Math.min(...map.keys()))!;
    this.#derive = derive;
  }

  /**
   * Derives the ring from the root key: versions 1 … `currentVersion`, and any later one when asked;
   * or, pinned, only the listed versions.
   */
  static fromRoot(root: Uint8Array, tenantId: string, currentVersion: number, versions?: readonly number[]): KeyRing {
    const derive = (v: number) => deriveDataKeys(deriveTenantKey(root, tenantId, v), v);
    const wanted = versions ?? Array.from({ length: validateKeyVersion(currentVersion) }, (_, i) => i + 1);
    return new KeyRing(wanted.map(derive), currentVersion, versions ? undefined : derive);
  }

  /** Builds the ring from tenant keys by version (what a gateway holds: no root key). */
  static fromTenantKeys(tenantKeys: Iterable<readonly [number, Uint8Array]>, currentVersion?: number): KeyRing {
    return new KeyRing([...tenantKeys].map(([v, key]) => deriveDataKeys(key, v)), currentVersion);
  }

  get current(): DataKeys {
    return this.#current;
  }

  /** The keys whose dedup key makes chunk ids: the ring's first version, the same across rotations. */
  get idKeys(): DataKeys {
    return this.#idKeys;
  }

  /** Whether the ring holds `version`, or derives it. */
  has(version: number): boolean {
    return this.#byVersion.has(version) || (this.#derive !== undefined && Number.isInteger(version) && version >= 1 && version <= KEY_VERSION_MAX);
  }

  /** The keys of `version`; throws KEY_VERSION_UNKNOWN when the ring neither holds nor derives it. */
  byVersion(version: number): DataKeys {
    let keys = this.#byVersion.get(version);
    if (!keys && this.#derive && this.has(version)) {
      keys = this.#derive(version);
      this.#byVersion.set(version, keys);
    }
    if (!keys) {
      throw new BaksaError('KEY_VERSION_UNKNOWN', `key version ${version} is not loaded (this ring holds ${this.versions().join(', ')})`, {
        hint: `data sealed with key version ${version} needs that version's tenant key, or the root key (which derives every version)`,
        exitCode: ExitCode.data,
        details: { version },
      });
    }
    return keys;
  }

  versions(): number[] {
    return [...this.#byVersion.keys()].sort((a, b) => a - b);
  }

  /** A new ring that also holds `keys` and makes them current (key rotation). */
  rotate(keys: DataKeys): KeyRing {
    return new KeyRing([...this.#byVersion.values(), keys], keys.version, this.#derive);
  }
}
