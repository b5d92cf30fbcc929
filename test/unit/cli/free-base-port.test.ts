// Port ranges for demo and test clusters (cli/demo-data.ts freeBasePort): two processes never get the
// same or overlapping ranges, and a range claimed by a process that is gone is taken over.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeBasePort } from '../../../cli/demo-data.ts';

const range = (base: number) => [0, 1, 2, 3, 100, 101, 102, 103, 200].map((d) => base + d);

/** A pid that no process has now: one of a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test('successive claims in one process get ranges that share no port, each recorded under our pid', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-claims-'));
  try {
    const bases = [await freeBasePort(dir), await freeBasePort(dir), await freeBasePort(dir)];
    const ports = bases.flatMap(range);
    assert.is(new Set(ports).size, ports.length, `overlapping ranges: ${bases.join(' ')}`);
    assert.ok(ports.every((p) => p < 32_768), 'below the ephemeral range');
    assert.equal(readdirSync(dir).map(Number).sort(), [...bases].sort());
    for (const b of bases) assert.is(readFileSync(join(dir, String(b)), 'utf8'), String(process.pid));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a range claimed by a live process is skipped; one claimed by a process that is gone is taken over", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-claims-'));
  try {
    // Two ranges free now and held for this process in the default claims (so no other test's
    // cluster starts on them meanwhile); in `dir`, one is claimed by a dead process, the other not at
    // all, and every other range by a live process (our parent).
    const stale = await freeBasePort();
    const open = await freeBasePort();
    const held = Array.from({ length: 40 }, (_, k) => 20_000 + k * 300).filter((b) => b !== stale && b !== open);
    for (const b of held) writeFileSync(join(dir, String(b)), String(process.ppid));
    writeFileSync(join(dir, String(stale)), String(deadPid()));
    const got = [await freeBasePort(dir), await freeBasePort(dir)].sort();
    assert.equal(got, [stale, open].sort());
    assert.is(readFileSync(join(dir, String(stale)), 'utf8'), String(process.pid));
    // Nothing left: the error names the claims directory.
    try {
      await freeBasePort(dir);
      assert.unreachable('every range is claimed');
    } catch (error) {
      assert.match((error as Error).message, dir);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
