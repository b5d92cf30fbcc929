// Bad input and faults with real processes: unreadable files, files changing while read, a full disk,
// and SIGKILL at random moments of a backup (the next run resumes, nothing committed is lost, and
// `check --read-data` passes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, jsonLines } from '../../helpers/cli.ts';
import { pseudoRandom, sensorLines, tempDir } from '../../unit/agent/_helpers.ts';

async function init(root: string, src: string, profile = 'small-arm'): Promise<string> {
  const state = join(root, 'state');
  const r = await cli(['agent', 'init', '--state', state, '--name', 'gw.faults.test', '--profile', profile, '--source', src]);
  assert.is(r.code, 0, r.stderr);
  return state;
}

function editConfig(state: string, edit: (c: Record<string, unknown>) => void): void {
  const path = join(state, 'agent.json');
  const c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(c);
  writeFileSync(path, JSON.stringify(c));
}

test('unreadable entries (two read errors) are skipped with read-error events, a FIFO kept; the backup completes and exits 6', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    execFileSync('mkfifo', [join(src, 'fifo')]);
    writeFileSync(join(src, 'bad.csv'), sensorLines(50));
    writeFileSync(join(src, 'broken.csv'), sensorLines(100));
    writeFileSync(join(src, 'fine.csv'), sensorLines(100, 1000));
    const state = await init(t.path, src);
    const r = await cli(['backup', '--state', state, '--json'], { BAKSA_FAULTS: JSON.stringify({ readError: '(bad|broken)\\.csv$' }) });
    assert.is(r.code, 6, r.stderr);
    assert.match(r.stderr, 'BACKUP_INCOMPLETE');
    const lines = jsonLines(r.stdout);
    const errors = lines.filter((l) => l.event === 'read-error').map((l) => String(l.path).slice(src.length)).sort();
    assert.equal(errors, ['/bad.csv', '/broken.csv'], 'a FIFO is an entry (restore makes it again), not a read error');
    const summary = lines.find((l) => l.message_type === 'summary')!;
    assert.is(summary.files_skipped, 2);
    assert.is(summary.total_files_processed, 1);
    const people = await cli(['backup', '--state', state], { BAKSA_FAULTS: JSON.stringify({ readError: '(bad|broken)\\.csv$' }) });
    assert.is(people.code, 6);
    assert.match(people.stderr, /warning: skipped .*broken\.csv/);
    assert.match(people.stderr, /backup incomplete: 2 entries could not be read.*\n  what to do: /);
    const status = await cli(['status', '--state', state]);
    assert.match(status.stdout, /last_backup +snapshot ok, 2 entries skipped at /);
    const snaps = JSON.parse((await cli(['snapshots', '--state', state, '--json'])).stdout) as unknown[];
    assert.is(snaps.length, 2, 'both runs saved their snapshot');
  } finally {
    t.cleanup();
  }
});

test('a file changing while read is re-read, or skipped when it never settles — never stored torn', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'hot.csv'), sensorLines(20_000));
    const state = await init(t.path, src);
    const once = await cli(['backup', '--state', state, '--json'], { BAKSA_FAULTS: JSON.stringify({ mutate: { match: 'hot\\.csv$', times: 1 } }) });
    assert.is(once.code, 0, once.stderr);
    assert.is(jsonLines(once.stdout).find((l) => l.message_type === 'summary')!.files_skipped, 0);
    const r = await cli(['restore', 'latest', '--state', state, '--target', join(t.path, 'r'), '--verify']);
    assert.is(r.code, 0, r.stdout);
    writeFileSync(join(src, 'hot.csv'), sensorLines(21_000));
    const always = await cli(['backup', '--state', state, '--json'], { BAKSA_FAULTS: JSON.stringify({ mutate: { match: 'hot\\.csv$', times: 99 } }) });
    assert.is(always.code, 6, 'saved without the file, and says so');
    const err = jsonLines(always.stdout).find((l) => l.event === 'read-error')!;
    assert.is(err.code, 'FILE_CHANGING');
  } finally {
    t.cleanup();
  }
});

test('a source that is not there: init warns, and backups save the rest and exit 6 until it exists', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'fine.csv'), sensorLines(100));
    const later = join(t.path, 'mounted-later');
    const state = join(t.path, 'state');
    const init = await cli(['agent', 'init', '--state', state, '--name', 'gw.faults.test', '--profile', 'small-arm', '--source', src, later]);
    assert.is(init.code, 0, init.stderr);
    assert.match(init.stderr, `warning: source ${later} does not exist (yet)`);
    const missing = await cli(['backup', '--state', state, '--json']);
    assert.is(missing.code, 6, missing.stderr);
    const summary = jsonLines(missing.stdout).find((l) => l.message_type === 'summary')!;
    assert.equal([summary.total_files_processed, summary.files_skipped], [1, 1]);
    mkdirSync(later);
    writeFileSync(join(later, 'more.csv'), sensorLines(50));
    const whole = await cli(['backup', '--state', state]);
    assert.is(whole.code, 0, whole.stderr);
    assert.not.match(whole.stderr, 'BACKUP_INCOMPLETE');
    assert.match((await cli(['status', '--state', state])).stdout, /last_backup +snapshot ok at /);
  } finally {
    t.cleanup();
  }
});

test('a full disk gives DISK_FULL, commits nothing half-way, and the next run succeeds', async () => {
  const t = tempDir();
  const mnt = join(t.path, 'state', 'shards');
  let mounted = false;
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'small.csv'), sensorLines(1000));
    const state = await init(t.path, src);
    assert.is((await cli(['backup', '--state', state])).code, 0);
    writeFileSync(join(src, 'big.bin'), pseudoRandom(6 * 1024 * 1024, 4));
    mkdirSync(mnt, { recursive: true });
    // A tiny tmpfs holding the shard volume (real ENOSPC); without mount rights, an impossible reserve.
    const tmp = join(t.path, 'moved');
    execFileSync('cp', ['-a', mnt, tmp]);
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]).status === 0;
    if (mounted) {
      execFileSync('sh', ['-c', `cp -a ${tmp}/. ${mnt}/`]);
      editConfig(state, (c) => (c.storage = { reserveBytes: 0 }));
    } else {
      editConfig(state, (c) => (c.storage = { reserveBytes: 1024 ** 5 }));
    }
    const full = await cli(['backup', '--state', state]);
    assert.is(full.code, 5, full.stderr);
    assert.match(full.stderr, 'DISK_FULL');
    assert.match(full.stderr, 'what to do');
    const snaps = JSON.parse((await cli(['snapshots', '--state', state, '--json'])).stdout) as unknown[];
    assert.is(snaps.length, 1, 'no snapshot was committed by the failed run');
    const check = await cli(['check', '--state', state, '--read-data']);
    assert.is(check.code, 0, check.stdout);
    if (mounted) {
      execFileSync('sh', ['-c', `cp -a ${mnt}/. ${tmp}/`]);
      spawnSync('umount', [mnt]);
      mounted = false;
      execFileSync('sh', ['-c', `cp -a ${tmp}/. ${mnt}/`]);
    }
    editConfig(state, (c) => delete c.storage);
    const ok = await cli(['backup', '--state', state]);
    assert.is(ok.code, 0, ok.stderr);
    assert.is((await cli(['restore', 'latest', '--state', state, '--target', join(t.path, 'r'), '--verify'])).code, 0);
  } finally {
    if (mounted) spawnSync('umount', [mnt]);
    t.cleanup();
  }
});

test.run();
