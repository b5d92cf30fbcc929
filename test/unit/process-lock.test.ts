// The backup lock: one holder per state directory; a dead holder's lock is taken over.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { acquireLock, processAlive, processStartTicks } from '../../shared/process-lock.ts';
import { tempDir } from './agent/_helpers.ts';

test('a second taker is refused while the first holds the lock', async () => {
  const t = tempDir();
  try {
    const path = join(t.path, 'backup.lock');
    const held = await acquireLock(path, 'first');
    writeFileSync(join(t.path, 'x'), '');
    // Same process: simulate another live holder by rewriting the pid to our parent's.
    writeFileSync(path, JSON.stringify({ pid: process.ppid, startTicks: processStartTicks(process.ppid), host: hostname(), purpose: 'other', sinceMs: 0 }));
    await acquireLock(path, 'second').then(
      () => assert.unreachable('took a live lock'),
      (e: { code?: string; details?: { pid?: number } }) => {
        assert.is(e.code, 'LOCKED');
        assert.is(e.details?.pid, process.ppid);
      },
    );
    await held.release(); // not ours any more: left alone
    assert.ok(existsSync(path));
  } finally {
    t.cleanup();
  }
});

test('a stale lock (dead pid, or a reused pid with another start time) is taken over', async () => {
  const t = tempDir();
  try {
    const path = join(t.path, 'backup.lock');
    writeFileSync(path, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), purpose: 'dead', sinceMs: 0 }));
    const a = await acquireLock(path, 'a');
    assert.ok(a.tookOver);
    await a.release();
    assert.not.ok(existsSync(path));
    writeFileSync(path, JSON.stringify({ pid: process.ppid, startTicks: 'not-the-start-time', host: hostname(), purpose: 'reused', sinceMs: 0 }));
    const b = await acquireLock(path, 'b');
    assert.ok(b.tookOver);
    await b.release();
    assert.ok(processAlive(process.pid, processStartTicks(process.pid)));
    assert.not.ok(processAlive(process.pid, 'nope'));
  } finally {
    t.cleanup();
  }
});

test.run();
