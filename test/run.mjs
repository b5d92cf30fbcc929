#!/usr/bin/env node
// Runs every test file (test/unit, test/sim, test/integration: `*.test.ts`) in its own process with
// uvu under tsx, two at a time, and ends with one line "N passed, N failed".
// Usage: npm test [-- FILTER...]   (a FILTER keeps the files whose path contains it)
// Env: TEST_JOBS (parallel files, default 2), TEST_FILE_TIMEOUT_S (default 420).
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// The long files first (integration, the edge cluster's longest of all), so the short ones fill in at the end.
const groups = ['test/integration/edge', 'test/integration', 'test/sim', 'test/unit'];
const filters = process.argv.slice(2);
const jobs = Number(process.env.TEST_JOBS ?? 2);
const timeoutMs = Number(process.env.TEST_FILE_TIMEOUT_S ?? 420) * 1000;

function walk(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(walk(path));
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const files = [...new Set(groups.flatMap((g) => walk(join(root, g))))]
  .filter((f) => filters.length === 0 || filters.some((x) => relative(root, f).includes(x)));

const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const text = strip(output);
      const num = (label) => Number((new RegExp(`${label}:\\s+(\\d+)`).exec(text) ?? [])[1] ?? 0);
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped');
      let failed = total - passed - skipped;
      if ((code !== 0 || timedOut || total === 0) && failed === 0) failed = 1;
      resolve({ file, code, signal, timedOut, passed, failed, skipped, ms: Date.now() - started, text });
    });
  });
}

const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const file = files[next++];
    const r = await runFile(file);
    results.push(r);
    const name = relative(root, r.file);
    const status = r.failed ? 'FAIL' : 'ok  ';
    process.stdout.write(`${status} ${name}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)} s)\n`);
    if (r.failed) {
      const why = r.timedOut ? `timed out after ${timeoutMs / 1000} s` : `exit ${r.code ?? r.signal}`;
      process.stdout.write(`---- ${name}: ${why}\n${r.text.trim()}\n----\n`);
    }
  }
}

const t0 = Date.now();
await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
const passed = results.reduce((a, r) => a + r.passed, 0);
const failed = results.reduce((a, r) => a + r.failed, 0);
const skipped = results.reduce((a, r) => a + r.skipped, 0);
process.stdout.write(`\n${files.length} files in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
