/**
 * `npm run bench`: runs every benchmark in test/bench and prints one table of results.
 * Each bench module exports `run(): Promise<BenchResult[]>`; numbers are measured in this run only,
 * and ratios compare against baselines measured in the same run. `npm run bench -- NAME…` runs some.
 * While the compiled build is fresh, the benches run it, as the installed `2baksa` does (_compiled.mjs).
 */
import { measuredCode } from './_compiled.mjs';
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { BenchResult } from './_tools.ts';

const dir = fileURLToPath(new URL('.', import.meta.url));
const wanted = process.argv.slice(2);
const modules = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.includes(w)))
  .sort();

process.stdout.write(`measuring ${measuredCode}\n`);
const all: Array<BenchResult & { bench: string }> = [];
let failed = 0;
for (const file of modules) {
  const bench = file.replace(/\.ts$/, '');
  process.stdout.write(`\n== ${bench}\n`);
  try {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { run?: () => Promise<BenchResult[]> };
    if (typeof mod.run !== 'function') continue;
    const results = await mod.run();
    for (const r of results) {
      all.push({ ...r, bench });
      process.stdout.write(`  ${r.name.padEnd(52)} ${fmt(r.value).padStart(12)} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
    }
  } catch (error) {
    failed++;
    process.stdout.write(`  FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

process.stdout.write(`\n${all.length} results from ${modules.length} benches, ${failed} failed\n`);
if (process.env.BENCH_JSON) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(process.env.BENCH_JSON, JSON.stringify(all, null, 2) + '\n');
}
process.exitCode = failed ? 1 : 0;
