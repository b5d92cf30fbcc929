// Benchmarks measure the compiled build (dist/), as the installed `2baksa` runs it, while that build
// is fresh (its source stamp matches the sources, cli/source-stamp.mjs); otherwise the sources
// through tsx, and the bench says so. tsx compiles with esbuild's keepNames, which wraps every
// function expression in a `__name(fn, "…")` call that defines a property each time the function is
// created: 10-20 % of a PBFT replica's CPU at its peak, a cost the product never pays.
//
//   node --import tsx --import ./test/bench/_compiled.mjs …   (also for the processes a bench spawns)
//
// The hook maps each resolved module under cli/, shared/, agent/ or aggregator/ (`*.ts`) to its
// compiled twin in dist/ (`*.js`); test code itself stays on tsx. Every import in the process goes
// through it, so no module is loaded twice.
import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SOURCE_DIRS, STAMP_FILE, sourceStamp } from '../../cli/source-stamp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function fresh() {
  if (process.env.BAKSA_FROM_SOURCES === '1') return false;
  try {
    return readFileSync(join(root, 'dist', STAMP_FILE), 'utf8').trim() === sourceStamp(root);
  } catch {
    return false;
  }
}

/** True when this process runs the compiled build. Set once, by the first import. */
export const compiled = fresh();

if (compiled) {
  register('./_compiled-hooks.mjs', import.meta.url, {
    data: { root: pathToFileURL(root + '/').href, dirs: SOURCE_DIRS },
  });
}

/** Node arguments that make a spawned process load the same way as this one. */
export const compiledNodeArgs = compiled ? ['--import', fileURLToPath(import.meta.url)] : [];

/** A line for a bench's output: which code was measured. */
export const measuredCode = compiled
  ? 'the compiled build (dist/)'
  : `the sources through tsx (dist/ is ${existsSync(join(root, 'dist')) ? 'stale' : 'missing'}: run npm run build to measure what 2baksa runs)`;
