#!/usr/bin/env node
// Launcher for the `2baksa` command. It runs the compiled build (dist/, `npm run build`, which `npm
// install` runs) while the sources still have the fingerprint that build recorded (source-stamp.mjs),
// and otherwise the TypeScript sources through tsx: an edited tree never runs stale code.
// BAKSA_FROM_SOURCES=1 always runs the sources.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from './source-stamp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

let main;
if (distIsFresh(root)) {
  ({ main } = await import('../dist/cli/main.js'));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('./main.ts'));
}
await main(process.argv);
