/** Small helpers the benches share (run.ts skips files starting with "_"). */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One number a bench prints (test/bench/run.ts collects them). */
export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

/** The repository root. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
/** The sensor-log generator beside the project (`../shared/tools`). */
export const genSensorLogs = join(repoRoot, '../shared/tools/gen-sensor-logs.py');

/** Bytes of every file under `dir`. */
export function duBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

/** Whether a command is on the PATH. */
export function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}
