// The agent CLI with real processes: compare exit codes (bbackupquery style), bad input refused with a
// hint, and the one-backup-at-a-time lock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cli, jsonLines } from '../../helpers/cli.ts';
import { tempDir } from '../../unit/agent/_helpers.ts';

test('compare exits 1 on a difference and 2 on an error; bad input is refused with a hint', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'hello\n');
    const state = join(t.path, 'state');
    assert.is((await cli(['agent', 'init', '--state', state, '--name', 'gw2', '--profile', 'small-arm', '--source', src])).code, 0);
    assert.is((await cli(['backup', '--state', state])).code, 0);
    assert.is((await cli(['compare', 'latest', '--state', state])).code, 0);
    writeFileSync(join(src, 'a.txt'), 'hellO\n');
    const diff = await cli(['compare', 'latest', '--state', state]);
    assert.is(diff.code, 1);
    assert.match(diff.stdout, /content\s+.*a\.txt/);
    assert.is((await cli(['compare', 'nosuch', '--state', state])).code, 2);
    // A --path the snapshot lacks is an error (it compared nothing), with the absolute path to use.
    const noPath = await cli(['compare', 'latest', '--state', state, '--path', 'a.txt']);
    assert.is(noPath.code, 2, noPath.stdout);
    assert.match(noPath.stderr, 'PATH_NOT_IN_SNAPSHOT');
    assert.match(noPath.stderr, `--path ${join(src, 'a.txt')}`);
    assert.is((await cli(['compare', 'latest', '--state', state, '--path', join(src, 'a.txt')])).code, 1);
    // restore --verify checks what it restored: a file the target already held is not a difference.
    const target = join(t.path, 'target');
    mkdirSync(join(target, src), { recursive: true });
    writeFileSync(join(target, src, 'mine.txt'), 'already here');
    const verified = await cli(['restore', 'latest', '--state', state, '--target', target, '--verify']);
    assert.is(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, 'no differences');
    // A source that is a symlink (logs on a data partition) backs up what it links to, and compares clean.
    const real = join(t.path, 'data');
    mkdirSync(real);
    writeFileSync(join(real, 'sensor.csv'), 'ts,value\n1,2\n');
    symlinkSync(real, join(t.path, 'linked'));
    const linked = join(t.path, 'st-linked');
    assert.is((await cli(['agent', 'init', '--state', linked, '--name', 'gw4', '--profile', 'small-arm', '--source', join(t.path, 'linked')])).code, 0);
    const b = jsonLines((await cli(['backup', '--state', linked, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    assert.is(b.total_bytes_processed, 13, 'the linked file, not a link');
    assert.is((await cli(['compare', 'latest', '--state', linked])).code, 0);
    const r = await cli(['restore', 'latest', '--state', linked, '--target', join(t.path, 'r-linked'), '--verify']);
    assert.is(r.code, 0, r.stdout + r.stderr);
    assert.is(readFileSync(join(t.path, 'r-linked', t.path, 'linked', 'sensor.csv'), 'utf8'), 'ts,value\n1,2\n');
    const noAgent = await cli(['agent', 'rotate-key', '--state', join(t.path, 'nothing')]);
    assert.is(noAgent.code, 3, noAgent.stderr);
    assert.match(noAgent.stderr, 'STATE_NOT_INITIALIZED');

    const badProfile = await cli(['agent', 'init', '--state', join(t.path, 's2'), '--name', 'gw3', '--profile', 'tiny', '--source', src]);
    assert.is(badProfile.code, 3);
    assert.match(badProfile.stderr, 'CONFIG_INVALID');
    assert.match(badProfile.stderr, 'what to do');
    const badName = await cli(['agent', 'init', '--state', join(t.path, 's3'), '--name', 'not a name!', '--profile', 'small-arm', '--source', src]);
    assert.is(badName.code, 3);
    assert.match(badName.stderr, 'name');
    const noSource = await cli(['agent', 'init', '--state', join(t.path, 's4'), '--name', 'gw5', '--profile', 'small-arm']);
    assert.is(noSource.code, 2);
    assert.match(noSource.stderr, 'add --source PATH');
    const noState = await cli(['backup', '--state', join(t.path, 'nothing')]);
    assert.is(noState.code, 3);
    assert.match(noState.stderr, 'agent init');
    const again = await cli(['agent', 'init', '--state', state, '--name', 'gw2', '--profile', 'small-arm', '--source', src]);
    assert.is(again.code, 2);
    assert.match(again.stderr, 'AGENT_EXISTS');
  } finally {
    t.cleanup();
  }
});

test('agent run with its --broker-listen port taken exits 3 naming the flag, rather than running on without a broker', async () => {
  const t = tempDir();
  const held = createServer();
  try {
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    const port = (held.address() as AddressInfo).port;
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'hello\n');
    const state = join(t.path, 'state');
    const init = await cli(['agent', 'init', '--state', state, '--name', 'gw1', '--site', 'plant', '--members', 'gw1,gw2,gw3', '--broker', `mqtt://127.0.0.1:${port}`, '--profile', 'small-arm', '--source', src]);
    assert.is(init.code, 0, init.stderr);
    const run = await cli(['agent', 'run', '--state', state, '--broker-listen', String(port), '--broker-host', '127.0.0.1']);
    assert.is(run.code, 3, run.stderr);
    assert.match(run.stderr, 'PORT_IN_USE');
    assert.match(run.stderr, `--broker-listen: 127.0.0.1:${port} is already in use`);
  } finally {
    await new Promise<void>((resolve) => held.close(() => resolve()));
    t.cleanup();
  }
});

test('one backup at a time: a live lock refuses, a dead one is taken over', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'x');
    const state = join(t.path, 'state');
    await cli(['agent', 'init', '--state', state, '--name', 'gw4', '--profile', 'small-arm', '--source', src]);
    const { processStartTicks } = await import('../../../shared/process-lock.ts');
    const { hostname } = await import('node:os');
    // Held by this (live) test process.
    writeFileSync(join(state, 'backup.lock'), JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid), host: hostname(), purpose: 'test', sinceMs: 0 }));
    const busy = await cli(['backup', '--state', state]);
    assert.is(busy.code, 5);
    assert.match(busy.stderr, 'LOCKED');
    // Held by a process that is gone (the same pid with another start time counts as gone too).
    writeFileSync(join(state, 'backup.lock'), JSON.stringify({ pid: process.pid, startTicks: '1', host: hostname(), purpose: 'test', sinceMs: 0 }));
    const ok = await cli(['backup', '--state', state]);
    assert.is(ok.code, 0, ok.stderr);
    assert.throws(() => statSync(join(state, 'backup.lock')), 'the lock is released after the run');
  } finally {
    t.cleanup();
  }
});

test.run();
