// The cluster store (aggregator/storage): Reed–Solomon stripes over in-process members in two racks
// (DESIGN §3 steps 5–6: erasure coding, failure-domain-aware placement), healing on read and scrub.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { BaksaError } from '../../../shared/errors.ts';
import { ReedSolomon, splitIntoShards } from '../../../shared/erasure/index.ts';
import { place } from '../../../shared/placement/index.ts';
import { MemoryShardStore, shardIdOf } from '../../../shared/storage/index.ts';
import {
  ClusterStore, LocalShardPeer, checkObjectRef, defaultGeometry, putShardsGrouped, type BlobRef, type ClusterMember, type ObjectRef, type ShardPeer,
} from '../../../aggregator/storage/index.ts';

/** A member that can be switched off (puts refused, gets unanswered) or made to send damaged bytes. */
class SwitchablePeer implements ShardPeer {
  down = false;
  lies = false;
  puts = 0;
  /** putMany calls (batched puts). */
  batches = 0;
  /** getMany calls (batched reads). */
  fetches = 0;
  /** Set to say, as this node's own store does, that what get returns was hashed against its id. */
  checksReads: boolean | undefined;
  constructor(readonly inner: LocalShardPeer) {}
  get node(): string {
    return this.inner.node;
  }
  async put(id: string, bytes: Uint8Array): Promise<void> {
    if (this.down) throw new BaksaError('API_UNREACHABLE', `${this.node} is down`);
    this.puts++;
    await this.inner.put(id, bytes);
  }
  async putMany(shards: readonly { id: string; bytes: Uint8Array }[]): Promise<Array<string | undefined>> {
    if (this.down) return shards.map(() => `API_UNREACHABLE: ${this.node} is down`);
    this.puts += shards.length;
    this.batches++;
    return this.inner.putMany(shards);
  }
  async get(id: string): Promise<Uint8Array | undefined> {
    if (this.down) throw new BaksaError('API_UNREACHABLE', `${this.node} is down`);
    const bytes = await this.inner.get(id);
    if (bytes !== undefined && this.lies && bytes.length > 0) bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0x80;
    return bytes;
  }
  async getMany(ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    if (this.down) return out;
    this.fetches++;
    for (const id of ids) {
      const bytes = await this.get(id);
      if (bytes !== undefined) out.set(id, bytes);
    }
    return out;
  }
  async delete(id: string): Promise<boolean> {
    if (this.down) throw new BaksaError('API_UNREACHABLE', `${this.node} is down`);
    return this.inner.delete(id);
  }
}

interface Cluster {
  store: ClusterStore;
  members: ClusterMember[];
  stores: Map<string, MemoryShardStore>;
  peers: Map<string, SwitchablePeer>;
}

function cluster(options: { nodes?: number; k?: number; m?: number; segmentBytes?: number; names?: (i: number) => string } = {}): Cluster {
  const nodes = options.nodes ?? 6;
  const name = options.names ?? ((i: number) => `n${i + 1}`);
  const members = Array.from({ length: nodes }, (_, i) => ({ id: name(i), rack: i < nodes / 2 ? 'rack-a' : 'rack-b' }));
  const stores = new Map<string, MemoryShardStore>();
  const peers = new Map<string, SwitchablePeer>();
  for (const m of members) {
    const s = new MemoryShardStore();
    stores.set(m.id, s);
    peers.set(m.id, new SwitchablePeer(new LocalShardPeer(m.id, s)));
  }
  const rs = new ReedSolomon(options.k ?? 2, options.m ?? 2, { kernel: 'ts' });
  const store = new ClusterStore({ self: members[0]!.id, members, peers, rs, segmentBytes: options.segmentBytes ?? 1000 });
  return { store, members, stores, peers };
}

const bytes = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

async function* chunks(data: Uint8Array, sizes: number[]): AsyncIterable<Uint8Array> {
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.subarray(at, at + n);
    at += n;
  }
}

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<BaksaError> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, BaksaError, `expected BaksaError ${code}, got ${String(e)}`);
    assert.is((e as BaksaError).code, code, (e as Error).message);
    return e as BaksaError;
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

function rackOf(c: Cluster, node: string): string {
  return c.members.find((m) => m.id === node)!.rack;
}

function totalShards(c: Cluster): Promise<number> {
  return Promise.all([...c.stores.values()].map((s) => s.space())).then((all) => all.reduce((a, v) => a + v[0]!.shards, 0));
}

test('blobs of 0, 1 and an odd number of bytes read back byte-identical, each shard on its recorded member', async () => {
  const c = cluster();
  for (const n of [0, 1, 3, 777, 1001]) {
    const data = bytes(n);
    const ref = await c.store.putBlob(`blob-${n}`, data);
    assert.is(ref.length, n);
    assert.is(ref.shards.length, n === 0 ? 0 : 4);
    for (const [i, id] of ref.shards.entries()) assert.ok(await c.stores.get(ref.nodes[i]!)!.has(id), `shard ${i} of ${n} bytes is on ${ref.nodes[i]}`);
    assert.is(new Set(ref.nodes).size, ref.nodes.length, 'distinct members');
    const back = await c.store.getBlob(`blob-${n}`, ref);
    assert.equal(Buffer.from(back.bytes), Buffer.from(data), `${n} bytes`);
    assert.equal(back.healed, []);
  }
});

test('objects stream in segments: sizes 0, 1, odd, exactly two segments and several, from uneven input chunks', async () => {
  const c = cluster({ segmentBytes: 1000 });
  for (const n of [0, 1, 999, 2000, 3517]) {
    const data = bytes(n);
    const ref = await c.store.putObject(`obj-${n}`, chunks(data, [7, 1500, 333]), { bytesMax: 10_000 });
    assert.is(ref.length, n);
    assert.is(ref.sha256, Buffer.from(await crypto.subtle.digest('SHA-256', data)).toString('hex'));
    const back = await readAll(c.store.getObject(`obj-${n}`, ref));
    assert.equal(Buffer.from(back), Buffer.from(data), `${n} bytes`);
  }
  // 3517 bytes in 1000-byte segments: 4 segment stripes and a manifest stripe, 4 shards each.
  const before = await totalShards(c);
  await c.store.putObject('count-me', chunks(bytes(3517), [4096]), { bytesMax: 10_000 });
  assert.is((await totalShards(c)) - before, 5 * 4);
});

test('a stripe is the blob padded to k shards, whitened whole (AES-256-CTR of its key) and encoded: the same shards across whitening pieces', async () => {
  const { store, stores } = cluster({ k: 2, m: 2 });
  const rs = new ReedSolomon(2, 2, { kernel: 'ts' });
  // Lengths around the whitener's 64 KiB pieces and with padding (odd lengths over 2 data shards).
  for (const length of [1, 3, 65_535, 65_536, 131_073, 200_003]) {
    const key = `blob-${length}`;
    const bytes = randomBytes(length);
    const ref = await store.putBlob(key, bytes);
    // The definition (whiten.ts): the padded data shards XORed with one keystream from offset 0.
    const shards = splitIntoShards(bytes, 2, 2);
    const data = new Uint8Array(shards[0]!.buffer, shards[0]!.byteOffset, 2 * shards[0]!.length);
    const aesKey = createHash('sha256').update('2baksa/v1/cluster-blob-whitening').update('\0').update(key, 'utf8').digest();
    data.set(createCipheriv('aes-256-ctr', aesKey, Buffer.alloc(16)).update(data));
    rs.encode(shards);
    assert.equal(ref.shards, shards.map(shardIdOf), `shard ids of ${length} bytes`);
    for (const [i, id] of ref.shards.entries()) assert.equal(await stores.get(ref.nodes[i]!)!.get(id), shards[i], `shard ${i} of ${length} bytes`);
    assert.equal((await store.getBlob(key, ref)).bytes, new Uint8Array(bytes), `read back ${length} bytes`);
  }
});

test('an ObjectRef stays small as JSON (k + m = 8, long node names) and passes its own check', async () => {
  const c = cluster({ nodes: 10, k: 6, m: 2, segmentBytes: 600, names: (i) => `storage-node-${String(i).padStart(2, '0')}.dc1.example.org` });
  const ref = await c.store.putObject('big-name', chunks(bytes(60_000), [4096]), { bytesMax: 100_000 });
  const json = JSON.stringify(ref);
  assert.ok(json.length < 1200, `ObjectRef is ${json.length} bytes of JSON`);
  const parsed = JSON.parse(json) as ObjectRef;
  checkObjectRef('big-name', parsed);
  assert.is((await readAll(c.store.getObject('big-name', parsed))).length, 60_000);
});

test('placement is rack-aware: no rack holds more than m shards of a stripe', async () => {
  const c = cluster();
  const perRackMax: number[] = [];
  for (let i = 0; i < 40; i++) {
    const ref = await c.store.putBlob(`rack-${i}`, bytes(64));
    const count = new Map<string, number>();
    for (const node of ref.nodes) count.set(rackOf(c, node), (count.get(rackOf(c, node)) ?? 0) + 1);
    perRackMax.push(Math.max(...count.values()));
  }
  assert.ok(perRackMax.every((x) => x <= 2), `per-rack maxima ${perRackMax.join(',')}`);
  // Three members per rack: without the rack rule, 40 random stripes would put 3 in one rack.
  assert.is(perRackMax.filter((x) => x === 2).length, 40);
});

test('a deleted and a corrupt shard: the read is byte-identical, heals both, and the next read heals nothing', async () => {
  const c = cluster();
  const data = bytes(777);
  const ref = await c.store.putBlob('heal-me', data);
  await c.stores.get(ref.nodes[0]!)!.delete(ref.shards[0]!);
  c.stores.get(ref.nodes[1]!)!.corrupt(ref.shards[1]!);
  const first = await c.store.getBlob('heal-me', ref);
  assert.equal(Buffer.from(first.bytes), Buffer.from(data));
  assert.equal(first.healed, [0, 1]);
  assert.equal(first.ref.nodes, ref.nodes, 'healed in place');
  for (const i of [0, 1]) {
    const again = await c.stores.get(ref.nodes[i]!)!.get(ref.shards[i]!);
    assert.is(again.length, ref.shardBytes, `shard ${i} is back, verified`);
  }
  const second = await c.store.getBlob('heal-me', ref);
  assert.equal(second.healed, []);
  assert.equal(Buffer.from(second.bytes), Buffer.from(data));
});

test('a member that sends damaged bytes is not believed: the shard is rebuilt and written again', async () => {
  const c = cluster();
  const data = bytes(500);
  const ref = await c.store.putBlob('liar', data);
  const liar = c.peers.get(ref.nodes[0]!)!;
  liar.lies = true;
  const puts = liar.puts;
  const r = await c.store.getBlob('liar', ref);
  assert.equal(Buffer.from(r.bytes), Buffer.from(data));
  assert.equal(r.healed, [0]);
  assert.is(liar.puts, puts + 1, 'the rebuilt shard was put back on its member');
});

test('a member whose reads are checked by its own store is not hashed again, and its store still catches a corrupt shard', async () => {
  const c = cluster();
  for (const peer of c.peers.values()) peer.checksReads = true;
  const data = bytes(901);
  const ref = await c.store.putBlob('checked-reads', data);
  c.stores.get(ref.nodes[1]!)!.corrupt(ref.shards[1]!);
  const r = await c.store.getBlob('checked-reads', ref);
  assert.equal(Buffer.from(r.bytes), Buffer.from(data));
  assert.equal(r.healed, [1], 'the store refused the corrupt copy and the read healed it');
  assert.is(new LocalShardPeer('n1', new MemoryShardStore()).checksReads, true, "this node's own store is such a member");
});

test('a read that finds every data shard computes no parity: a reference with a wrong parity id reads, a scrub refuses it', async () => {
  const c = cluster();
  const data = bytes(640);
  const ref = await c.store.putBlob('no-parity', data);
  const wrong: BlobRef = { ...ref, shards: [...ref.shards.slice(0, 3), shardIdOf(bytes(ref.shardBytes))] };
  const r = await c.store.getBlob('no-parity', wrong);
  assert.equal(Buffer.from(r.bytes), Buffer.from(data));
  assert.equal(r.healed, []);
  await expectCode(c.store.scrubBlob('no-parity', wrong), 'BLOB_REF_INVALID');
});

test('scrub reads parity too: a corrupt parity shard is missed by a read and healed by a scrub', async () => {
  const c = cluster();
  const ref = await c.store.putBlob('scrub-me', bytes(999));
  c.stores.get(ref.nodes[3]!)!.corrupt(ref.shards[3]!);
  assert.equal((await c.store.getBlob('scrub-me', ref)).healed, [], 'a read needs only the data shards');
  const s = await c.store.scrubBlob('scrub-me', ref);
  assert.is(s.checked, 4);
  assert.equal(s.healed, [3]);
  assert.ok(await c.stores.get(ref.nodes[3]!)!.get(ref.shards[3]!));
  assert.equal((await c.store.scrubBlob('scrub-me', ref)).healed, []);
});

test('losing more than m shards is BLOB_UNRECOVERABLE, saying how many were found', async () => {
  const c = cluster();
  const ref = await c.store.putBlob('lost', bytes(300));
  for (const i of [0, 2, 3]) await c.stores.get(ref.nodes[i]!)!.delete(ref.shards[i]!);
  const e = await expectCode(c.store.getBlob('lost', ref), 'BLOB_UNRECOVERABLE');
  assert.ok(e.message.includes('only 1 of its 4'), e.message);
  assert.is(e.details?.needed, 2);
  // m lost is still fine.
  const ok = await c.store.putBlob('lost-2', bytes(300));
  for (const i of [0, 1]) await c.stores.get(ok.nodes[i]!)!.delete(ok.shards[i]!);
  assert.equal((await c.store.getBlob('lost-2', ok)).healed, [0, 1]);
});

test('a member down at put time: its shard is re-placed on an unused member (rack rule kept) and the blob reads back', async () => {
  const c = cluster();
  const key = 'down-at-put';
  const planned = place(key, 4, c.members.map((m) => ({ id: m.id, domain: m.rack })), { parityShards: 2 });
  const down = planned.nodes[0]!;
  c.peers.get(down)!.down = true;
  const data = bytes(2000);
  const ref = await c.store.putBlob(key, data);
  assert.not.ok(ref.nodes.includes(down), `nothing recorded on ${down}`);
  assert.is(new Set(ref.nodes).size, 4);
  assert.equal(ref.nodes.slice(1), planned.nodes.slice(1), 'the other shards stay where placement put them');
  assert.ok(await c.stores.get(ref.nodes[0]!)!.has(ref.shards[0]!));
  const perRack = new Map<string, number>();
  for (const n of ref.nodes) perRack.set(rackOf(c, n), (perRack.get(rackOf(c, n)) ?? 0) + 1);
  assert.ok([...perRack.values()].every((x) => x <= 2));
  const back = await c.store.getBlob(key, ref);
  assert.equal(Buffer.from(back.bytes), Buffer.from(data));
  assert.equal(back.healed, []);
});

/** A 2+2 blob on 4 members written while the first member placement picks for it is down. */
async function putWithPlacedMemberDown(key: string, size: number) {
  const c = cluster({ nodes: 4 });
  const planned = place(key, 4, c.members.map((m) => ({ id: m.id, domain: m.rack })), { parityShards: 2 });
  const down = planned.nodes[0]!;
  c.peers.get(down)!.down = true;
  const data = bytes(size);
  const ref = await c.store.putBlob(key, data);
  return { c, down, data, ref };
}

test('k + m = n with a member down: the write goes on, two shards on a member of the rack holding fewer, and reads back', async () => {
  const key = 'degraded';
  const { c, down, data, ref } = await putWithPlacedMemberDown(key, 3000);
  assert.not.ok(ref.nodes.includes(down));
  assert.is(new Set(ref.nodes).size, 3, 'one member holds two shards');
  const twice = ref.nodes.find((n, i) => ref.nodes.indexOf(n) !== i)!;
  assert.is(rackOf(c, twice), rackOf(c, down), "the doubled member is in the down member's rack (the rack that held fewer)");
  const back = await c.store.getBlob(key, ref);
  assert.equal(Buffer.from(back.bytes), Buffer.from(data));
});

test('scrub spreads a doubled stripe again once the member is back: a copy that survives losing the doubled member and one more', async () => {
  const key = 'respread';
  const { c, down, data, ref } = await putWithPlacedMemberDown(key, 5000);
  assert.equal((await c.store.scrubBlob(key, ref)).respread, [], 'nowhere to spread to while the member is down');
  c.peers.get(down)!.down = false;
  const first = await c.store.scrubBlob(key, ref);
  assert.is(first.respread.length, 1);
  assert.ok(await c.stores.get(down)!.has(ref.shards[first.respread[0]!]!), 'the copy is on the member that came back');
  assert.equal((await c.store.scrubBlob(key, ref)).respread, [], 'a second scrub finds the copy and adds none');
  // Lose the doubled member and one more: without the copy only one shard would be left.
  const twice = ref.nodes.find((n, i) => ref.nodes.indexOf(n) !== i)!;
  const other = ref.nodes.find((n) => n !== twice)!;
  for (const id of [twice, other]) c.peers.get(id)!.down = true;
  const back = await c.store.getBlob(key, ref);
  assert.equal(Buffer.from(back.bytes), Buffer.from(data));
});

test('putBlobs: one batched put per member for all the blobs; a member down is re-placed; a blob that cannot be stored fails alone', async () => {
  const c = cluster();
  const small = new ClusterStore({ self: 'n1', members: c.members, peers: c.peers, rs: new ReedSolomon(2, 2, { kernel: 'ts' }), segmentBytes: 1000, shardBytesMax: 600 });
  const blobs = [bytes(900), bytes(2000), bytes(1), bytes(0), bytes(1100)].map((data, i) => ({ key: `batch-${i}`, bytes: data }));
  const down = place('batch-0', 4, c.members.map((m) => ({ id: m.id, domain: m.rack })), { parityShards: 2 }).nodes[1]!;
  c.peers.get(down)!.down = true;
  const results = await small.putBlobs(blobs);
  // Blob 1 cuts into shards of 1000 bytes, past shardBytesMax: refused alone, before any put.
  assert.instance(results[1], BaksaError);
  assert.is((results[1] as BaksaError).code, 'SHARD_TOO_LARGE');
  for (const i of [0, 2, 3, 4]) {
    const ref = results[i] as BlobRef;
    assert.not.instance(ref, BaksaError);
    assert.not.ok(ref.nodes.includes(down), `blob ${i}: nothing recorded on the member that is down`);
    const back = await small.getBlob(blobs[i]!.key, ref);
    assert.equal(Buffer.from(back.bytes), Buffer.from(blobs[i]!.bytes));
    assert.equal(back.healed, []);
  }
  for (const [id, peer] of c.peers) if (id !== down) assert.ok(peer.batches <= 1, `${id}: ${peer.batches} batched puts`);
  assert.is(await totalShards(c), 4 * 3, 'the shards of the three blobs with bytes, nothing of the refused one');
});

test('getBlobs: one batched read per member; a lost shard is found by the single reads and healed; a bad ref fails alone', async () => {
  const c = cluster();
  const blobs = [bytes(900), bytes(1), bytes(0), bytes(1500)].map((data, i) => ({ key: `read-${i}`, data }));
  const refs = await Promise.all(blobs.map((b) => c.store.putBlob(b.key, b.data)));
  await c.stores.get(refs[3]!.nodes[0]!)!.delete(refs[3]!.shards[0]!);
  const bad = { ...refs[0]!, k: 3 };
  const results = await c.store.getBlobs([...blobs.map((b, i) => ({ key: b.key, ref: refs[i]! })), { key: 'read-0', ref: bad }]);
  for (const [i, b] of blobs.entries()) {
    const r = results[i]!;
    assert.not.instance(r, BaksaError);
    assert.equal(Buffer.from((r as { bytes: Uint8Array }).bytes), Buffer.from(b.data), b.key);
  }
  assert.equal((results[3] as { healed: number[] }).healed, [0]);
  assert.ok(await c.stores.get(refs[3]!.nodes[0]!)!.has(refs[3]!.shards[0]!), 'healed in place');
  assert.instance(results[4], BaksaError);
  for (const [id, peer] of c.peers) assert.ok(peer.fetches <= 1, `${id}: ${peer.fetches} batched reads`);
});

test('putShardsGrouped: a shard counts as stored only once its put returned; a failing or mismatched shard fails alone, stored nowhere', async () => {
  const inner = new MemoryShardStore();
  const full = bytes(70);
  const pending: Array<() => void> = [];
  // A store whose puts complete only when released (an fsync still running), and that is full for one shard.
  const slow = Object.create(inner) as MemoryShardStore;
  slow.put = async (data: Uint8Array) => {
    if (Buffer.from(data).equals(Buffer.from(full))) throw new BaksaError('DISK_FULL', 'no space left');
    await new Promise<void>((resolve) => pending.push(resolve));
    return inner.put(data);
  };
  const good = [bytes(50), bytes(60)].map((b) => ({ id: shardIdOf(b), bytes: b }));
  const wrong = { id: shardIdOf(bytes(10)), bytes: bytes(10) };
  let done = false;
  const outcomes = putShardsGrouped(slow, [good[0]!, wrong, { id: shardIdOf(full), bytes: full }, good[1]!]).then((o) => {
    done = true;
    return o;
  });
  while (pending.length < 2) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  assert.not.ok(done, 'nothing is answered while a put has not returned');
  assert.is(pending.length, 2, 'only the good shards reach the store');
  for (const release of pending) release();
  const result = await outcomes;
  assert.equal(result.map((o) => o?.split(':')[0]), [undefined, 'SHARD_ID_MISMATCH', 'DISK_FULL', undefined]);
  for (const g of good) assert.ok(await inner.has(g.id));
  assert.not.ok(await inner.has(shardIdOf(wrong.bytes)));
  assert.not.ok(await inner.has(wrong.id));
});

test('too few reachable members for the stripe: BLOB_STORE_FAILED names the shards that failed', async () => {
  const c = cluster();
  for (const id of ['n1', 'n2', 'n4', 'n5', 'n6']) c.peers.get(id)!.down = true;
  const e = await expectCode(c.store.putBlob('no-room', bytes(100)), 'BLOB_STORE_FAILED');
  assert.is(await totalShards(c), 0, 'the shards that were stored are removed again');
  assert.match(e.message, /could not store \d shard\(s\): shard \d/);
  assert.match(e.message, /is down/);
});

test('a member down at scrub time: the shard is re-placed on another member, the new ref reads without healing, and an old ref finds it there', async () => {
  const c = cluster();
  const key = 'down-at-read';
  const data = bytes(1234);
  const ref = await c.store.putBlob(key, data);
  const down = ref.nodes[0]!;
  c.peers.get(down)!.down = true;
  assert.equal(Buffer.from((await c.store.getBlob(key, ref)).bytes), Buffer.from(data));
  const r = await c.store.scrubBlob(key, ref);
  assert.equal(r.healed, [0]);
  const moved = r.ref.nodes[0]!;
  assert.is.not(moved, down);
  assert.not.ok(ref.nodes.includes(moved));
  assert.ok(await c.stores.get(moved)!.has(ref.shards[0]!));
  assert.equal((await c.store.getBlob(key, r.ref)).healed, []);
  // With the old ref, shard 0's member is still down and both parity shards are gone: fewer than k at
  // the recorded members, so the read must find shard 0 where the heal moved it.
  for (const i of [2, 3]) await c.stores.get(ref.nodes[i]!)!.delete(ref.shards[i]!);
  const old = await c.store.getBlob(key, ref);
  assert.equal(Buffer.from(old.bytes), Buffer.from(data));
  assert.ok(old.healed.includes(2) && old.healed.includes(3), `healed ${old.healed.join(',')}`);
});

test('putObject refuses past bytesMax (removing the segments it stored); getObject refuses a ref whose hash is not the content', async () => {
  const c = cluster();
  const e = await expectCode(c.store.putObject('too-big', chunks(bytes(3000), [500]), { bytesMax: 2500 }), 'PAYLOAD_TOO_LARGE');
  assert.is(e.details?.bytesMax, 2500);
  assert.is(await totalShards(c), 0, 'two segments were stored before the refusal, and removed');
  const ref = await c.store.putObject('tampered', chunks(bytes(2500), [2500]), { bytesMax: 2500 });
  const bad = { ...ref, sha256: ref.sha256.replace(/^./, (x) => (x === '0' ? '1' : '0')) };
  await expectCode(readAll(c.store.getObject('tampered', bad)), 'OBJECT_CORRUPT');
  await expectCode(readAll(c.store.getObject('tampered', { ...ref, length: 2499 })), 'MANIFEST_INVALID');
});

test('deleting one of two objects with equal content leaves the other whole', async () => {
  const c = cluster();
  const data = bytes(2500);
  const a = await c.store.putObject('copy-a', chunks(data, [2500]), { bytesMax: 10_000 });
  const b = await c.store.putObject('copy-b', chunks(data, [2500]), { bytesMax: 10_000 });
  const before = await totalShards(c);
  const r = await c.store.deleteObject('copy-a', a);
  assert.equal(r, { deleted: 4 * 4, failed: 0 });
  assert.is(await totalShards(c), before - 16);
  assert.equal(Buffer.from(await readAll(c.store.getObject('copy-b', b))), Buffer.from(data));
  assert.is((await c.store.scrubObject('copy-b', b)).healed, 0, 'no shard of the other object was touched');
});

test('the default geometry leaves a spare member from 4 nodes and caps k at 8', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 12].map((n) => defaultGeometry(n)).map((g) => `${g.dataShards}+${g.parityShards}`), ['1+0', '1+1', '2+1', '2+1', '2+2', '3+2', '8+2']);
});

test('a BlobRef that does not fit its own geometry is refused before any read', async () => {
  const c = cluster();
  const ref = await c.store.putBlob('checked', bytes(100));
  const bad: BlobRef = { ...ref, shards: ref.shards.slice(1) };
  await expectCode(c.store.getBlob('checked', bad), 'BLOB_REF_INVALID');
  await expectCode(c.store.getBlob('checked', { ...ref, nodes: [ref.nodes[0]!, ref.nodes[0]!, ref.nodes[0]!, ref.nodes[3]!] }), 'BLOB_REF_INVALID');
});

test('a member that does not answer: a read rebuilds without healing onto anyone; a scrub re-places its shard', async () => {
  const c = cluster({ nodes: 6, k: 2, m: 2 });
  const data = bytes(1500);
  const ref = await c.store.putBlob('blob-down', data);
  const downNode = ref.nodes[0]!;
  c.peers.get(downNode)!.down = true;
  const putsBefore = [...c.peers.values()].reduce((n, p) => n + p.puts, 0);
  const read = await c.store.getBlob('blob-down', ref);
  assert.ok(Buffer.from(read.bytes).equals(Buffer.from(data)));
  assert.equal(read.healed, [], 'a read does not heal shards of a member that is only unreachable');
  assert.is([...c.peers.values()].reduce((n, p) => n + p.puts, 0), putsBefore, 'no shard written by the read');
  const scrub = await c.store.scrubBlob('blob-down', ref);
  assert.equal(scrub.healed, [0], 'the scrub re-places the unreachable shard');
  assert.is.not(scrub.ref.nodes[0], downNode);
  assert.ok(!scrub.ref.nodes.slice(1).includes(scrub.ref.nodes[0]!), 'on a member that holds no other shard of the stripe');
  // With the member still down, the new ref reads without any rebuild work left to do.
  const again = await c.store.scrubBlob('blob-down', scrub.ref);
  assert.equal(again.healed, []);
});

test.run();
