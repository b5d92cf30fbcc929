// Migration, agent side, without a network: batching, the chunk list of a snapshot, snapshot selection
// and order (priority classes from each snapshot's profile), the typed client's checks, the cloud reader (batched lookups, verification), and whole runs against
// an in-memory cloud with the migration API's rules: an interrupted run resumed sending only what is
// missing, a re-run sending nothing, a restore from the cloud with the local shards deleted, snapshots of
// an alarm profile sent before older ones of a bulk profile.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaksaError } from '../../../shared/errors.ts';
import { KeyRing } from '../../../shared/crypto/keys.ts';
import { runBackup } from '../../../agent/backup/run.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { chunkIdHex, sealChunk, type CompressionOptions } from '../../../agent/chunks/index.ts';
import { loadKeyRing, loadState, readConfig, tenantOf, writeConfig } from '../../../agent/config/index.ts';
import { loadProfile, profilesDir, type PriorityClass } from '../../../agent/profile/index.ts';
import type { SnapshotRecord } from '../../../agent/catalog/index.ts';
import type { ManifestEntry } from '../../../agent/manifest/index.ts';
import { restoreSnapshot } from '../../../agent/restore/index.ts';
import {
  CLOUD_BATCH_MAX,
  FETCH_BATCH_BYTES_MAX,
  FETCH_BATCH_CHUNKS_MAX,
  UPLOAD_BATCH_BYTES_MAX,
  UPLOAD_BATCH_CHUNKS_MAX,
  sizedGroups,
  Pacer,
  insideWindow,
  CloudChunkReader,
  CloudClient,
  FailoverTransport,
  clusterNodeUrls,
  batches,
  collectChunkIds,
  findByRef,
  megabytesPerSecond,
  migrate,
  migrationOrder,
  pendingSnapshots,
  priorityClassesOf,
  receiptKey,
  serverList,
  type ApiTransport,
  type ChunkOffer,
} from '../../../agent/migrate/index.ts';
import { Limiter } from '../../../agent/util/index.ts';
import { ChunkOpenPool } from '../../../agent/chunks/open-pool.ts';
import { CHUNK_FRAME_HEAD_BYTES, decodeChunkFrameHead, decodeFrames, encodeFrames } from '../../../shared/http/frames.ts';
import { ByteParts } from '../../../shared/http/body.ts';
import { freshState, pseudoRandom, sensorLines, snapshotTree, tempDir, assertSameTree } from './_helpers.ts';

const hex = (n: number) => createHash('sha256').update(String(n)).digest('hex');
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function* entriesOf(list: ManifestEntry[]): AsyncGenerator<ManifestEntry> {
  yield* list;
}

function file(path: string, ids: string[]): ManifestEntry {
  return { path, kind: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: ids.length, chunks: ids.map((id) => ({ id, length: 1 })) };
}

// ---- pure parts ----

test('batches: consecutive lists of at most the size, nothing for nothing', () => {
  assert.equal(batches([], 3), []);
  assert.equal(batches([1, 2, 3, 4, 5, 6, 7], 3), [[1, 2, 3], [4, 5, 6], [7]]);
  assert.equal(batches([1, 2, 3], 3), [[1, 2, 3]]);
  const ids = Array.from({ length: 2 * CLOUD_BATCH_MAX + 1 }, (_, i) => i);
  assert.equal(batches(ids, CLOUD_BATCH_MAX).map((b) => b.length), [CLOUD_BATCH_MAX, CLOUD_BATCH_MAX, 1]);
  assert.equal(batches(ids, CLOUD_BATCH_MAX).flat(), ids);
  assert.throws(() => batches([1], 0));
});

test('collectChunkIds: the manifest chunks first, then file chunks in order, each once', async () => {
  const roots = [hex(1), hex(2)];
  const entries = [
    { path: '/d', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0', size: 0 } as ManifestEntry,
    file('/d/a', [hex(3), hex(4), hex(3)]),
    { path: '/d/l', kind: 'symlink', mode: 0o777, uid: 0, gid: 0, mtimeNs: '0', size: 0, target: 'a' } as ManifestEntry,
    file('/d/b', [hex(4), hex(5)]),
    file('/d/empty', []),
    file('/d/c', [hex(1)]), // a file chunk equal to a manifest chunk
  ];
  assert.equal(await collectChunkIds(roots, entriesOf(entries)), [hex(1), hex(2), hex(3), hex(4), hex(5)]);
  assert.equal(await collectChunkIds([hex(9), hex(9)], entriesOf([])), [hex(9)]);
});

test('pendingSnapshots, receiptKey, findByRef, megabytesPerSecond', () => {
  const list = [{ id: 'aa11' }, { id: 'ab22' }, { id: 'cc33' }];
  assert.equal(pendingSnapshots(list, new Set(['ab22'])), [{ id: 'aa11' }, { id: 'cc33' }]);
  assert.is(receiptKey('cc33'), 'cloud-receipt:cc33');
  assert.equal(findByRef(list, 'latest', 'here'), { id: 'cc33' });
  assert.equal(findByRef(list, 'ab', 'here'), { id: 'ab22' });
  assert.throws(() => findByRef(list, 'a', 'here'), (e: BaksaError) => e.code === 'SNAPSHOT_AMBIGUOUS');
  assert.throws(() => findByRef(list, 'dd', 'here'), (e: BaksaError) => e.code === 'SNAPSHOT_NOT_FOUND');
  assert.throws(() => findByRef([], 'latest', 'here'), (e: BaksaError) => e.code === 'SNAPSHOT_NOT_FOUND');
  assert.throws(() => findByRef(list, 'not-hex', 'here'), (e: BaksaError) => e.code === 'SNAPSHOT_NOT_FOUND');
  assert.is(megabytesPerSecond(5_000_000, 2), 2.5);
  assert.is(megabytesPerSecond(5, 0), 0);
});

test('migrationOrder: by class (alarm, high, normal, bulk), oldest first within a class, ties by id', () => {
  const snaps: Array<{ id: string; timeMs: number; cls: PriorityClass }> = [
    { id: 'b1', timeMs: 100, cls: 'bulk' },
    { id: 'n1', timeMs: 200, cls: 'normal' },
    { id: 'a2', timeMs: 900, cls: 'alarm' },
    { id: 'h1', timeMs: 300, cls: 'high' },
    { id: 'a1', timeMs: 400, cls: 'alarm' },
    { id: 'n3', timeMs: 50, cls: 'normal' },
    { id: 'b0', timeMs: 100, cls: 'bulk' },
  ];
  const order = migrationOrder(snaps, (s) => s.cls);
  assert.equal(order.map((s) => s.id), ['a1', 'a2', 'h1', 'n3', 'n1', 'b0', 'b1']);
  assert.equal(snaps.map((s) => s.id)[0], 'b1', 'the input is left as it was');
  // One class: plain oldest first.
  assert.equal(migrationOrder(snaps, () => 'normal').map((s) => s.id), ['n3', 'b0', 'b1', 'n1', 'h1', 'a1', 'a2']);
  // Receipts then drop the done ones and keep that order.
  assert.equal(pendingSnapshots(order, new Set(['a1', 'n3'])).map((s) => s.id), ['a2', 'h1', 'n1', 'b0', 'b1']);
  assert.equal(migrationOrder([], () => 'alarm'), []);
});

test('priorityClassesOf: the class of the profile each snapshot was taken with, normal without one or when it does not load', () => {
  const snap = (id: string, profile?: string) => ({ id, timeMs: 1, ...(profile !== undefined ? { profile } : {}) }) as SnapshotRecord;
  const withPriority = (priority: PriorityClass) => {
    const p = loadProfile('small-arm');
    return { ...p, migration: { ...p.migration, priority } };
  };
  const loads: string[] = [];
  const load = (ref: string) => {
    loads.push(ref);
    if (ref === '/gone.json') throw new BaksaError('PROFILE_UNREADABLE', 'cannot read profile /gone.json');
    return withPriority(ref === 'bulk-logs' ? 'bulk' : 'high');
  };
  const classes = priorityClassesOf(
    [snap('s1', 'bulk-logs'), snap('s2'), snap('s3', 'alarms'), snap('s4', '/gone.json'), snap('s5', 'bulk-logs'), snap('s6', '/gone.json')],
    { ref: 'alarms', profile: withPriority('alarm') },
    undefined,
    load,
  );
  assert.equal([...classes], [['s1', 'bulk'], ['s2', 'normal'], ['s3', 'alarm'], ['s4', 'normal'], ['s5', 'bulk'], ['s6', 'normal']]);
  assert.equal(loads, ['bulk-logs', '/gone.json'], 'each profile loaded once; the current one not at all');
});

test('Limiter: never more than the limit at once, every task runs', async () => {
  const limit = new Limiter(3);
  let running = 0;
  let peak = 0;
  const done = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      limit.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 1 + (i % 3)));
        running--;
        return i;
      }),
    ),
  );
  assert.equal(done, Array.from({ length: 20 }, (_, i) => i));
  assert.is(peak, 3);
  assert.is(limit.active, 0);
});

// ---- an in-memory cloud with the rules of the migration API ----

interface StoredChunk {
  bytes: Buffer;
  length: number;
  sha256: string;
}

class FakeCloud implements ApiTransport {
  readonly chunks = new Map<string, StoredChunk>();
  readonly snapshots = new Map<string, { createdMs: number; rootChunks: string[]; chunkCount: number; recordedMs: number }>();
  readonly snapshotChunks = new Map<string, string[]>();
  readonly calls: string[] = [];
  position = 0;
  /** Called before a snapshot is recorded (to lose chunks at the worst moment). */
  beforeRecord: ((snapshotId: string, chunks: string[]) => void) | undefined;
  /** Fail every chunk upload after this many (a lost link). */
  failUploadsAfter = Infinity;
  uploads = 0;
  /** Batched upload requests. */
  batches = 0;
  /** Chunks the next batched uploads refuse (a node that did not answer for them), once each. */
  refuseInBatches = 0;
  infoCalls = 0;
  fetchCalls = 0;

  constructor(readonly account: string) {}

  private store(id: string, bytes: Buffer, want: string, length: number): boolean | BaksaError {
    if (sha256(bytes) !== want) return new BaksaError('CHUNK_HASH_MISMATCH', 'hash mismatch');
    if (this.chunks.has(id)) return false;
    this.chunks.set(id, { bytes, length, sha256: want });
    return true;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const url = new URL(path, 'https://cloud.test');
    const parts = url.pathname.split('/').slice(1).map(decodeURIComponent);
    assert.equal(parts.slice(0, 3), ['v1', 'accounts', this.account], `path ${path}`);
    const route = `${method} ${parts.slice(3).join('/')}`;
    this.calls.push(`${method} ${parts[3]}`);
    const ok = <V>(status: number, value: V) => ({ status, body: value as unknown as T });
    if (route === 'POST migration/need') {
      const { chunks } = body as { chunks: ChunkOffer[] };
      assert.ok(chunks.length >= 1 && chunks.length <= CLOUD_BATCH_MAX, `need with ${chunks.length}`);
      // The agent offers a chunk's sealed SHA-256 once it has recorded it (it hashes on upload).
      for (const c of chunks) if (c.sha256 !== undefined) assert.match(c.sha256, /^[0-9a-f]{64}$/);
      return ok(200, { need: [...new Set(chunks.map((c) => c.id))].filter((id) => !this.chunks.has(id)) });
    }
    if (method === 'PUT' && parts[3] === 'chunks') {
      const id = parts[4]!;
      if (this.uploads >= this.failUploadsAfter) throw new BaksaError('API_UNREACHABLE', 'the link is down');
      this.uploads++;
      assert.instance(body, Uint8Array);
      const stored = this.store(id, Buffer.from(body as Uint8Array), url.searchParams.get('sha256')!, Number(url.searchParams.get('length')));
      if (stored instanceof BaksaError) throw stored;
      return ok(stored ? 201 : 200, { id, stored });
    }
    if (route === 'POST chunks') {
      // Sent as pieces (the sealed chunks as they are); what goes on the wire is them in order.
      assert.instance(body, ByteParts);
      const frames = decodeFrames(Buffer.concat((body as ByteParts).parts), { headBytes: CHUNK_FRAME_HEAD_BYTES, countMax: UPLOAD_BATCH_CHUNKS_MAX, frameBytesMax: 1 << 24, batchBytesMax: 1 << 26 });
      this.batches++;
      const results = frames.map((f) => {
        const head = decodeChunkFrameHead(f.head);
        if (this.uploads >= this.failUploadsAfter) throw new BaksaError('API_UNREACHABLE', 'the link is down');
        this.uploads++;
        const refuse = this.refuseInBatches > 0;
        if (refuse) this.refuseInBatches--;
        const stored = refuse
          ? new BaksaError('API_UNREACHABLE', 'a node did not answer for this chunk')
          : this.store(head.id, Buffer.from(f.bytes), head.sha256, head.length);
        return stored instanceof BaksaError ? { id: head.id, error: { code: stored.code, message: stored.message } } : { id: head.id, stored };
      });
      return ok(200, { results });
    }
    if (method === 'PUT' && parts[3] === 'snapshots') {
      const snapshotId = parts[4]!;
      const record = JSON.parse(Buffer.from(body as Uint8Array).toString('utf8')) as { createdMs: number; rootChunks: string[]; chunks: string[] };
      const all = [...new Set([...record.chunks, ...record.rootChunks])];
      assert.is(all.length, record.chunks.length, 'every chunk once, root chunks included');
      const receipt = (position: number | null, recordedMs: number) => ({ snapshotId, account: this.account, cluster: 'c1', position, chain: position === null ? null : 'ab'.repeat(32), chunks: all.length, recordedMs });
      this.beforeRecord?.(snapshotId, all);
      const had = this.snapshots.get(snapshotId);
      if (had) return ok(200, receipt(null, had.recordedMs));
      const missing = all.filter((id) => !this.chunks.has(id));
      if (missing.length > 0) throw new BaksaError('CHUNKS_MISSING', `${missing.length} missing`, { details: { missing: missing.slice(0, 20), count: missing.length } });
      this.snapshots.set(snapshotId, { createdMs: record.createdMs, rootChunks: record.rootChunks, chunkCount: all.length, recordedMs: 1_800_000_000_000 });
      this.snapshotChunks.set(snapshotId, all);
      return ok(201, receipt(++this.position, 1_800_000_000_000));
    }
    if (route === 'GET snapshots') {
      return ok(200, [...this.snapshots].map(([snapshotId, s]) => ({ snapshotId, ...s })));
    }
    if (route === 'POST chunks/info') {
      this.infoCalls++;
      const { ids } = body as { ids: string[] };
      assert.ok(ids.length <= CLOUD_BATCH_MAX);
      return ok(200, ids.flatMap((id) => {
        const c = this.chunks.get(id);
        return c ? [{ id, length: c.length, sealedLength: c.bytes.length, sha256: c.sha256 }] : [];
      }));
    }
    if (route === 'POST chunks/fetch') {
      this.fetchCalls++;
      const { ids } = body as { ids: string[] };
      assert.ok(ids.length >= 2 && ids.length <= FETCH_BATCH_CHUNKS_MAX, `fetch of ${ids.length}`);
      const found = ids.map((id) => {
        const c = this.chunks.get(id);
        if (!c) throw new BaksaError('CHUNK_NOT_FOUND', 'no such chunk');
        return { head: Buffer.from(id, 'hex'), bytes: c.bytes };
      });
      assert.ok(found.reduce((n, f) => n + f.bytes.length, 0) <= FETCH_BATCH_BYTES_MAX);
      return ok(200, encodeFrames(found, 32));
    }
    if (method === 'GET' && parts[3] === 'chunks') {
      const c = this.chunks.get(parts[4]!);
      if (!c) throw new BaksaError('CHUNK_NOT_FOUND', 'no such chunk');
      return ok(200, Buffer.from(c.bytes));
    }
    throw new Error(`fake cloud: no route ${method} ${path}`);
  }

  close(): void {}
}

test('CloudClient: paths, batch limits, and answers it does not understand', async () => {
  const cloud = new FakeCloud('gw1.test.example');
  const client = new CloudClient(cloud, 'gw1.test.example');
  const offer = { id: hex(1), length: 10, sealedLength: 40, sha256: hex(2) };
  assert.equal(await client.need([offer]), [hex(1)]);
  assert.equal(await client.need([]), []);
  await client.need(Array.from({ length: CLOUD_BATCH_MAX + 1 }, () => offer)).then(
    () => assert.unreachable('more than a batch'),
    (e: Error) => assert.match(e.message, 'invariant'),
  );
  const ids = Array.from({ length: CLOUD_BATCH_MAX + 5 }, (_, i) => hex(i));
  assert.equal(await client.chunkInfo(ids), []);
  assert.is(cloud.infoCalls, 2);

  const liar: ApiTransport = {
    request: async <T>(_m: string, path: string) => ({ status: 200, body: (path.endsWith('need') ? { need: [hex(7)] } : { nope: true }) as T }),
    close() {},
  };
  const bad = new CloudClient(liar, 'gw1.test.example');
  await bad.need([offer]).then(
    () => assert.unreachable('an id that was not offered'),
    (e: BaksaError) => assert.is(e.code, 'CLOUD_BAD_ANSWER'),
  );
  await bad.putSnapshot('s1', { createdMs: 1, rootChunks: [hex(1)], chunks: [hex(1)] }).then(
    () => assert.unreachable('not a receipt'),
    (e: BaksaError) => assert.is(e.code, 'CLOUD_BAD_ANSWER'),
  );
  await bad.listSnapshots().then(
    () => assert.unreachable('not a list'),
    (e: BaksaError) => assert.is(e.code, 'CLOUD_BAD_ANSWER'),
  );
});

/** A fake cloud holding `plains` sealed with `ring`'s current keys; their chunk ids in order. */
async function cloudHolding(ring: KeyRing, plains: readonly Uint8Array[], compression: CompressionOptions): Promise<{ cloud: FakeCloud; ids: string[] }> {
  const cloud = new FakeCloud('gw1.test.example');
  const ids: string[] = [];
  for (const p of plains) {
    const id = chunkIdHex(ring.current, p);
    const sealed = await sealChunk(ring.current, id, p, compression);
    cloud.chunks.set(id, { bytes: Buffer.from(sealed), length: p.length, sha256: sha256(sealed) });
    ids.push(id);
  }
  return { cloud, ids };
}

test('CloudChunkReader: lookups of one turn go out as one call; content, length and hash are verified', async () => {
  const ring = KeyRing.fromRoot(randomBytes(32), 'gw1.test.example', 1);
  const plains = Array.from({ length: 30 }, (_, i) => pseudoRandom(1000 + i, i + 1));
  const { cloud, ids } = await cloudHolding(ring, plains, { algorithm: 'gzip', level: 6 });
  const reader = new CloudChunkReader(new CloudClient(cloud, 'gw1.test.example'), ring);
  const read = await Promise.all(ids.map((id) => reader.read(id)));
  for (let i = 0; i < plains.length; i++) assert.ok(Buffer.from(read[i]!).equals(plains[i]!));
  assert.is(cloud.infoCalls, 1, 'one info call for 30 reads started together');
  assert.is(cloud.fetchCalls, 1, 'and one download');
  assert.not.ok(cloud.calls.includes('GET chunks'));

  await reader.read(hex(99)).then(
    () => assert.unreachable('not in the cloud'),
    (e: BaksaError) => assert.is(e.code, 'CHUNK_NOT_IN_CLOUD'),
  );
  // A copy that is not what was recorded: named corrupt before any decryption.
  const victim = cloud.chunks.get(ids[3]!)!;
  victim.bytes[victim.bytes.length - 1]! ^= 1;
  const fresh = new CloudChunkReader(new CloudClient(cloud, 'gw1.test.example'), ring);
  await fresh.read(ids[3]!).then(
    () => assert.unreachable('a damaged copy'),
    (e: BaksaError) => assert.is(e.code, 'CHUNK_CORRUPT'),
  );
  // Another tenant's keys cannot open it (and the id check would catch a swapped chunk).
  const other = new CloudChunkReader(new CloudClient(cloud, 'gw1.test.example'), KeyRing.fromRoot(randomBytes(32), 'gw1.test.example', 1));
  await other.read(ids[4]!).then(
    () => assert.unreachable('wrong keys'),
    (e: Error) => assert.ok(e instanceof Error),
  );
});

test('CloudChunkReader on an opener thread: the chunks of one download come back right, and a dead thread means a download again and opening here', async () => {
  const ring = KeyRing.fromRoot(randomBytes(32), 'gw1.test.example', 1);
  const plains = Array.from({ length: 12 }, (_, i) => Buffer.from(sensorLines(2000 + i * 100, i * 10_000)));
  const { cloud, ids } = await cloudHolding(ring, plains, { algorithm: 'brotli', level: 1 });
  const pool = ChunkOpenPool.start(ring, 1);
  try {
    const reader = new CloudChunkReader(new CloudClient(cloud, 'gw1.test.example'), ring);
    reader.open = (id, object, lengthMax) => pool.open(id, object, lengthMax);
    const read = await Promise.all(ids.map((id) => reader.read(id)));
    for (let i = 0; i < plains.length; i++) assert.ok(Buffer.from(read[i]!).equals(plains[i]!), `chunk ${i}`);
    assert.is(cloud.fetchCalls, 1, 'one download for all of them: each was copied out of the shared answer');

    await pool.close(); // as if the thread had died
    const fresh = new CloudChunkReader(new CloudClient(cloud, 'gw1.test.example'), ring);
    fresh.open = (id, object, lengthMax) => pool.open(id, object, lengthMax);
    const downloads = () => cloud.calls.filter((c) => c === 'GET chunks').length;
    assert.ok(Buffer.from(await fresh.read(ids[5]!)).equals(plains[5]!));
    assert.is(downloads(), 2, 'the chunk was downloaded again');
    assert.ok(Buffer.from(await fresh.read(ids[6]!)).equals(plains[6]!));
    assert.is(downloads(), 3, 'and later ones are opened here, downloaded once');
  } finally {
    await pool.close();
  }
});

// ---- whole runs ----

function buildSource(src: string, variant = 0): void {
  mkdirSync(join(src, 'logs'), { recursive: true });
  mkdirSync(join(src, 'blobs'), { recursive: true });
  writeFileSync(join(src, 'logs', 'a.csv'), sensorLines(30_000 + variant * 2_000, 0, 'a'));
  writeFileSync(join(src, 'logs', 'b.csv'), sensorLines(12_000, 0, 'b'));
  writeFileSync(join(src, 'blobs', 'image.bin'), pseudoRandom(600_000, 3 + variant));
  writeFileSync(join(src, 'blobs', 'copy.bin'), pseudoRandom(600_000, 3));
  writeFileSync(join(src, 'empty.txt'), '');
  // A small file, kept in the manifest: it reaches the cloud with the manifest's chunks.
  writeFileSync(join(src, 'gateway.json'), JSON.stringify({ site: 'plant-1', line: 3, variant }));
}

/**
 * A gateway with one snapshot of `buildSource` (two with `twice`: the second after the source changed)
 * and a fake cloud for its account; `target` migrates to it now, uncapped (small-arm's window and cap
 * are not what these tests are about).
 */
async function gatewayWithSnapshots(root: string, twice: boolean) {
  const src = join(root, 'src');
  buildSource(src);
  const state = await freshState(root, [src]);
  const first = await runBackup(state, { type: 'snapshot' });
  if (twice) buildSource(src, 1);
  const second = twice ? await runBackup(state, { type: 'snapshot' }) : first;
  const account = tenantOf(state.config);
  const cloud = new FakeCloud(account);
  const client = new CloudClient(cloud, account);
  const target = { server: 'https://cloud.test', tlsDir: '/nonexistent', certName: account, client, window: null, bandwidthBytesPerS: 0 };
  return { src, state, first, second, cloud, client, target };
}

test('sizedGroups: runs within the chunk and byte limits, a chunk past the byte limit alone, order kept', () => {
  const sizes = [UPLOAD_BATCH_BYTES_MAX + 1, 10, ...Array.from({ length: UPLOAD_BATCH_CHUNKS_MAX + 3 }, () => 100), UPLOAD_BATCH_BYTES_MAX - 50, 60];
  const groups = sizedGroups(sizes.map((sealedLength, i) => ({ i, sealedLength })), UPLOAD_BATCH_CHUNKS_MAX, UPLOAD_BATCH_BYTES_MAX);
  assert.equal(groups.flat().map((o) => o.i), sizes.map((_, i) => i), 'every offer once, in order');
  assert.equal(groups[0]!.map((o) => o.i), [0]);
  for (const g of groups) {
    assert.ok(g.length <= UPLOAD_BATCH_CHUNKS_MAX);
    assert.ok(g.length === 1 || g.reduce((n, o) => n + o.sealedLength, 0) <= UPLOAD_BATCH_BYTES_MAX);
  }
  assert.is(groups.length, 5);
});

test('migrate: chunks travel in batches; a chunk the batch could not store goes again alone; offers carry recorded hashes only', async () => {
  const t = tempDir();
  try {
    const { state, cloud, target } = await gatewayWithSnapshots(t.path, false);
    cloud.refuseInBatches = 1;
    const run = await migrate(state.paths.root, target);
    assert.is(run.snapshotsMigrated, 1);
    assert.is(run.chunksSent, cloud.chunks.size, 'every chunk stored once, counted once');
    assert.ok(cloud.batches >= 1 && cloud.batches < run.chunksSent, `${cloud.batches} batches for ${run.chunksSent} chunks`);
    assert.equal(cloud.calls.filter((c) => c === 'PUT chunks'), ['PUT chunks'], 'only the refused chunk went alone');
    const catalog = await Catalog.open(state.paths.catalog);
    try {
      assert.is((await catalog.sealedHashes([...cloud.chunks.keys()])).size, cloud.chunks.size, 'hashed on upload and recorded');
    } finally {
      await catalog.close();
    }
  } finally {
    t.cleanup();
  }
});

test('migrate: interrupted, resumed without re-sending, re-run sends nothing, restore from the cloud without local shards', async () => {
  const t = tempDir();
  try {
    const { src, state, first, second, cloud, client, target } = await gatewayWithSnapshots(t.path, true);

    // The link goes down after 3 uploads.
    cloud.failUploadsAfter = 3;
    const progress: string[] = [];
    await migrate(state.paths.root, { ...target, concurrency: 1, onProgress: (p) => progress.push(p.phase) }).then(
      () => assert.unreachable('the link is down'),
      (e: BaksaError) => assert.is(e.code, 'API_UNREACHABLE'),
    );
    assert.is(cloud.chunks.size, 3);
    assert.is(cloud.snapshots.size, 0);
    assert.ok(progress.includes('offering'));

    // Resumed: the 3 stored chunks do not travel again; both snapshots are recorded, oldest first.
    cloud.failUploadsAfter = Infinity;
    const before = cloud.uploads;
    const run2 = await migrate(state.paths.root, target);
    assert.is(run2.snapshotsMigrated, 2);
    assert.is(run2.snapshotsSkipped, 0);
    assert.is(run2.chunksSent, cloud.uploads - before);
    assert.is(run2.chunksSent + 3, cloud.chunks.size, 'every chunk stored once');
    assert.is(run2.chunksDeduplicated, run2.chunksOffered - run2.chunksSent);
    assert.ok(run2.chunksDeduplicated >= 3);
    assert.equal([...cloud.snapshots.keys()], [first.snapshot.id, second.snapshot.id]);
    assert.ok(run2.bytesSent > 0 && run2.megabytesPerSecond >= 0);
    const catalog = await Catalog.open(state.paths.catalog);
    try {
      const receipt = JSON.parse((await catalog.getMeta(receiptKey(second.snapshot.id)))!);
      assert.is(receipt.snapshotId, second.snapshot.id);
      assert.is(receipt.position, 2);
      // The second snapshot's chunks the first one had were not offered again in the same run.
      assert.ok(run2.chunksOffered < run2.snapshots[0]!.chunks + run2.snapshots[1]!.chunks);
      assert.is((await catalog.sealedHashes([...cloud.chunks.keys()])).size, cloud.chunks.size);
    } finally {
      await catalog.close();
    }

    // Again: nothing to do, nothing sent, not even an offer.
    const calls = cloud.calls.length;
    const run3 = await migrate(state.paths.root, target);
    assert.is(run3.snapshotsMigrated, 0);
    assert.is(run3.snapshotsSkipped, 2);
    assert.is(run3.chunksSent, 0);
    assert.is(cloud.calls.length, calls);

    // A third snapshot shares chunks with the others: only the new ones travel. The cloud has lost one
    // of the shared chunks meanwhile: the offer asks for it, and it is sent again.
    const shared = cloud.snapshotChunks.get(second.snapshot.id)!.filter((id) => cloud.snapshotChunks.get(first.snapshot.id)!.includes(id));
    assert.ok(shared.length > 0);
    buildSource(src, 2);
    const third = await runBackup(state, { type: 'snapshot' });
    const lost = shared.at(-1)!;
    cloud.chunks.delete(lost);
    const run4 = await migrate(state.paths.root, { ...target, snapshot: 'latest' });
    assert.is(run4.snapshotsMigrated, 1);
    assert.ok(cloud.snapshotChunks.get(third.snapshot.id)!.includes(lost), 'the test loses a chunk the third snapshot needs');
    assert.ok(cloud.chunks.has(lost), 'the lost chunk is back');
    assert.ok(run4.chunksDeduplicated > 0 && run4.chunksSent < run4.snapshots[0]!.chunks);

    // Restore from the cloud with the local shard store gone: byte-identical.
    rmSync(state.paths.shards, { recursive: true, force: true });
    const ring = await loadKeyRing(state.paths, state.config);
    const listed = await client.listSnapshots();
    const snap = listed.find((s) => s.snapshotId === third.snapshot.id)!;
    const target2 = join(t.path, 'restored');
    const summary = await restoreSnapshot(new CloudChunkReader(client, ring), { id: snap.snapshotId, rootChunks: snap.rootChunks }, { target: target2, memoryBudgetBytes: 8 << 20 });
    assert.is(summary.files, 6);
    assertSameTree(snapshotTree(join(target2, src)), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test('migrate: a chunk the cloud loses within a run (CHUNKS_MISSING) is offered and sent again', async () => {
  const t = tempDir();
  try {
    const { state, first, second, cloud, target } = await gatewayWithSnapshots(t.path, true);
    let lost: string | undefined;
    cloud.beforeRecord = (id, chunks) => {
      if (id !== second.snapshot.id || lost) return;
      // A chunk of both snapshots: confirmed for the first, so not offered again for the second.
      lost = cloud.snapshotChunks.get(first.snapshot.id)!.filter((c) => chunks.includes(c)).at(-1)!;
      cloud.chunks.delete(lost);
    };
    const summary = await migrate(state.paths.root, target);
    assert.is(summary.snapshotsMigrated, 2);
    assert.ok(lost && cloud.chunks.has(lost), 'sent again');
    assert.is(cloud.calls.filter((c) => c === 'PUT snapshots').length, 3, 'the second snapshot was recorded at the second try');
    assert.ok(cloud.snapshots.has(second.snapshot.id));
  } finally {
    t.cleanup();
  }
});

test('migrate: a chunk the catalog lost is named; a snapshot ref that does not exist is refused', async () => {
  const t = tempDir();
  try {
    const { state, cloud, target } = await gatewayWithSnapshots(t.path, false);
    await migrate(state.paths.root, { ...target, snapshot: 'ffff' }).then(
      () => assert.unreachable('no such snapshot'),
      (e: BaksaError) => assert.is(e.code, 'SNAPSHOT_NOT_FOUND'),
    );
    const catalog = await Catalog.open(state.paths.catalog);
    const snap = await catalog.findSnapshot('latest');
    const victim = (await catalog.chunkPage('', 1000)).find((c) => !snap.rootChunks.includes(c.id))!;
    await catalog.deleteChunks([victim.id]);
    await catalog.close();
    await migrate(state.paths.root, target).then(
      () => assert.unreachable('a chunk is gone'),
      (e: BaksaError) => assert.is(e.code, 'CHUNK_UNKNOWN'),
    );
    assert.is(cloud.snapshots.size, 0, 'no snapshot recorded');
  } finally {
    t.cleanup();
  }
});

test('migrate: an alarm profile\'s snapshot goes before an older bulk one; a gone profile counts as normal', async () => {
  const t = tempDir('baksa-migrate-prio-');
  try {
    // Three profiles like small-arm but for their priority; "gone" is deleted before migrating.
    const profile = (name: string, priority: PriorityClass) => {
      const p = JSON.parse(readFileSync(join(profilesDir, 'small-arm.json'), 'utf8')) as { name: string; migration: Record<string, unknown> };
      p.name = name;
      p.migration.priority = priority;
      const path = join(t.path, `${name}.json`);
      writeFileSync(path, JSON.stringify(p));
      return path;
    };
    const bulk = profile('bulk-logs', 'bulk');
    const gone = profile('gone', 'alarm');
    const alarms = profile('alarms', 'alarm');
    const src = join(t.path, 'src');
    mkdirSync(src);
    const backupWith = async (stateDir: string, profilePath: string, lines: number) => {
      await writeConfig(stateDir, { ...(await readConfig(stateDir)), profile: profilePath });
      writeFileSync(join(src, 'a.log'), sensorLines(lines));
      return (await runBackup(await loadState(stateDir), { type: 'snapshot' })).snapshot;
    };
    const state = await freshState(t.path, [src], bulk);
    const s1 = await backupWith(state.paths.root, bulk, 200);
    const s2 = await backupWith(state.paths.root, gone, 400);
    const s3 = await backupWith(state.paths.root, alarms, 600);
    assert.equal([s1.profile, s2.profile, s3.profile], [bulk, gone, alarms]);
    assert.ok(s1.timeMs <= s2.timeMs && s2.timeMs <= s3.timeMs, 'taken in this order');
    rmSync(gone);

    const account = tenantOf(state.config);
    const cloud = new FakeCloud(account);
    const target = { server: 'https://cloud.test', tlsDir: '/nonexistent', certName: account, client: new CloudClient(cloud, account), window: null, bandwidthBytesPerS: 0 };
    const recorded: Array<[string, string]> = [];
    const summary = await migrate(state.paths.root, { ...target, onProgress: (p) => p.phase === 'done' && recorded.push([p.snapshotId, p.priority]) });
    const expected = [[s3.id, 'alarm'], [s2.id, 'normal'], [s1.id, 'bulk']];
    assert.equal(summary.snapshots.map((m) => [m.snapshotId, m.priority]), expected);
    assert.equal(recorded, expected);
    assert.equal([...cloud.snapshots.keys()], [s3.id, s2.id, s1.id], 'recorded in the cloud in that order');

    // Run again: all skipped, listed in the same order with their classes.
    const again = await migrate(state.paths.root, target);
    assert.is(again.snapshotsSkipped, 3);
    assert.equal(again.snapshots.map((m) => [m.snapshotId, m.priority, m.status]), expected.map((e) => [...e, 'skipped']));
  } finally {
    t.cleanup();
  }
});

test('outside the profile window, migrate refuses with the window and the time, and sends nothing', async () => {
  const t = tempDir('baksa-migrate-window-');
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.log'), sensorLines(200));
    const state = await freshState(t.path, [src]);
    await runBackup(state, { type: 'snapshot' });
    let calls = 0;
    const client = { offer: async () => { calls++; return []; } } as unknown as CloudClient;
    const e = await migrate(state.paths.root, { server: 'https://cloud.test', tlsDir: '/x', certName: 'x', client, now: () => new Date(2026, 0, 1, 14, 0) }).then(
      (): BaksaError => {
        throw new Error('migrated outside the window');
      },
      (err: BaksaError) => err,
    );
    assert.is(e.code, 'MIGRATION_WINDOW_CLOSED');
    assert.match(e.message, /01:00 to 05:00.*14:00/);
    assert.is(calls, 0);
  } finally {
    t.cleanup();
  }
});

test('the migration window (local time, end minute included, wrapping past midnight) and the pacer', async () => {
  const at = (h: number, m: number) => new Date(2026, 0, 1, h, m);
  const night = { start: '01:00', end: '05:00' };
  assert.equal([at(0, 59), at(1, 0), at(4, 59), at(5, 0), at(5, 1), at(14, 0)].map((d) => insideWindow(night, d)), [false, true, true, true, false, false]);
  const wrap = { start: '22:00', end: '02:00' };
  assert.equal([at(21, 59), at(22, 0), at(23, 59), at(0, 0), at(2, 0), at(2, 1)].map((d) => insideWindow(wrap, d)), [false, true, true, true, true, false]);
  assert.ok(insideWindow({ start: '00:00', end: '23:59' }, at(23, 59)), 'x86-edge: all day');
  // 5 sends of 20 KB at 200 KB/s take about 0.4 s after the first (time is only bounded from below).
  const pacer = new Pacer(200_000);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 5 }, () => pacer.take(20_000)));
  assert.ok(performance.now() - t0 >= 380, `paced: ${performance.now() - t0} ms`);
});

test('several nodes: a request its node does not answer goes to the next, which is asked first from then on; a refusal is final', async () => {
  const calls: string[] = [];
  const down = new Set(['a']);
  const node = (name: string): ApiTransport => ({
    async request<T>(method: string, path: string): Promise<{ status: number; body: T }> {
      calls.push(`${name} ${method} ${path}`);
      if (down.has(name)) throw new BaksaError('API_UNREACHABLE', `${name}: connect ECONNREFUSED`);
      if (path === '/refused') throw new BaksaError('QUOTA_EXCEEDED', 'at the hard limit');
      return { status: 200, body: name as T };
    },
    close: () => calls.push(`${name} closed`),
  });
  const switches: string[] = [];
  const t = new FailoverTransport(['https://a', 'https://b'], (url) => node(url.slice(8)), { onSwitch: (from, to) => switches.push(`${from} -> ${to}`) });
  assert.is(t.add(['https://b', 'https://c']), 1, 'a node learnt later is added once, after the given ones');
  assert.equal(t.known, ['https://a', 'https://b', 'https://c']);
  assert.is((await t.request('GET', '/x')).body, 'b');
  assert.is((await t.request('GET', '/y')).body, 'b', 'the node that answered is asked first');
  assert.equal(calls, ['a GET /x', 'b GET /x', 'b GET /y']);
  assert.equal(switches, ['https://a -> https://b']);
  calls.length = 0;
  try {
    await t.request('POST', '/refused');
    assert.unreachable();
  } catch (e) {
    assert.is((e as BaksaError).code, 'QUOTA_EXCEEDED');
  }
  assert.equal(calls, ['b POST /refused'], "a refusal is the cluster's answer: not asked again elsewhere");
  down.add('b').add('c');
  try {
    await t.request('GET', '/z');
    assert.unreachable();
  } catch (e) {
    const err = e as BaksaError;
    assert.is(err.code, 'API_UNREACHABLE');
    assert.is(err.exitCode, 5);
    assert.match(err.message, /none of the 3 aggregator nodes answered GET \/z: https:\/\/b: .*; https:\/\/c: .*; https:\/\/a: /);
  }
  t.close();
  assert.ok(['a closed', 'b closed', 'c closed'].every((c) => calls.includes(c)));
  assert.equal(serverList(' https://a:1, https://b:2,,'), ['https://a:1', 'https://b:2']);
  // The cluster's node list: its https URLs only, whatever else it holds.
  assert.equal(clusterNodeUrls({ cluster: 'dc1', nodes: [{ name: 'a', apiUrl: 'https://a:1' }, { apiUrl: 'http://b:2' }, { apiUrl: 'https://c:3,https://d:4' }, 'x', { apiUrl: 7 }] }), ['https://a:1']);
  assert.equal(clusterNodeUrls({ error: 'not found' }), []);
});

test.run();
