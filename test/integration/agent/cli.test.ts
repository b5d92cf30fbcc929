// The agent CLI end to end with real processes: init → backup → snapshots → restore --verify →
// check --read-data; incremental on generated sensor logs; forget --prune; status; the backup lock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { cli, jsonLines, repoRoot } from '../../helpers/cli.ts';
import { assertSameTree, snapshotTree, tempDir } from '../../unit/agent/_helpers.ts';

const gen = '/work/shared/tools/gen-sensor-logs.py';

test('init → backup → snapshots → restore --verify → check --read-data, then an incremental run', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'logs');
    execFileSync('python3', [gen, src, '3']);
    chmodSync(join(src, 'blobs'), 0o750);
    const state = join(t.path, 'state');
    // small-arm with smaller chunks, so 3 MB of logs span several chunks per file.
    const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles', 'small-arm.json'), 'utf8'));
    profile.name = 'small-arm-test';
    profile.chunking = { minBytes: 4096, avgBytes: 8192, maxBytes: 32768 };
    const profilePath = join(t.path, 'small-arm-test.json');
    writeFileSync(profilePath, JSON.stringify(profile));
    const init = await cli(['agent', 'init', '--state', state, '--name', 'GW1.Example.Org', '--profile', profilePath, '--source', src, '--exclude', '*.tmp', '--json']);
    assert.is(init.code, 0, init.stderr);
    const config = JSON.parse(readFileSync(join(state, 'agent.json'), 'utf8'));
    assert.is(config.name, 'gw1.example.org');
    assert.equal(config.excludes, ['*.tmp']);
    assert.is(statSync(join(state, 'keys', 'root.key')).mode & 0o777, 0o600);
    assert.is(statSync(join(state, 'keys', 'node.key')).mode & 0o777, 0o600);
    writeFileSync(join(src, 'scratch.tmp'), 'excluded');

    const b1 = await cli(['backup', '--state', state, '--json']);
    assert.is(b1.code, 0, b1.stderr);
    const sum1 = jsonLines(b1.stdout).find((l) => l.message_type === 'summary')!;
    assert.ok(sum1.snapshot_id);
    assert.is(sum1.total_files_processed, 54);

    const snaps = await cli(['snapshots', '--state', state, '--json']);
    const list = JSON.parse(snaps.stdout) as Array<{ id: string }>;
    assert.is(list.length, 1);
    assert.is(list[0]!.id, sum1.snapshot_id);

    const target = join(t.path, 'restore');
    const r = await cli(['restore', 'latest', '--state', state, '--target', target, '--verify']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, 'no differences');
    const expected = snapshotTree(src);
    expected.delete('scratch.tmp');
    assertSameTree(snapshotTree(join(target, src)), expected);

    const c = await cli(['check', '--state', state, '--read-data', '--json']);
    assert.is(c.code, 0, c.stdout);
    assert.is(JSON.parse(c.stdout).status, 'OK');

    // Incremental: logs grow by 5 %, one blob is rewritten.
    execFileSync('python3', [gen, src, '3', '--append', '5']);
    const past = new Date(Date.now() - 10_000);
    for (const dir of ['sensors', 'events', 'blobs']) {
      for (const f of execFileSync('ls', [join(src, dir)]).toString().trim().split('\n')) utimesSync(join(src, dir, f), past, statSync(join(src, dir, f)).mtime);
    }
    const b2 = await cli(['backup', '--state', state, '--json']);
    assert.is(b2.code, 0, b2.stderr);
    const sum2 = jsonLines(b2.stdout).find((l) => l.message_type === 'summary')!;
    assert.is(sum2.files_appended, 48);
    // New tails (5 % of the logs), the last old chunk (≤ 32 KiB) and first 4 KiB of each log, and the rewritten blob.
    const total = sum2.total_bytes_processed as number;
    const bound = 0.06 * total + 48 * (32768 + 4096) + 80_000;
    assert.ok((sum2.bytes_read as number) < bound, `read ${sum2.bytes_read} of ${total} (bound ${bound})`);
    const forced = await cli(['backup', '--state', state, '--force', '--json']);
    assert.is(forced.code, 0, forced.stderr);
    const sum3 = jsonLines(forced.stdout).find((l) => l.message_type === 'summary')!;
    assert.is(sum3.files_unchanged, 0, '--force trusts no file of the catalog');
    assert.is(sum3.bytes_read, sum3.total_bytes_processed, '--force reads every byte');
    const cmp = await cli(['compare', 'latest', '--state', state]);
    assert.is(cmp.code, 0, `the live tree matches (scratch.tmp is excluded): ${cmp.stdout}`);
    const r2 = await cli(['restore', 'latest', '--state', state, '--target', join(t.path, 'r2'), '--verify', '--json']);
    assert.is(r2.code, 0, r2.stdout);
    const expected2 = snapshotTree(src);
    expected2.delete('scratch.tmp');
    assertSameTree(snapshotTree(join(t.path, 'r2', src)), expected2);

    const status = await cli(['status', '--state', state, '--json']);
    const s = JSON.parse(status.stdout);
    assert.is(s.snapshots, 3);
    assert.is(s.lastRun.ok, true);
    assert.is(s.name, 'gw1.example.org');

    const f = await cli(['forget', '--state', state, '--keep-last', '1', '--keep-hourly', '0', '--keep-daily', '0', '--keep-weekly', '0', '--keep-monthly', '0', '--prune', '--json']);
    assert.is(f.code, 0, f.stderr);
    const fj = JSON.parse(f.stdout);
    assert.is(fj.remove.length, 2);
    assert.ok(fj.prune.chunksDeleted >= 1);
    const c2 = await cli(['check', '--state', state, '--read-data']);
    assert.is(c2.code, 0, c2.stdout);
    assert.match(c2.stdout, /no errors were found/);

    // One shard damaged: the repair says what it did, not that nothing was wrong.
    const committed = join(state, 'shards', 'committed');
    const fan = readdirSync(committed).find((d) => readdirSync(join(committed, d)).length > 0)!;
    const victim = join(committed, fan, readdirSync(join(committed, fan))[0]!);
    const bytes = readFileSync(victim);
    bytes[0] = bytes[0]! ^ 0xff;
    writeFileSync(victim, bytes);
    const repaired = await cli(['check', '--state', state, '--read-data', '--repair']);
    assert.is(repaired.code, 0, repaired.stdout);
    assert.match(repaired.stdout, /1 damaged shard was found and rebuilt; nothing else is wrong/);
    assert.not.match(repaired.stdout, /no errors were found/);
  } finally {
    t.cleanup();
  }
});

test('keys: agent rotate-key now, a backup rotates when keyRotationDays have passed, every version restores', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    execFileSync('mkdir', ['-p', src]);
    writeFileSync(join(src, 'a.csv'), 'ts,value\n'.repeat(20_000));
    const state = join(t.path, 'state');
    assert.is((await cli(['agent', 'init', '--state', state, '--name', 'gw1.example.org', '--profile', 'small-arm', '--source', src])).code, 0);
    const status = async () => JSON.parse((await cli(['status', '--state', state, '--json'])).stdout) as { key: { version: number; nextRotationMs?: number } };
    assert.is((await status()).key.version, 1);
    assert.is((await cli(['backup', '--state', state])).code, 0);

    const rotated = await cli(['agent', 'rotate-key', '--state', state, '--json']);
    assert.is(rotated.code, 0, rotated.stderr);
    const record = JSON.parse(rotated.stdout) as { key_version: number; previous_version: number };
    assert.equal([record.previous_version, record.key_version], [1, 2]);
    const s2 = await status();
    assert.is(s2.key.version, 2);
    assert.ok(s2.key.nextRotationMs! > Date.now() + 89 * 86_400_000, 'the next rotation is 90 days away');

    writeFileSync(join(src, 'b.csv'), 'after the first rotation\n'.repeat(5000));
    const b2 = jsonLines((await cli(['backup', '--state', state, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    assert.is(b2.key_version, undefined, 'not due: no rotation');

    // Two days after a rotation with keyRotationDays 1: the next backup rotates first.
    const config = JSON.parse(readFileSync(join(state, 'agent.json'), 'utf8'));
    writeFileSync(join(state, 'agent.json'), JSON.stringify({ ...config, keyRotationDays: 1, keyRotatedMs: Date.now() - 2 * 86_400_000 }));
    writeFileSync(join(src, 'c.csv'), 'after the second rotation\n'.repeat(5000));
    const b3 = jsonLines((await cli(['backup', '--state', state, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    assert.is(b3.key_rotated_from, 2);
    assert.is(b3.key_version, 3);
    assert.is((await status()).key.version, 3);

    const r = await cli(['restore', 'latest', '--state', state, '--target', join(t.path, 'r'), '--verify']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assertSameTree(snapshotTree(join(t.path, 'r', src)), snapshotTree(src));
    const c = await cli(['check', '--state', state, '--read-data', '--json']);
    assert.is(JSON.parse(c.stdout).status, 'OK', c.stdout);
  } finally {
    t.cleanup();
  }
});

test.run();
