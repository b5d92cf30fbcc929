import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { rankVolumes } from '../../../shared/storage/index.ts';

const hexId = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const vols = (n: number, weight = 1) => Array.from({ length: n }, (_, i) => ({ id: `vol-${i}`, weight }));

test('rank is a deterministic permutation of the volumes', () => {
  fc.assert(
    fc.property(hexId, fc.integer({ min: 1, max: 8 }), (id, n) => {
      const r = rankVolumes(vols(n), id);
      assert.equal([...r].sort((a, b) => a - b), [...Array(n).keys()]);
      assert.equal(rankVolumes(vols(n), id), r);
    }),
  );
});

test('adding a volume moves only shards that now prefer the new volume', () => {
  fc.assert(
    fc.property(hexId, fc.integer({ min: 1, max: 6 }), (id, n) => {
      const before = rankVolumes(vols(n), id)[0]!;
      const after = rankVolumes(vols(n + 1), id)[0]!;
      assert.ok(after === before || after === n);
    }),
  );
});

test('weights steer the share of shards', () => {
  const volumes = [{ id: 'vol-a', weight: 3e12 }, { id: 'vol-b', weight: 1e12 }];
  let a = 0;
  for (let i = 0; i < 4000; i++) if (rankVolumes(volumes, i.toString(16).padStart(64, '0'))[0] === 0) a++;
  // expected 3000 of 4000; allow a wide band (this is a hash, not a coin, so it is deterministic anyway)
  assert.ok(a > 2700 && a < 3300, `vol-a got ${a} of 4000`);
});

test.run();
