// Deterministic simulation sweep (TigerBeetle VOPR style): a fixed set of seeds, each a randomized
// scenario (network loss up to 30%, delays, duplication, reordering, partitions, swizzle-clogging,
// crashes with torn writes, twin and forger Byzantine replicas), checked after every step for
// agreement, no lost committed request, identical executed prefixes, exactly-once, and liveness once
// the faults stop. A failure prints `SEED=<seed> npm run sim`, which replays it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runSeed } from './run.ts';

const groups: { n: number; seeds: number; from: number }[] = [
  { n: 1, seeds: 40, from: 1_000 },
  { n: 3, seeds: 80, from: 2_000 },
  { n: 4, seeds: 110, from: 3_000 },
  { n: 7, seeds: 60, from: 4_000 },
];

for (const g of groups) {
  test(`n=${g.n}: ${g.seeds} seeds from ${g.from}`, () => {
    const failures: string[] = [];
    let ticks = 0;
    let accepted = 0;
    for (let seed = g.from; seed < g.from + g.seeds; seed++) {
      const r = runSeed(seed, { n: g.n });
      ticks += r.ticks;
      accepted += r.accepted;
      if (!r.ok) failures.push(`${r.summary}\n    ${r.error}\n    replay: SEED=${seed} npm run sim -- --n ${g.n}`);
    }
    assert.equal(failures, [], failures.join('\n'));
    assert.ok(accepted > g.seeds, 'clients got results');
    console.log(`  n=${g.n}: ${g.seeds} seeds, ${ticks} ticks, ${accepted} results accepted`);
  });
}

// Seeds that once found a bug, replayed as they were drawn.
const regressions: { seed: number; what: string }[] = [
  // A torn write between a transferred snapshot and its stable checkpoint left, after a restart, a
  // snapshot past an older stable checkpoint; the proof is now persisted before the state.
  { seed: 591089605, what: 'state transfer torn between snapshot and stable checkpoint' },
];

test('regression seeds', () => {
  for (const r of regressions) {
    const run = runSeed(r.seed);
    assert.ok(run.ok, `${r.what}: ${run.summary}\n    ${run.error}\n    replay: SEED=${r.seed} npm run sim`);
  }
});

test('real Ed25519 signatures: 6 seeds of n=4', () => {
  for (let seed = 5_000; seed < 5_006; seed++) {
    const r = runSeed(seed, { n: 4, ed25519: true });
    assert.ok(r.ok, `${r.summary}\n    ${r.error}`);
  }
});

test.run();
