// The key hierarchy (DESIGN §3 step 3-4, §8): root → tenant → data/dedup keys, versioned, with pinned
// vectors so a derivation can never change silently (every stored chunk id and ciphertext depends on it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import { KeyRing, chunkId, deriveDataKeys, deriveTenantKey, generateRootKey } from '../../../shared/crypto/keys.ts';
import { openVersioned, sealVersioned } from '../../../shared/crypto/aead.ts';
import { createRootKeyFile, readKeyFile, readRootKeyFile, writeKeyFile } from '../../../shared/crypto/key-file.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ROOT = new Uint8Array(32).map((_, i) => i); // 00 01 02 … 1f

function throwsCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

async function rejectsCode(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, BaksaError);
    assert.is((error as BaksaError).code, code);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

// Pinned vectors (cross-checked with an independent RFC 5869 HKDF in Python when they were made).
test('fixed vectors: tenant key, data key, dedup key, chunk id', () => {
  const t1 = deriveTenantKey(ROOT, 'tenant-a', 1);
  assert.is(hex(t1), '0ef370ff5b9a4458f6fc04ea1ee651521e93ddd3ae56a039accb0996293f448a');
  assert.is(hex(deriveTenantKey(ROOT, 'tenant-a', 2)), 'da0681902798c67d8180a2da24b99ba431f26f03c3aa87f634ec5438629a46dd');
  assert.is(hex(deriveTenantKey(ROOT, 'tenant-b', 1)), 'b7a5a2a5a227bc0c7e1b73eefe16e972f841b5db3a522a6c0164bc67dac662fb');
  const keys = deriveDataKeys(t1, 1);
  assert.is(keys.version, 1);
  assert.is(hex(keys.dataKey), '74005c34afa10618e6bd4ebb47ab3d1d2b7afc0f53659c6de922c18d48d084c4');
  assert.is(hex(keys.dedupKey), '647bfa0369486e5be0a9da9e22f925411afc1deeea5c39dab9f5eb95ec6fb003');
  assert.is(hex(chunkId(keys.dedupKey, new TextEncoder().encode('hello 2baksa'))),
    '380eb8105b2f0294f3ec546b160f2612b121e4a98569ca6579ca5539dc107e94');
});

test('every tenant, version and purpose gets its own key', () => {
  const seen = new Set<string>();
  for (const tenant of ['a', 'b', 'ab']) {
    for (const v of [1, 2, 3]) {
      const t = deriveTenantKey(ROOT, tenant, v);
      const d = deriveDataKeys(t, v);
      for (const k of [t, d.dataKey, d.dedupKey]) seen.add(hex(k));
    }
  }
  assert.is(seen.size, 27);
  assert.is.not(hex(deriveDataKeys(deriveTenantKey(ROOT, 'a', 1), 2).dataKey), hex(deriveDataKeys(deriveTenantKey(ROOT, 'a', 1), 1).dataKey));
});

test('bad versions and tenant ids are refused with the field name', () => {
  for (const v of [0, -1, 1.5, 2 ** 32, Number.NaN]) throwsCode(() => deriveTenantKey(ROOT, 'a', v), 'CONFIG_INVALID');
  throwsCode(() => deriveTenantKey(ROOT, '', 1), 'CONFIG_INVALID');
  throwsCode(() => deriveTenantKey(ROOT, 'x'.repeat(256), 1), 'CONFIG_INVALID');
  assert.is(deriveTenantKey(ROOT, 'a', 2 ** 32 - 1).length, 32);
  assert.throws(() => deriveTenantKey(new Uint8Array(16), 'a', 1), /invariant/);
});

test('chunkId is HMAC-SHA-256: 32 bytes, deterministic, keyed', () => {
  const a = deriveDataKeys(deriveTenantKey(ROOT, 'a', 1), 1);
  const b = deriveDataKeys(deriveTenantKey(ROOT, 'b', 1), 1);
  const data = new Uint8Array(100_000).map((_, i) => i * 7);
  assert.is(chunkId(a.dedupKey, data).length, 32);
  assert.equal(chunkId(a.dedupKey, data), chunkId(a.dedupKey, data.slice()));
  assert.is.not(hex(chunkId(a.dedupKey, data)), hex(chunkId(b.dedupKey, data)));
  const before = hex(chunkId(a.dedupKey, data));
  data[5]! ^= 1;
  assert.is.not(hex(chunkId(a.dedupKey, data)), before);
});

test('KeyRing: versions, current, lookups, rotation', () => {
  const ring = KeyRing.fromRoot(ROOT, 'tenant-a', 3);
  assert.equal(ring.versions(), [1, 2, 3]);
  assert.is(ring.current.version, 3);
  assert.equal(ring.byVersion(2), deriveDataKeys(deriveTenantKey(ROOT, 'tenant-a', 2), 2));
  assert.ok(ring.has(1));
  // Made from the root key, a ring derives a later version when asked (data sealed after its config).
  assert.ok(ring.has(4));
  assert.equal(ring.byVersion(4), deriveDataKeys(deriveTenantKey(ROOT, 'tenant-a', 4), 4));
  assert.is(ring.current.version, 3);
  assert.not.ok(ring.has(0));
  throwsCode(() => ring.byVersion(0), 'KEY_VERSION_UNKNOWN');
  const fromTenant = KeyRing.fromTenantKeys([[1, deriveTenantKey(ROOT, 'tenant-a', 1)], [2, deriveTenantKey(ROOT, 'tenant-a', 2)]]);
  assert.equal(fromTenant.current, ring.byVersion(2));
  const rotated = fromTenant.rotate(ring.byVersion(3));
  assert.is(rotated.current.version, 3);
  assert.is(fromTenant.current.version, 2, 'rotate returns a new ring');
  // Chunk ids keep the first version's dedup key across rotations; sealing moves on.
  assert.is(ring.idKeys.version, 1);
  assert.is(rotated.idKeys.version, 1);
  assert.is.not(Buffer.from(rotated.current.dataKey).toString('hex'), Buffer.from(rotated.idKeys.dataKey).toString('hex'));
  const pinned = KeyRing.fromRoot(ROOT, 'tenant-a', 2, [2, 5]);
  assert.equal(pinned.versions(), [2, 5]);
  assert.is(pinned.current.version, 2);
  throwsCode(() => new KeyRing([]), 'CONFIG_INVALID');
  throwsCode(() => new KeyRing([ring.byVersion(1)], 2), 'CONFIG_INVALID');
});

test('after rotation, data sealed under an old version still opens; without that version it cannot', () => {
  const v1 = KeyRing.fromRoot(ROOT, 't', 1);
  const old = sealVersioned(v1.current, new TextEncoder().encode('old backup'));
  const v2 = v1.rotate(deriveDataKeys(deriveTenantKey(ROOT, 't', 2), 2));
  const fresh = sealVersioned(v2.current, new TextEncoder().encode('new backup'));
  assert.is(new TextDecoder().decode(openVersioned(v2, old)), 'old backup');
  assert.is(new TextDecoder().decode(openVersioned(v2, fresh)), 'new backup');
  throwsCode(() => openVersioned(KeyRing.fromRoot(ROOT, 't', 2, [2]), old), 'KEY_VERSION_UNKNOWN');
});

test('root key file: 0600, crash-safe, refuses to overwrite, insecure modes and damage', async () => {
  const dir = mkdtempSync(join(tmpdir(), '2baksa-keys-'));
  try {
    const path = join(dir, 'root.key');
    const key = await createRootKeyFile(path);
    assert.is(key.length, 32);
    assert.is(statSync(path).mode & 0o777, 0o600);
    assert.equal(await readRootKeyFile(path), key);
    assert.equal(readdirSync(dir), ['root.key'], 'no temp files left behind');
    await rejectsCode(createRootKeyFile(path), 'KEY_FILE_EXISTS');
    assert.equal(await readRootKeyFile(path), key, 'the refused write left the key alone');
    const replaced = await createRootKeyFile(path, { force: true });
    assert.equal(await readRootKeyFile(path), replaced);
    await rejectsCode(readKeyFile(path, 'wrap'), 'KEY_FILE_INVALID');
    chmodSync(path, 0o640);
    await rejectsCode(readRootKeyFile(path), 'KEY_FILE_INSECURE');
    chmodSync(path, 0o600);
    const record = JSON.parse(readFileSync(path, 'utf8')) as { key: string };
    const bytes = Buffer.from(record.key, 'base64');
    bytes[0]! ^= 1;
    writeFileSync(path, JSON.stringify({ ...record, key: bytes.toString('base64') }), { mode: 0o600 });
    await rejectsCode(readRootKeyFile(path), 'KEY_FILE_INVALID');
    writeFileSync(path, 'garbage', { mode: 0o600 });
    await rejectsCode(readRootKeyFile(path), 'KEY_FILE_INVALID');
    await rejectsCode(readRootKeyFile(join(dir, 'missing.key')), 'KEY_FILE_MISSING');
    const missing = await readRootKeyFile(join(dir, 'missing.key')).catch((e: BaksaError) => e);
    assert.match(String((missing as BaksaError).hint), 'put back the copy', 'a lost root key is put back, never made anew');
    assert.not.match(String((missing as BaksaError).hint), 'create');
    await writeKeyFile(join(dir, 'short.key'), 'root', new Uint8Array(16));
    await rejectsCode(readRootKeyFile(join(dir, 'short.key')), 'KEY_FILE_INVALID');
    assert.is.not(hex(generateRootKey()), hex(generateRootKey()));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
