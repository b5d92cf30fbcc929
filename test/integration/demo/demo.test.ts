// `npm start` runs `2baksa demo`: the whole demo must succeed end to end (a small data set here).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';

test('the demo backs up, detects and heals a corrupt shard, and restores byte-identical', () => {
  const r = spawnSync(process.execPath, ['cli/2baksa.mjs', 'demo', '--mb', '4'], { encoding: 'utf8', timeout: 240_000 });
  assert.is(r.status, 0, r.stderr + r.stdout.slice(-2000));
  assert.match(r.stdout, /check --read-data finds it/);
  assert.match(r.stdout, /repaired\s+1/);
  assert.match(r.stdout, /compare: \d+ entries, no differences/);
  assert.match(r.stdout, /restoredIdentical\s+\d+ files/);
});

test.run();
