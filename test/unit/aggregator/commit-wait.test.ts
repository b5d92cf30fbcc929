// An API call's wait for its account command (aggregator/node/commit-wait.ts): the commit's result when
// it comes; COMMIT_TIMEOUT naming the unreachable nodes after the short wait when a quorum is out of
// reach, after the long one otherwise. The clock is the test's, so no timing decides an outcome.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { awaitCommit } from '../../../aggregator/node/commit-wait.ts';
import type { BaksaError } from '../../../shared/errors.ts';

const nodes = ['agg1', 'agg2', 'agg3', 'agg4'];
const ticks = (n: number) => new Promise((r) => setTimeout(r, n * 5));

function settled<T>(p: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; value: () => T | undefined; error: () => BaksaError | undefined } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let value: T | undefined;
  let error: BaksaError | undefined;
  p.then(
    (v) => ((state = 'resolved'), (value = v)),
    (e: BaksaError) => ((state = 'rejected'), (error = e)),
  );
  return { state: () => state, value: () => value, error: () => error };
}

test('a commit that comes is the answer', async () => {
  let clock = 0;
  let commit!: (v: string) => void;
  const r = settled(awaitCommit(new Promise<string>((res) => (commit = res)), { nodes, reachable: () => nodes, checkMs: 1, now: () => clock }));
  await ticks(4);
  assert.is(r.state(), 'pending');
  clock = 19_000;
  commit('applied');
  await ticks(2);
  assert.is(r.state(), 'resolved');
  assert.is(r.value(), 'applied');
});

test('fewer than a quorum reachable: COMMIT_TIMEOUT after the short wait, naming the nodes down', async () => {
  let clock = 0;
  const r = settled(awaitCommit(new Promise<never>(() => undefined), { nodes, reachable: () => ['agg1', 'agg2'], checkMs: 1, now: () => clock }));
  clock = 2_999;
  await ticks(4);
  assert.is(r.state(), 'pending', 'cut links get the short wait to come back');
  clock = 3_000;
  await ticks(4);
  assert.is(r.state(), 'rejected');
  const e = r.error()!;
  assert.is(e.code, 'COMMIT_TIMEOUT');
  assert.is(e.exitCode, 5);
  assert.match(e.message, /reaches 2 of 4 nodes and a commit needs 3; down or cut off: agg3, agg4$/);
  assert.match(e.hint ?? '', /stays queued/);
});

test('a quorum reachable: the long wait, then COMMIT_TIMEOUT', async () => {
  let clock = 0;
  const r = settled(awaitCommit(new Promise<never>(() => undefined), { nodes, reachable: () => ['agg1', 'agg2', 'agg4'], checkMs: 1, now: () => clock }));
  clock = 10_000;
  await ticks(4);
  assert.is(r.state(), 'pending');
  clock = 20_000;
  await ticks(4);
  assert.is(r.error()?.code, 'COMMIT_TIMEOUT');
  assert.match(r.error()!.message, /did not order it .*down or cut off: agg3$/);
});

test.run();
