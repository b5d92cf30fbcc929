// Edge geometry from cluster size and validation of configured cloud geometries (DESIGN §3 step 5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import { checkGeometry, edgeGeometry } from '../../../shared/placement/index.ts';

test('edge geometry table for 1–7 gateways', () => {
  const table = [1, 2, 3, 4, 5, 6, 7].map((n) => {
    const g = edgeGeometry(n);
    return `${g.dataShards}+${g.parityShards}`;
  });
  assert.equal(table, ['1+0', '1+1', '2+1', '2+2', '3+2', '4+2', '4+3']);
  assert.equal(edgeGeometry(['a', 'b', 'c']), { dataShards: 2, parityShards: 1 });
});

test('edge geometry: one shard per gateway, and m ≥ f + 1 for n = 3f + 1', () => {
  for (let n = 1; n <= 40; n++) {
    const g = edgeGeometry(n);
    assert.is(g.dataShards + g.parityShards, n);
    assert.ok(g.dataShards >= 1);
    const f = Math.floor((n - 1) / 3);
    if (n > 1) assert.ok(g.parityShards >= f + 1, `n=${n}`);
  }
  assert.throws(() => edgeGeometry(0), RangeError);
});

test('cloud geometry from config: 4+2 over 6 and 12+8 over 20 pass, bad ones name the field', () => {
  assert.equal(checkGeometry({ dataShards: 4, parityShards: 2 }, 6), { dataShards: 4, parityShards: 2 });
  assert.equal(checkGeometry({ dataShards: 12, parityShards: 8 }, 20), { dataShards: 12, parityShards: 8 });
  const bad = (g: { dataShards: number; parityShards: number }, n: number, field: RegExp) => {
    try {
      checkGeometry(g, n, 'cloud.geometry');
      assert.unreachable();
    } catch (e) {
      assert.ok(e instanceof BaksaError);
      assert.is(e.code, 'CONFIG_INVALID');
      assert.match(e.message, field);
    }
  };
  bad({ dataShards: 0, parityShards: 2 }, 6, /cloud\.geometry\.dataShards/);
  bad({ dataShards: 4, parityShards: -1 }, 6, /cloud\.geometry\.parityShards/);
  bad({ dataShards: 12, parityShards: 8 }, 6, /needs 20 members/);
  bad({ dataShards: 200, parityShards: 100 }, 400, /≤ 256/);
});

test.run();
