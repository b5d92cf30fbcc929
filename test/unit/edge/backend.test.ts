// The edge backend's transaction cut (agent/edge/backend.ts): a batch that did not compress is committed
// as several transactions, none giving one target more than the limit; chunks stay whole and in order.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { commitGroups } from '../../../agent/edge/backend.ts';
import type { ShardPut } from '../../../shared/protocol/messages.ts';

function batch(sizes: number[], shardsPerChunk: number): { shards: ShardPut[]; bytes: Map<string, number> } {
  const shards: ShardPut[] = [];
  const bytes = new Map<string, number>();
  sizes.forEach((size, c) => {
    const chunk = new Uint8Array(32).fill(c + 1);
    bytes.set(Buffer.from(chunk).toString('hex'), size);
    for (let index = 0; index < shardsPerChunk; index++) shards.push({ chunk, index, hash: new Uint8Array(32), data: new Uint8Array(size) });
  });
  return { shards, bytes };
}

test('groups keep chunks whole and in order, and each stays within the limit', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (sizes, per) => {
      const { shards, bytes } = batch(sizes, per);
      const groups = commitGroups(shards, bytes, 100);
      assert.equal(groups.flat(), shards, 'every shard once, in order');
      for (const g of groups) {
        const ids = [...new Set(g.map((s) => Buffer.from(s.chunk).toString('hex')))];
        assert.ok(ids.every((id) => g.filter((s) => Buffer.from(s.chunk).toString('hex') === id).length === per), 'a chunk is never cut');
        assert.ok(ids.reduce((n, id) => n + bytes.get(id)!, 0) <= 100, 'one target gets at most the limit');
      }
    }),
  );
});

test('a batch within the limit is one transaction; compressible logs stay one', () => {
  const { shards, bytes } = batch([30, 30, 40], 3);
  assert.is(commitGroups(shards, bytes, 100).length, 1);
  assert.is(commitGroups(shards, bytes, 99).length, 2);
});

test.run();
