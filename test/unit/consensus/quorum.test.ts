// Quorum arithmetic (PBFT §4, the quorum ceil((n+f+1)/2) of the DESIGN §5) and vote counting.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkClusterSize, defaultFaults, quorumSize, VoteSet } from '../../../shared/consensus/index.ts';

test('quorum sizes: 2f+1 when n = 3f+1, lone gateway and crash-tolerant three', () => {
  assert.is(quorumSize(1, 0), 1);
  assert.is(quorumSize(3, 0), 2);
  assert.is(quorumSize(4, 1), 3);
  assert.is(quorumSize(7, 2), 5);
  assert.is(quorumSize(10, 3), 7);
  assert.is(quorumSize(5, 1), 4);
  assert.is(defaultFaults(3), 0);
  assert.is(defaultFaults(4), 1);
  assert.is(defaultFaults(22), 7);
});

test('any two quorums share f+1 replicas, and n-f replicas still form a quorum', () => {
  for (let n = 1; n <= 40; n++) {
    for (let f = 0; 3 * f + 1 <= n; f++) {
      const q = quorumSize(n, f);
      assert.ok(2 * q - n >= f + 1, `intersection n=${n} f=${f}`);
      assert.ok(q <= n - f, `availability n=${n} f=${f}`);
    }
  }
});

test('cluster sizes the protocol cannot run are refused with the field name', () => {
  assert.throws(() => checkClusterSize(3, 1), /consensus\.f/);
  assert.throws(() => checkClusterSize(0, 0), /consensus\.n/);
  checkClusterSize(4, 1);
});

test('a replica votes once: duplicates and second opinions do not count (fabric#370)', () => {
  const votes = new VoteSet<string>();
  assert.ok(votes.add('d1', 1, 'a'));
  assert.not.ok(votes.add('d1', 1, 'again'));
  assert.not.ok(votes.add('d2', 1, 'other digest'));
  assert.ok(votes.add('d1', 2, 'b'));
  assert.is(votes.count('d1'), 2);
  assert.is(votes.count('d2'), 0);
  assert.equal(votes.voters('d1'), [1, 2]);
  assert.is(votes.get('d1', 2), 'b');
});

test.run();
