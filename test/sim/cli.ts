/**
 * The simulator's command line.
 *   npm run sim                      one random seed (printed)
 *   SEED=123 npm run sim             replays seed 123, printing its scenario
 *   npm run sim -- --seeds 500       sweeps 500 seeds from a random start (or --from S)
 *   npm run sim -- --seeds 100 --n 7 only clusters of 7 (add --ed25519 for real signatures)
 * A failing seed prints `SEED=<seed> npm run sim` to replay it; the exit code is 1 if any seed failed.
 */
import { randomInt } from 'node:crypto';
import { runSeed, scenarioFor, describe } from './run.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const only = { ...(arg('n') ? { n: Number(arg('n')) } : {}), ...(process.argv.includes('--ed25519') ? { ed25519: true } : {}) };
const seedsArg = arg('seeds');
const started = performance.now();

if (process.env.SEED !== undefined && seedsArg === undefined) {
  const seed = Number(process.env.SEED);
  console.log(describe(scenarioFor(seed, only)));
  const r = runSeed(seed, only);
  console.log(r.ok ? `ok: ${r.ticks} ticks (${r.livenessTicks} to settle), ${r.accepted} results accepted, executed up to seq ${r.executedSeq}` : `FAILED: ${r.error}`);
  console.log(JSON.stringify(r.stats));
  process.exitCode = r.ok ? 0 : 1;
} else {
  const count = Number(seedsArg ?? 1);
  const from = Number(arg('from') ?? randomInt(1, 2 ** 31));
  let failed = 0;
  let ticks = 0;
  let settleMax = 0;
  let settleSeed = 0;
  for (let k = 0; k < count; k++) {
    const seed = (from + k) >>> 0;
    const r = runSeed(seed, only);
    ticks += r.ticks;
    if (r.ok && r.livenessTicks > settleMax) {
      settleMax = r.livenessTicks;
      settleSeed = seed;
    }
    if (!r.ok) {
      failed += 1;
      console.log(`FAILED ${r.summary}\n  ${r.error}\n  replay: SEED=${seed} npm run sim`);
    } else if (count === 1) {
      console.log(`ok ${r.summary}: ${r.ticks} ticks`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${count} seeds ran from ${from}: ${count - failed} passed, ${failed} failed, ` +
    `${ticks} ticks in ${seconds.toFixed(1)} s (${(count / seconds).toFixed(1)} seeds/s); ` +
    `slowest to settle after the faults: ${settleMax} ticks (seed ${settleSeed})`);
  process.exitCode = failed > 0 ? 1 : 0;
}
