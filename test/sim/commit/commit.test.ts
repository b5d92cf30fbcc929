// Deterministic simulation of the hybrid commit (DESIGN §5, §10): crashes of coordinators and participants,
// loss, duplication, reordering, clock skew, ordering stalls, concurrent coordinators. Every seed must keep
// "a committed transaction is never rolled back", "at most one outcome per transaction" and "no staged
// leftovers". A failure prints its seed; replay with SEED=<seed> VERBOSE=1 node --import tsx test/sim/commit/run.ts
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeFailure, runSeed } from './run.ts';

const SEEDS = Number(process.env.COMMIT_SIM_SEEDS ?? 200);
const FROM = Number(process.env.COMMIT_SIM_FROM ?? 1);

test(`${SEEDS} seeds keep every commit invariant`, () => {
  const totals = { txs: 0, committed: 0, expired: 0, crashes: 0, rollbacks: 0 };
  const failures: string[] = [];
  for (let seed = FROM; seed < FROM + SEEDS; seed++) {
    const r = runSeed(seed);
    if (!r.ok) {
      failures.push(describeFailure(r));
      if (failures.length >= 3) break;
      continue;
    }
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats![k];
  }
  if (failures.length) console.error(failures.join('\n\n'));
  assert.is(failures.length, 0, `failing seeds:\n${failures.map((f) => f.split('\n')[0]).join('\n')}`);
  // Not vacuous: the runs commit, expire, crash and roll back.
  assert.ok(totals.committed > SEEDS, `committed ${totals.committed}`);
  assert.ok(totals.expired > 0, 'some transactions expired');
  assert.ok(totals.crashes > SEEDS / 2, `crashes ${totals.crashes}`);
  assert.ok(totals.rollbacks > 0, 'some staging was rolled back');
});

test('a seed replays exactly', () => {
  const a = runSeed(4242);
  const b = runSeed(4242);
  assert.ok(a.ok && b.ok);
  assert.equal(a.stats, b.stats);
  const other = runSeed(4243);
  assert.not.equal(other.stats, a.stats, 'different seeds differ');
});

test.run();
