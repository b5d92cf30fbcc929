// ReedSolomon API: round trips, dataOnly, verify, split/join, and refusal of bad input without
// touching any buffer.
import { randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import { ErasureErrorCode, joinShards, ReedSolomon, shardBytesFor, simdSupported, splitIntoShards } from '../../../shared/erasure/index.ts';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BaksaError);
    return (err as BaksaError).code;
  }
  return 'no error';
}

test('split, encode, lose m shards, reconstruct, join', () => {
  const rs = new ReedSolomon(4, 2);
  const data = new Uint8Array(randomBytes(10_003));
  const shards = splitIntoShards(data, 4, 2);
  assert.is(shards.length, 6);
  assert.is(shards[0]!.length, shardBytesFor(10_003, 4));
  assert.is(shards[0]!.length % 4, 0);
  rs.encode(shards);
  assert.ok(rs.verify(shards));
  const full = rs.reconstruct([null, shards[1], shards[2], null, shards[4], shards[5]]);
  assert.equal(full.map((s) => [...s]), shards.map((s) => [...s]));
  assert.is(full[1], shards[1], 'present shards come back as they are');
  assert.equal(joinShards(full, 4, data.length), data);
  const dataOnly = rs.reconstruct([shards[0], null, shards[2], shards[3], null, shards[5]], { dataOnly: true });
  assert.is(dataOnly.length, 4);
  assert.equal(joinShards(dataOnly, 4, data.length), data);
});

test('reconstruct leaves its input array alone and rebuilds only parity when data is intact', () => {
  const rs = new ReedSolomon(3, 2);
  const shards = splitIntoShards(new Uint8Array(randomBytes(999)), 3, 2);
  rs.encode(shards);
  const input = [shards[0], shards[1], shards[2], null, null];
  const out = rs.reconstruct(input);
  assert.is(input[3], null);
  assert.equal([...out[3]!], [...shards[3]!]);
  assert.equal([...out[4]!], [...shards[4]!]);
});

test('verify notices a flipped byte in any shard', () => {
  const rs = new ReedSolomon(4, 3);
  const shards = splitIntoShards(new Uint8Array(randomBytes(4096)), 4, 3);
  rs.encode(shards);
  for (let i = 0; i < 7; i++) {
    const shard = shards[i]!;
    shard[100] = shard[100]! ^ 1;
    assert.not.ok(rs.verify(shards), `flip in shard ${i}`);
    shard[100] = shard[100]! ^ 1;
  }
  assert.ok(rs.verify(shards));
});

test('zero parity and zero-length shards', () => {
  const rs = new ReedSolomon(3, 0);
  const shards = splitIntoShards(Uint8Array.of(1, 2, 3), 3);
  rs.encode(shards);
  assert.ok(rs.verify(shards));
  const empty = new ReedSolomon(2, 2);
  const none = splitIntoShards(new Uint8Array(0), 2, 2);
  empty.encode(none);
  assert.equal(joinShards(empty.reconstruct([null, none[1], none[2], null]), 2, 0), new Uint8Array(0));
});

test('geometry and options are checked', () => {
  assert.is(code(() => new ReedSolomon(0, 2)), ErasureErrorCode.geometryInvalid);
  assert.is(code(() => new ReedSolomon(2, -1)), ErasureErrorCode.geometryInvalid);
  assert.is(code(() => new ReedSolomon(200, 57)), ErasureErrorCode.geometryInvalid);
  assert.is(code(() => new ReedSolomon(1.5, 1)), ErasureErrorCode.geometryInvalid);
  assert.is(new ReedSolomon(200, 56).totalShards, 256);
  assert.is(code(() => new ReedSolomon(2, 1, { kernel: 'gpu' as 'ts' })), 'CONFIG_INVALID');
  assert.is(code(() => new ReedSolomon(2, 1, { decodeCacheEntriesMax: -1 })), 'CONFIG_INVALID');
  assert.is(code(() => splitIntoShards(new Uint8Array(4), 0)), ErasureErrorCode.geometryInvalid);
});

test('bad shards are refused before anything is written', () => {
  const rs = new ReedSolomon(2, 2);
  const mk = (n: number) => new Uint8Array(n).fill(7);
  const parity = [mk(8), mk(8)];
  assert.is(code(() => rs.encode([mk(8), mk(8), parity[0]!])), ErasureErrorCode.shardCount);
  assert.is(code(() => rs.encode([mk(8), mk(9), parity[0]!, parity[1]!])), ErasureErrorCode.shardSize);
  assert.is(code(() => rs.encode([mk(8), [1, 2] as unknown as Uint8Array, parity[0]!, parity[1]!])), ErasureErrorCode.shardInvalid);
  const backing = new Uint8Array(32);
  const overlapping = [backing.subarray(0, 8), backing.subarray(8, 16), backing.subarray(12, 20), parity[1]!];
  assert.is(code(() => rs.encode(overlapping)), ErasureErrorCode.shardInvalid);
  assert.ok(parity.every((p) => p.every((b) => b === 7)), 'parity untouched after refusals');
  assert.ok(backing.every((b) => b === 0));
  // adjacent (non-overlapping) views of one buffer are fine
  rs.encode([backing.subarray(0, 8), backing.subarray(8, 16), backing.subarray(16, 24), backing.subarray(24, 32)]);

  assert.is(code(() => rs.reconstruct([mk(8), null, null])), ErasureErrorCode.shardCount);
  assert.is(code(() => rs.reconstruct([mk(8), null, null, null])), ErasureErrorCode.tooFewShards);
  assert.is(code(() => rs.reconstruct([mk(8), null, mk(7), null])), ErasureErrorCode.shardSize);
  assert.is(code(() => rs.reconstruct(['x' as unknown as Uint8Array, null, mk(8), null])), ErasureErrorCode.shardInvalid);
  assert.is(code(() => rs.verify([mk(8), mk(8), mk(8)])), ErasureErrorCode.shardCount);
  assert.is(code(() => joinShards([mk(8), mk(8)], 2, 17)), ErasureErrorCode.shardSize);
  assert.is(code(() => joinShards([mk(8)], 2, 4)), ErasureErrorCode.shardCount);
});

test('too few shards: error says how many more are needed', () => {
  const rs = new ReedSolomon(4, 2);
  try {
    rs.reconstruct([new Uint8Array(4), null, null, null, new Uint8Array(4), null]);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, BaksaError);
    assert.is((err as BaksaError).code, ErasureErrorCode.tooFewShards);
    assert.match((err as BaksaError).hint ?? '', /2 more/);
  }
});

test('decode cache: repeated and evicted patterns still decode (cache of 2 entries)', () => {
  const rs = new ReedSolomon(5, 3, { decodeCacheEntriesMax: 2 });
  const data = new Uint8Array(randomBytes(5000));
  const shards = splitIntoShards(data, 5, 3);
  rs.encode(shards);
  const patterns = [[0, 1, 2], [3, 4, 7], [0, 5, 6], [0, 1, 2], [1, 6, 7], [3, 4, 7]];
  for (const lost of patterns) {
    const out = rs.reconstruct(shards.map((s, i) => (lost.includes(i) ? null : s)));
    assert.equal(joinShards(out, 5, data.length), data, `lost ${lost}`);
    assert.ok(rs.verify(out));
  }
  const uncached = new ReedSolomon(5, 3, { decodeCacheEntriesMax: 0 });
  assert.equal(joinShards(uncached.reconstruct([null, null, null, ...shards.slice(3)], { dataOnly: true }), 5, data.length), data);
});

test('kernel choice: ts and auto (simd where supported)', async () => {
  assert.is(new ReedSolomon(2, 1, { kernel: 'ts' }).kernel, 'ts');
  const auto = await ReedSolomon.create(2, 1);
  assert.is(auto.kernel, simdSupported() ? 'simd' : 'ts');
});

test.run();
