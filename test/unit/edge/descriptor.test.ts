// Snapshot descriptors (agent/edge/descriptor.ts): what a peer needs to migrate a dead gateway's snapshot,
// committed as an object of its own. Round trips through zero padding, splits into parts, refuses junk.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { DESCRIPTOR_CHUNKS_PER_PART, commitDescriptors, decodeDescriptor, describe, encodeDescriptor } from '../../../agent/edge/descriptor.ts';
import { ReedSolomon, joinShards } from '../../../shared/erasure/index.ts';
import type { TxSpec } from '../../../shared/commit/events.ts';

const id = () => randomBytes(32).toString('hex');
const chunks = (n: number) => Array.from({ length: n }, (_, i) => ({ id: id(), length: 1000 + i, sealedLength: 1040 + i }));

test('a descriptor round-trips, zero padding after it included', () => {
  const [d] = describe('snap-1', 1_700_000_000_000, [id()], chunks(5));
  const bytes = encodeDescriptor(d!);
  const padded = new Uint8Array(bytes.length + 37);
  padded.set(bytes);
  assert.equal(decodeDescriptor(padded), d);
  assert.equal(decodeDescriptor(bytes), d);
});

test('many chunks make several parts, each within the part size, together every chunk', () => {
  const all = chunks(DESCRIPTOR_CHUNKS_PER_PART * 2 + 3);
  const parts = describe('snap-2', 1, [all[0]!.id], all);
  assert.equal(parts.map((p) => [p.part, p.parts, p.chunks.length]), [[0, 3, DESCRIPTOR_CHUNKS_PER_PART], [1, 3, DESCRIPTOR_CHUNKS_PER_PART], [2, 3, 3]]);
  assert.equal(parts.flatMap((p) => p.chunks), all);
  for (const p of parts) assert.ok(encodeDescriptor(p).length < 1024 * 1024);
  assert.is(describe('empty', 1, [id()], []).length, 1, 'a snapshot without chunks still has one part');
});

test('junk, a length past the end and bad fields are refused as protocol errors', () => {
  const good = encodeDescriptor(describe('snap-3', 1, [id()], chunks(2))[0]!);
  const longer = Uint8Array.from(good);
  new DataView(longer.buffer).setUint32(0, good.length);
  const bad = [new Uint8Array(0), new Uint8Array(3), randomBytes(200), longer, good.subarray(0, good.length - 1)];
  for (const b of bad) assert.throws(() => decodeDescriptor(b), (e: Error) => (e as { code?: string }).code !== undefined && !(e instanceof TypeError));
});

test('each part is committed as one transaction: the object id is its SHA-256, its shards rebuild it', async () => {
  const specs: Array<Omit<TxSpec, 'txId' | 'ts'>> = [];
  const node = { liveMembers: () => ['a', 'b', 'c'], commit: async (spec: Omit<TxSpec, 'txId' | 'ts'>) => (specs.push(spec), undefined as never) };
  const parts = describe('snap-4', 7, [id()], chunks(DESCRIPTOR_CHUNKS_PER_PART + 1));
  await commitDescriptors(node, 'gw-1', { k: 2, m: 1 }, parts);
  assert.is(specs.length, 2);
  for (const [i, spec] of specs.entries()) {
    assert.equal([spec.account, spec.snapshotId, spec.dataShards, spec.parityShards, spec.shards.length], ['gw-1', 'snap-4', 2, 1, 3]);
    const rs = await ReedSolomon.create(2, 1);
    const data = rs.reconstruct([null, spec.shards[1]!.data, spec.shards[2]!.data], { dataOnly: true });
    const bytes = joinShards(data, 2, data[0]!.length * 2);
    const decoded = decodeDescriptor(bytes);
    assert.equal(decoded, parts[i]);
    const exact = encodeDescriptor(parts[i]!);
    assert.equal(Buffer.from(spec.manifestRoot), createHash('sha256').update(exact).digest());
    for (const s of spec.shards) assert.equal(Buffer.from(s.chunk), Buffer.from(spec.manifestRoot));
  }
});

test.run();
