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
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SOURCE_DIRS, distIsFresh } from '../../cli/source-stamp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** True when this process runs the compiled build (the launcher's rule). Set once, by the first import. */
export const compiled = distIsFresh(root);

if (compiled) {
  register('./_compiled-hooks.mjs', import.meta.url, {
    data: { root: pathToFileURL(root + '/').href, dirs: SOURCE_DIRS },
  });
}

/** Node arguments that make a spawned process load the same way as this one. */
export const compiledNodeArgs = compiled ? ['--import', fileURLToPath(import.meta.url)] : [];

/** A line for a bench's output: which code was measured. */
function whySources() {
  if (process.env.BAKSA_FROM_SOURCES === '1') return 'BAKSA_FROM_SOURCES=1';
  return `dist/ is ${existsSync(join(root, 'dist')) ? 'stale' : 'missing'}: run npm run build to measure what 2baksa runs`;
}
export const measuredCode = compiled ? 'the compiled build (dist/)' : `the sources through tsx (${whySources()})`;
