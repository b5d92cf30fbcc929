#!/usr/bin/env node
// Launcher for the `2baksa` command. It runs the compiled build (dist/, `npm run build`, which `npm
// install` runs) while the sources still have the fingerprint that build recorded (source-stamp.mjs),
// and otherwise the TypeScript sources through tsx: an edited tree never runs stale code.
// BAKSA_FROM_SOURCES=1 always runs the sources.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STAMP_FILE, sourceStamp } from './source-stamp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function builtStamp() {
  try {
    return readFileSync(join(root, 'dist', STAMP_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
}

const built = process.env.BAKSA_FROM_SOURCES === '1' ? undefined : builtStamp();
let main;
if (built !== undefined && built === sourceStamp(root)) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
await main(process.argv);
