// Node-to-node shard routes (aggregator/api/routes-internal.ts) between two real API servers with mutual
// TLS 1.3 from one test CA (DESIGN §8: RBAC from the certificate role; only `replica` may move shards),
// and a cluster store healing a shard on the other node through them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCertificate, loadTlsMaterial, tlsClientOptions } from '../../../shared/crypto/pki.ts';
import type { Database } from '../../../shared/db/index.ts';
import { BaksaError } from '../../../shared/errors.ts';
import { ReedSolomon } from '../../../shared/erasure/index.ts';
import { silentLogger } from '../../../shared/log.ts';
import { FsShardStore, shardIdOf } from '../../../shared/storage/index.ts';
import { openAccountDb } from '../../../aggregator/accounts/index.ts';
import { ApiClient, LocalCasSink, createApiServer, type ApiServer } from '../../../aggregator/api/index.ts';
import { internalRoutes } from '../../../aggregator/api/routes-internal.ts';
import { ClusterStore, HttpShardPeer, LocalShardPeer, type ShardPeer } from '../../../aggregator/storage/index.ts';
import { encodeFrames } from '../../../shared/http/frames.ts';

const SHARD_BYTES_MAX = 64 * 1024;
const BATCH_LIMITS = { shardBatchCountMax: 16, shardBatchBytesMax: 256 * 1024 };

interface Node {
  name: string;
  db: Database;
  store: FsShardStore;
  server: ApiServer;
  url: string;
}

let dir: string;
let pki: string;
const nodes: Node[] = [];
const clients: ApiClient[] = [];

async function startNode(name: string): Promise<Node> {
  const db = await openAccountDb(join(dir, `${name}.db`), { durable: false });
  const store = await FsShardStore.open({ volumes: [join(dir, name, 'v0')], volumeReserveBytes: 0 });
  const server = await createApiServer({
    db, tls: loadTlsMaterial(pki, name), sink: new LocalCasSink(join(dir, name, 'cas')), logger: silentLogger,
    extraRoutes: internalRoutes(store, { shardBytesMax: SHARD_BYTES_MAX, ...BATCH_LIMITS }),
  });
  return { name, db, store, server, url: await server.listen(0, '127.0.0.1') };
}

function client(to: Node, as: string): ApiClient {
  const c = new ApiClient(to.url, loadTlsMaterial(pki, as), { timeoutMs: 5000 });
  clients.push(c);
  return c;
}

function peer(to: Node, as: string): HttpShardPeer {
  return new HttpShardPeer(to.name, client(to, as), { shardBytesMax: SHARD_BYTES_MAX, ...BATCH_LIMITS });
}

/** One request with a given certificate, answering the status and the error code (no ApiClient mapping). */
function raw(to: Node, as: string, method: string, path: string, body?: Uint8Array, chunked = false): Promise<{ status: number; code?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, to.url), {
      method,
      ...tlsClientOptions(loadTlsMaterial(pki, as)),
      headers: body ? { 'content-type': 'application/octet-stream', ...(chunked ? {} : { 'content-length': String(body.length) }) } : {},
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        let code: string | undefined;
        if ((res.headers['content-type'] ?? '').includes('json')) code = (JSON.parse(all.toString('utf8')) as { error?: { code?: string } }).error?.code;
        resolve({ status: res.statusCode ?? 0, code, body: all });
      });
    });
    req.on('error', reject);
    if (body && chunked) {
      // No Content-Length: the server only learns the size by reading.
      for (let at = 0; at < body.length; at += 8192) req.write(Buffer.from(body.subarray(at, at + 8192)));
      req.end();
    } else req.end(body ? Buffer.from(body) : undefined);
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baksa-shards-'));
  pki = join(dir, 'pki');
  await initCa(pki);
  for (const name of ['node-a', 'node-b']) await issueCertificate(pki, { name, role: 'replica' });
  await issueCertificate(pki, { name: 'admin-1', role: 'admin' });
  await issueCertificate(pki, { name: 'operator-1', role: 'operator' });
  nodes.push(await startNode('node-a'), await startNode('node-b'));
});

test.after(async () => {
  for (const c of clients) c.close();
  for (const n of nodes) {
    await n.server.close();
    await n.store.close();
    await n.db.close();
  }
  rmSync(dir, { recursive: true, force: true });
});

test('a replica puts a shard on another node and gets it back byte-identical; missing is undefined', async () => {
  const [, b] = nodes as [Node, Node];
  const p = peer(b, 'node-a');
  const data = new Uint8Array(randomBytes(5000));
  const id = shardIdOf(data);
  await p.put(id, data);
  assert.ok(await b.store.has(id), 'stored on node-b');
  const back = await p.get(id);
  assert.ok(back);
  assert.equal(Buffer.from(back), Buffer.from(data));
  assert.is(await p.get(shardIdOf(new Uint8Array([1, 2, 3]))), undefined);
  assert.is(await p.delete(id), true);
  assert.is(await p.delete(id), false);
  assert.is(await p.get(id), undefined);
});

test('a body that does not hash to the id is refused with 400 SHARD_ID_MISMATCH and not stored', async () => {
  const [, b] = nodes as [Node, Node];
  const body = new Uint8Array(randomBytes(100));
  const wrongId = shardIdOf(new Uint8Array(randomBytes(100)));
  const r = await raw(b, 'node-a', 'PUT', `/v1/internal/shards/${wrongId}`, body);
  assert.is(r.status, 400);
  assert.is(r.code, 'SHARD_ID_MISMATCH');
  assert.not.ok(await b.store.has(shardIdOf(body)));
  assert.not.ok(await b.store.has(wrongId));
  try {
    await peer(b, 'node-a').put(wrongId, body);
    assert.unreachable('a mismatched put must throw');
  } catch (e) {
    assert.instance(e, BaksaError);
    assert.is((e as BaksaError).code, 'SHARD_ID_MISMATCH');
  }
});

test('a shard larger than shardBytesMax is 413; a malformed id is 400', async () => {
  const [, b] = nodes as [Node, Node];
  const big = new Uint8Array(SHARD_BYTES_MAX + 1);
  const r = await raw(b, 'node-a', 'PUT', `/v1/internal/shards/${shardIdOf(big)}`, big);
  assert.is(r.status, 413);
  assert.is(r.code, 'PAYLOAD_TOO_LARGE');
  assert.not.ok(await b.store.has(shardIdOf(big)));
  const streamed = await raw(b, 'node-a', 'PUT', `/v1/internal/shards/${shardIdOf(big)}`, big, true);
  assert.is(streamed.status, 413, 'refused while reading a body without Content-Length');
  assert.is(streamed.code, 'PAYLOAD_TOO_LARGE');
  const fits = big.subarray(0, SHARD_BYTES_MAX);
  assert.is((await raw(b, 'node-a', 'PUT', `/v1/internal/shards/${shardIdOf(fits)}`, fits, true)).status, 204, 'exactly the limit is fine');
  const bad = await raw(b, 'node-a', 'GET', `/v1/internal/shards/${'A'.repeat(64)}`);
  assert.is(bad.status, 400);
});

test('admin and operator certificates get 403 on every shard route; their peer sees nothing and cannot put', async () => {
  const [, b] = nodes as [Node, Node];
  const data = new Uint8Array(randomBytes(64));
  const id = shardIdOf(data);
  await peer(b, 'node-a').put(id, data);
  for (const who of ['admin-1', 'operator-1']) {
    for (const [method, body] of [['PUT', data], ['GET', undefined], ['DELETE', undefined]] as const) {
      const r = await raw(b, who, method, `/v1/internal/shards/${id}`, body);
      assert.is(r.status, 403, `${who} ${method}`);
      assert.is(r.code, 'FORBIDDEN');
    }
    const p = peer(b, who);
    // A refusal is not an answer about the shard: the read fails (so nothing is healed onto that node).
    await p.get(id).then(
      () => assert.unreachable(`${who} read a shard`),
      (e: BaksaError) => assert.is(e.code, 'API_UNREACHABLE'),
    );
    try {
      await p.put(id, data);
      assert.unreachable(`${who} may not put`);
    } catch (e) {
      assert.is((e as BaksaError).code, 'FORBIDDEN');
    }
  }
  assert.ok(await b.store.has(id), 'nothing deleted by a refused call');
});

test('a shard batch: the bad shard fails alone, the rest is stored; a batch past its limits is split by the sender, refused by the receiver', async () => {
  const [, b] = nodes as [Node, Node];
  const p = peer(b, 'node-a');
  const shards = [randomBytes(1000), randomBytes(2000), randomBytes(3000)].map((bytes) => ({ id: shardIdOf(bytes), bytes: new Uint8Array(bytes) }));
  const wrong = { id: shardIdOf(new Uint8Array(randomBytes(10))), bytes: new Uint8Array(randomBytes(10)) };
  const outcomes = await p.putMany([shards[0]!, wrong, shards[1]!, shards[2]!]);
  assert.equal(outcomes.map((o) => o === undefined), [true, false, true, true]);
  assert.match(outcomes[1]!, /SHARD_ID_MISMATCH/);
  for (const s of shards) assert.ok(await b.store.has(s.id), 'the good shards are stored');
  assert.not.ok(await b.store.has(wrong.id), 'nothing under the wrong name');
  assert.not.ok(await b.store.has(shardIdOf(wrong.bytes)), 'nor under its own');

  // 40 shards of 30 KiB: more than 16 a request and 256 KiB a request; the peer sends several requests.
  const many = Array.from({ length: 40 }, () => {
    const bytes = new Uint8Array(randomBytes(30 * 1024));
    return { id: shardIdOf(bytes), bytes };
  });
  assert.ok((await p.putMany(many)).every((o) => o === undefined));
  for (const s of many) assert.ok(await b.store.has(s.id));

  // The receiver refuses a batch past its bytes (413, by Content-Length or while reading), past its count
  // or a shard past shardBytesMax (400), and bytes that are not a batch (400); nothing of them is stored.
  const big = encodeFrames(many.slice(0, 9).map((s) => ({ head: Buffer.from(s.id, 'hex'), bytes: s.bytes })), 32);
  for (const chunked of [false, true]) {
    const r = await raw(b, 'node-a', 'POST', '/v1/internal/shards/batch', big, chunked);
    assert.equal([r.status, r.code], [413, 'PAYLOAD_TOO_LARGE'], `chunked ${chunked}`);
  }
  const tiny = Array.from({ length: 17 }, (_, i) => ({ head: Buffer.from(shardIdOf(new Uint8Array([i])), 'hex'), bytes: new Uint8Array([i]) }));
  assert.equal([(await raw(b, 'node-a', 'POST', '/v1/internal/shards/batch', encodeFrames(tiny, 32))).status], [400]);
  const huge = new Uint8Array(SHARD_BYTES_MAX + 1);
  const alone = await p.putMany([many[0]!, { id: shardIdOf(huge), bytes: huge }]);
  assert.is(alone[0], undefined);
  assert.match(alone[1]!, /PAYLOAD_TOO_LARGE/, 'a shard past shardBytesMax fails alone, not sent');
  assert.is((await raw(b, 'node-a', 'POST', '/v1/internal/shards/batch', encodeFrames([{ head: Buffer.from(shardIdOf(huge), 'hex'), bytes: huge }], 32))).status, 400);
  assert.not.ok(await b.store.has(shardIdOf(huge)));
  const junk = await raw(b, 'node-a', 'POST', '/v1/internal/shards/batch', new Uint8Array(randomBytes(100)));
  assert.equal([junk.status, junk.code], [400, 'BAD_REQUEST']);
  for (const who of ['admin-1', 'operator-1']) {
    assert.is((await raw(b, who, 'POST', '/v1/internal/shards/batch', encodeFrames(tiny.slice(0, 1), 32))).status, 403, who);
  }
  assert.not.ok(await b.store.has(shardIdOf(new Uint8Array([0]))));
});

test('a shard corrupt on disk reads as missing (404) and is removed, so a heal can write it again', async () => {
  const [, b] = nodes as [Node, Node];
  const data = new Uint8Array(randomBytes(300));
  const id = shardIdOf(data);
  const p = peer(b, 'node-a');
  await p.put(id, data);
  const flipped = Buffer.from(data);
  flipped[0] = flipped[0]! ^ 1;
  writeFileSync(b.store.volumes[0]!.shardPath(id), flipped);
  const r = await raw(b, 'node-a', 'GET', `/v1/internal/shards/${id}`);
  assert.is(r.status, 404);
  assert.not.ok(await b.store.has(id));
  await p.put(id, data);
  assert.equal(Buffer.from((await p.get(id))!), Buffer.from(data));
});

test('a cluster store on node-a heals a shard lost on node-b through the internal routes', async () => {
  const [a, b] = nodes as [Node, Node];
  const store = new ClusterStore({
    self: 'node-a',
    members: [{ id: 'node-a', rack: 'r1' }, { id: 'node-b', rack: 'r2' }],
    peers: new Map<string, ShardPeer>([['node-a', new LocalShardPeer('node-a', a.store)], ['node-b', peer(b, 'node-a')]]),
    rs: new ReedSolomon(1, 1, { kernel: 'ts' }),
    segmentBytes: 16 * 1024,
    shardBytesMax: SHARD_BYTES_MAX,
  });
  const data = new Uint8Array(randomBytes(40_000));
  const ref = await store.putObject('acct/obj-1', (async function* () { yield data; })(), { bytesMax: 1 << 20 });
  const manifest = ref.manifest;
  const onB = manifest.nodes.indexOf('node-b');
  assert.ok(onB >= 0);
  assert.ok(await b.store.delete(manifest.shards[onB]!));
  const first = await store.scrubBlob('acct/obj-1/manifest', manifest);
  assert.equal(first.healed, [onB]);
  assert.equal(first.ref.nodes, manifest.nodes, 'healed in place, on node-b');
  assert.ok(await b.store.has(manifest.shards[onB]!));
  assert.equal((await store.scrubBlob('acct/obj-1/manifest', manifest)).healed, []);
  const parts: Uint8Array[] = [];
  for await (const part of store.getObject('acct/obj-1', ref)) parts.push(part);
  assert.equal(Buffer.concat(parts), Buffer.from(data));
});

test('the internal routes are in the OpenAPI document, replica only', () => {
  const [a] = nodes as [Node];
  const paths = a.server.openapi.paths as Record<string, Record<string, { 'x-roles': string[] }>>;
  const shard = paths['/v1/internal/shards/{id}'];
  assert.ok(shard);
  for (const method of ['put', 'get', 'delete']) assert.equal(shard[method]?.['x-roles'], ['replica'], method);
  assert.equal(paths['/v1/internal/shards/batch']?.post?.['x-roles'], ['replica']);
});

test.run();
