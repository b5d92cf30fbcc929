// SIGKILL at random moments of a backup, with real processes: the next run resumes (checkpointed chunks
// are not stored again), nothing committed is lost, and `check --read-data` passes after every crash.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, finished, repoRoot, startCli } from '../../helpers/cli.ts';
import { assertSameTree, snapshotTree, tempDir } from '../../unit/agent/_helpers.ts';

test('SIGKILL at random moments: the next run resumes, nothing committed is lost, check --read-data passes', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    execFileSync('python3', ['/work/shared/tools/gen-sensor-logs.py', src, '12']);
    // A small budget so checkpoints (every 4 budgets, at least 8 MiB) happen several times per run.
    const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles', 'small-arm.json'), 'utf8'));
    profile.name = 'small-arm-kill';
    profile.memoryBudgetBytes = 2 * 1024 * 1024;
    const profilePath = join(t.path, 'kill.json');
    writeFileSync(profilePath, JSON.stringify(profile));
    const state = join(t.path, 'state');
    assert.is((await cli(['agent', 'init', '--state', state, '--name', 'gw.crash.test', '--profile', profilePath, '--source', src])).code, 0);
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    let committed = 0;
    let kills = 0;
    for (let round = 0; round < 3; round++) {
      if (round > 0) execFileSync('python3', ['/work/shared/tools/gen-sensor-logs.py', src, '12', '--append', String(3 + round), '--seed', String(round)]);
      let killed: Awaited<ReturnType<typeof finished>>;
      if (round % 2 === 0) {
        // Round 0 dies right after its first checkpoint (8 MiB) is committed, later rounds anywhere.
        const faults = round === 0 ? { killAfterCommittedChunks: 1 } : { killAfterChunks: 2 + rand(20) };
        killed = await cli(['backup', '--state', state], { BAKSA_FAULTS: JSON.stringify(faults) });
      } else {
        const child = startCli(['backup', '--state', state]);
        const done = finished(child);
        await new Promise((r) => setTimeout(r, 300 + rand(1200)));
        child.kill('SIGKILL');
        killed = await done;
      }
      const check = await cli(['check', '--state', state, '--read-data', '--json']);
      assert.is(check.code, 0, `round ${round}: ${check.stdout}`);
      const before = JSON.parse((await cli(['status', '--state', state, '--json'])).stdout) as { chunks: number; snapshots: number };
      assert.ok(before.snapshots >= committed, 'no committed snapshot was lost');
      // A run killed by its fault dies mid-backup and commits no snapshot. A timed kill can also land after
      // the snapshot is committed, while the process still exits: then the snapshot is whole (check above).
      const interrupted = killed.signal === 'SIGKILL' && before.snapshots === committed;
      if (killed.signal === 'SIGKILL' && !interrupted) {
        assert.ok(round % 2 === 1 && before.snapshots === committed + 1, `round ${round}: a killed run commits no snapshot (${before.snapshots} after ${committed})`);
      }
      committed = before.snapshots;
      if (interrupted) kills++;
      const next = await cli(['backup', '--state', state, '--json']);
      assert.is(next.code, 0, next.stderr);
      committed++;
      if (round === 0) {
        // Resumed: the chunks the killed run checkpointed are known, so this run stores only the rest.
        const summary = next.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>).find((l) => 'chunks_new' in l)!;
        const after = JSON.parse((await cli(['status', '--state', state, '--json'])).stdout) as { chunks: number };
        assert.ok(before.chunks > 0, 'the killed run had committed a checkpoint');
        assert.is(after.chunks, before.chunks + (summary.chunks_new ?? -1));
      }
    }
    const r = await cli(['restore', 'latest', '--state', state, '--target', join(t.path, 'r'), '--verify']);
    assert.is(r.code, 0, r.stdout);
    assertSameTree(snapshotTree(join(t.path, 'r', src)), snapshotTree(src));
    assert.ok(kills >= 2, `at least two runs died mid-backup (${kills})`);
    const final = await cli(['check', '--state', state, '--read-data']);
    assert.is(final.code, 0, final.stdout);
  } finally {
    t.cleanup();
  }
});

test('SIGKILL mid-restore: the next restore into the same target removes the temps the dead one left, and the tree is whole', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(join(src, 'logs'), { recursive: true });
    writeFileSync(join(src, 'logs', 'big.bin'), randomBytes(8 * 1024 * 1024));
    writeFileSync(join(src, 'logs', 'b.csv'), 't,v\n1,2\n');
    writeFileSync(join(src, 'top.txt'), 'top\n');
    const state = join(t.path, 'state');
    assert.is((await cli(['agent', 'init', '--state', state, '--name', 'gw.crash.test', '--profile', 'small-arm', '--source', src])).code, 0);
    assert.is((await cli(['backup', '--state', state])).code, 0);
    const target = join(t.path, 'r');
    const killed = await cli(['restore', 'latest', '--state', state, '--target', target], { BAKSA_FAULTS: JSON.stringify({ killAfterRestoredBytes: 1024 * 1024 }) });
    assert.is(killed.signal, 'SIGKILL');
    const temps = () => (readdirSync(target, { recursive: true }) as string[]).filter((p) => p.includes('.2baksa-'));
    const left = temps();
    assert.ok(left.length >= 1, 'the killed restore left its half-written temp');
    // Temps an earlier restore left are told from a running one's by their age (file times lag the clock).
    await new Promise((r) => setTimeout(r, 2500));
    const again = await cli(['restore', 'latest', '--state', state, '--target', target, '--json']);
    assert.is(again.code, 0, again.stderr);
    const summary = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.message_type === 'summary')!;
    assert.is(summary.temps_removed, left.length, JSON.stringify(left));
    assert.equal(temps(), []);
    assertSameTree(snapshotTree(join(target, src)), snapshotTree(src));
  } finally {
    t.cleanup();
  }
});

test.run();
