// The edge backend (agent/edge/backend.ts) seals on sealer threads when the run gives it some, as a lone
// gateway's backup does: the shards a commit carries are the same bytes, their hashes are theirs, and
// they open back to the chunk, with sealers and without.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { KeyRing, generateRootKey } from '../../../shared/crypto/index.ts';
import { joinShards } from '../../../shared/erasure/index.ts';
import type { ShardPut } from '../../../shared/protocol/messages.ts';
import { edgeBackend } from '../../../agent/edge/backend.ts';
import { chunkIdHex, openChunk } from '../../../agent/chunks/codec.ts';
import { countSealerSeals, sensorLines } from './_helpers.ts';

const ring = KeyRing.fromRoot(generateRootKey(), 'gw1.site.example', 1);
const members = ['gw-1', 'gw-2', 'gw-3'];

/** A cluster that commits whatever it is given, each shard index on its own member. */
function fakeNode(committed: ShardPut[]) {
  return {
    liveMembers: () => members,
    commit: async (spec: { shards: readonly ShardPut[] }) => {
      committed.push(...spec.shards);
      return { height: 1, record: { shards: spec.shards.map((s) => ({ chunk: s.chunk, index: s.index, node: members[s.index]! })) } } as never;
    },
  };
}

for (const threads of [0, 1]) {
  test(`edge shards sealed ${threads ? 'on a sealer thread' : 'on the backup thread'} open back to their chunk, under their own hashes`, async () => {
    const committed: ShardPut[] = [];
    const sealedThere = countSealerSeals();
    const backend = edgeBackend({
      node: fakeNode(committed),
      k: 2,
      m: 1,
      ring,
      compression: { algorithm: 'zstd', level: 1 },
      account: 'gw1.site.example',
      snapshotId: 'ab'.repeat(16),
      ...(threads ? { sealers: { threads, afterBytes: 0 } } : {}),
    });
    try {
      await backend.put('tx-0', chunkIdHex(ring.current, Buffer.from('warm-up')), Buffer.from('warm-up')); // starts the sealer
      if (threads) await new Promise((r) => setTimeout(r, 1500));
      const plains = [0, 1, 2].map((i) => Buffer.from(sensorLines(4000, i * 4000, `s${i}`)));
      const ids = plains.map((p) => chunkIdHex(ring.current, p));
      const stored = [];
      for (let i = 0; i < plains.length; i++) stored.push(await backend.put('tx-1', ids[i]!, plains[i]!));
      const placed = await backend.commit('tx-1');
      assert.is(sealedThere.count(), threads ? 3 : 0, threads ? 'the sealer sealed every chunk after it loaded' : 'no sealer');
      for (let i = 0; i < plains.length; i++) {
        const puts = committed.filter((s) => Buffer.from(s.chunk).toString('hex') === ids[i]).sort((a, b) => a.index - b.index);
        assert.is(puts.length, 3);
        for (const p of puts) assert.equal(Buffer.from(p.hash), createHash('sha256').update(p.data).digest(), 'a shard travels with its own hash');
        assert.equal(stored[i]!.shardIds, puts.map((p) => Buffer.from(p.hash).toString('hex')));
        assert.equal(placed?.get(ids[i]!), members);
        const object = joinShards(puts.map((p) => p.data), 2, stored[i]!.sealedLength);
        assert.equal(Buffer.from(await openChunk(ring, ids[i]!, object, plains[i]!.length)), plains[i]);
      }
    } finally {
      sealedThere.restore();
      await backend.close();
    }
  });
}

test.run();
