/**
 * Runs the hybrid-commit simulation for one seed or many, and replays a failure exactly.
 *
 *   node --import tsx test/sim/commit/run.ts              200 seeds from 1
 *   SEEDS=1000 SEED_FROM=5000 node --import tsx test/sim/commit/run.ts
 *   SEED=1234 VERBOSE=1 node --import tsx test/sim/commit/run.ts    replay one seed with its full trace
 */
import { SimViolation, World, type SimParams, type SimStats } from './world.ts';

export interface SeedResult {
  seed: number;
  ok: boolean;
  stats?: SimStats;
  error?: string;
  trace?: string[];
}

export function runSeed(seed: number, overrides: Partial<SimParams> = {}, verbose = false): SeedResult {
  const world = new World(seed, overrides, verbose);
  try {
    return { seed, ok: true, stats: world.run() };
  } catch (error) {
    const kind = error instanceof SimViolation ? 'violation' : 'crash';
    const text = error instanceof Error ? `${kind}: ${error.message}${error instanceof SimViolation ? '' : `\n${error.stack}`}` : String(error);
    return { seed, ok: false, error: text, trace: world.trace.slice(-60) };
  }
}

/** A failure report that says how to replay it. */
export function describeFailure(r: SeedResult): string {
  return [`commit sim FAILED for SEED=${r.seed}: ${r.error}`, ...(r.trace ?? []).map((l) => `  ${l}`), `replay: SEED=${r.seed} VERBOSE=1 node --import tsx test/sim/commit/run.ts`].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const one = process.env.SEED;
  const seeds = one !== undefined ? [Number(one)] : Array.from({ length: Number(process.env.SEEDS ?? 200) }, (_, i) => Number(process.env.SEED_FROM ?? 1) + i);
  const totals = { txs: 0, committed: 0, expired: 0, crashes: 0, rollbacks: 0 };
  let failed = 0;
  for (const seed of seeds) {
    const r = runSeed(seed, {}, one !== undefined && process.env.VERBOSE === '1');
    if (!r.ok) {
      failed++;
      console.error(describeFailure(r));
      continue;
    }
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats![k];
    if (one !== undefined) console.log(JSON.stringify(r.stats));
  }
  console.log(`${seeds.length - failed}/${seeds.length} seeds passed; ${JSON.stringify(totals)}`);
  process.exitCode = failed ? 1 : 0;
}
