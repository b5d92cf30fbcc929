// Golden boundaries: chunk boundaries are part of the storage format (chunk ids and dedup across agent
// versions depend on them). If one of these fails, the gear table, the masks or the cut rule changed:
// that breaks dedup against every existing backup. Do not update the numbers; undo the change.
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cutPoints, GEAR, GEAR_SEED, prepareChunker, smallChunkerOptions } from '../../../shared/chunking/index.ts';
import { logLines, xorshiftBytes } from './data.ts';

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
const random = xorshiftBytes(24 << 20, 0x2bac5a);
const text = logLines(4 << 20, 0x5eed);

test('the gear table is pinned', () => {
  assert.is(GEAR_SEED, 0x2bac5a01);
  assert.equal(Array.from(GEAR.subarray(0, 4)), [0x22a311e1, 0x4e0b55ca, 0x1115a1ad, 0xc42b9192]);
  assert.is(sha256(new Uint8Array(GEAR.buffer, GEAR.byteOffset, GEAR.byteLength)), 'af15bb221743a75b6a5c8bc4943b2a60bf28db2eebf9993c2cd88b6256097c30');
});

test('the input generators are pinned', () => {
  assert.equal(Array.from(random.subarray(0, 8)), [202, 7, 186, 193, 11, 234, 35, 169]);
  assert.is(new TextDecoder().decode(text.subarray(0, 58)), '2024-05-01T12:00:00.297Z gw-03 temp=22.75 hum=42.25 seq=0\n');
});

for (const kernel of ['ts', 'wasm'] as const) {
  test(`${kernel}: default sizes (256K/1M/4M) on 24 MiB of pseudo-random bytes`, async () => {
    await prepareChunker();
    assert.equal(cutPoints(random, {}, kernel), [
      959569, 1422661, 2577288, 4272413, 5451237, 6851951, 8258540, 9293597, 9731122, 10881345, 12024960, 13119339,
      14185826, 15701390, 16843928, 17918038, 19012503, 20334722, 21826735, 22903148, 23661302, 24026638, 25102869,
      25165824,
    ]);
  });

  test(`${kernel}: small sizes (64K/256K/1M) on 8 MiB of pseudo-random bytes and 4 MiB of log lines`, () => {
    assert.equal(cutPoints(random.subarray(0, 8 << 20), smallChunkerOptions, kernel), [
      381126, 730807, 806000, 959569, 1180281, 1365817, 1694623, 2025980, 2577288, 2841951, 3131117, 3627279, 3984533,
      4272413, 4646747, 5095036, 5311928, 5600446, 5752955, 6074771, 6322080, 6586660, 6851951, 7135006, 7518352,
      7822450, 8251469, 8388608,
    ]);
    assert.equal(cutPoints(text, smallChunkerOptions, kernel), [
      266361, 547670, 831889, 1188564, 1640794, 1924172, 2211667, 2520291, 2927026, 3246655, 3540498, 3860498, 4159222,
      4194304,
    ]);
  });

  test(`${kernel}: tiny sizes (64/256/1024) on 64 KiB`, () => {
    const cuts = cutPoints(random.subarray(0, 65536), { minBytes: 64, avgBytes: 256, maxBytes: 1024 }, kernel);
    assert.is(cuts.length, 224);
    assert.equal(cuts.slice(0, 12), [235, 592, 801, 1138, 1430, 1538, 1815, 2120, 2559, 2825, 3166, 3479]);
    assert.is(sha256(JSON.stringify(cuts)), 'b98cf65c42f0bad3700eb64fcce530388799d1f7dd162071d27a29216fc20be1');
  });
}

test.run();
