// Scripted view-change scenarios (PBFT §4.4, Castro & Liskov OSDI'99 / TOCS'02 §4.5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { script } from '../script.ts';

test('plain view change: the primary crashes, backups time out and elect the next one', () => {
  // PBFT §4.4 view change
  const s = script(`
    cluster n=4 clients=1 timeout=20
    submit 0
    stabilize
    expect executed 1
    expect result 0 1
    crash 0
    submit 0
    stabilize max=400
    expect view 1 on=1,2,3
    expect viewchanging no on=1,2,3
    expect executed 2 on=1,2,3
    expect result 0 2
  `);
  // The old primary comes back, learns the new view and catches up.
  s.run(`
    restart 0
    submit 0
    stabilize max=400
    expect view 1
    expect executed 3
  `);
  assert.ok(s.cluster.stats.newViews >= 3);
});

test('prepared state survives the view change: a request prepared but not committed keeps its seq', () => {
  // PBFT §4.4: the P set carries prepared certificates into the new view (no committed request lost).
  const s = script(`
    cluster n=4 clients=1 timeout=20
    submit 0
    deliver type=request
    deliver type=pre-prepare
    deliver type=prepare
    drop type=commit          # every commit is lost: prepared at 0,1,2,3, committed nowhere
    expect executed 0
    crash 0
    tick 40                   # the backups suspect the primary
    stabilize max=400
    expect view 1 on=1,2,3
    expect executed 1 on=1,2,3
    expect result 0 1
  `);
  // The request was executed at seq 1, the seq it was prepared at in view 0: not replaced by a null.
  assert.match(s.cluster.checker.executed.get(1)!, /client0\/1=/);
});

test('prepared state lost on restart is not lost: prepared certificates are persisted', () => {
  // PBFT §4.4 + persistence: backups crash after preparing; their restarted selves still carry the
  // prepared certificates in their view-change messages, so the committed request keeps seq 1.
  const s = script(`
    cluster n=4 clients=1 timeout=20
    submit 0
    deliver type=request
    deliver type=pre-prepare
    deliver type=prepare
    deliver type=commit to=1   # only replica 1 commits and executes (f+1 = 2 replies are needed)
    drop type=commit
    expect executed 1 on=1
    expect executed 0 on=0,2,3
    crash 1
    crash 2
    crash 3
    restart 1
    restart 2
    restart 3
    crash 0
    hold type=status,committed  # no catch-up by retransmission: only the view change can finish it
    stabilize max=600
    expect view 1 on=1,2,3
    expect executed 1 on=1,2,3
    expect result 0 1
  `);
  assert.match(s.cluster.checker.executed.get(1)!, /client0\/1=/);
});

test('a torn write on the primary: the lost pre-prepare was never sent, so nothing diverges', () => {
  // Persistence ordering rule: persist before the messages that depend on it.
  script(`
    cluster n=4 clients=1 timeout=20
    crash 0 torn
    submit 0
    deliver type=request       # the primary dies while persisting its pre-prepare
    expect queued 0 type=pre-prepare
    restart 0
    stabilize max=400
    expect executed 1
    expect result 0 1
  `);
});

test('a torn write while the new primary installs its view: it restarts knowing O', () => {
  // PBFT §4.4 + persistence: the view record carries the new-view, so a primary that crashes after
  // persisting the view but before its O entries does not reuse those sequence numbers.
  const s = script(`
    cluster n=4 clients=2 timeout=20
    submit 0
    deliver type=request
    deliver type=pre-prepare
    deliver type=prepare
    deliver type=commit to=2           # request 1 commits (at replica 2) at seq 1 in view 0
    drop type=commit
    hold type=status,committed
    crash 0
    crash 1 torn=2                     # replica 1 keeps its view record, loses its first O entry
    tick 25
    deliver-all
    expect executed 0 on=3
  `);
  assert.is(s.cluster.nodes[1]!.instances[0]!.alive, false, 'replica 1 crashed installing view 1');
  s.run(`
    restart 1
    release
    submit 1
    stabilize max=600 on=1,2,3
    expect view 1 on=1,2,3
    expect result 0 1
    expect result 1 1
  `);
  assert.match(s.cluster.checker.executed.get(1)!, /client0\/1=/);
  assert.match(s.cluster.checker.executed.get(2)!, /client1\/1=/);
});

test('view change whose checkpoint arrives late (concord-bft#2707)', () => {
  // A replica that missed a stable checkpoint still joins the view change, adopts the checkpoint from
  // the new-view (PBFT §4.4 min-s), fetches the state, and ignores the checkpoint messages that come late.
  script(`
    cluster n=4 clients=1 K=2 L=4 timeout=20
    isolate 3
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    expect executed 3 on=0,1,2
    expect stable 2 on=0,1,2
    expect executed 0 on=3
    heal
    hold type=checkpoint to=3
    crash 0
    submit 0
    stabilize max=600
    expect view 1 on=1,2,3
    expect viewchanging no on=1,2,3
    expect stable 2 on=3
    expect executed 4 on=1,2,3
    release
    deliver-all
    expect stable 4 on=1,2,3
    expect executed 4 on=1,2,3
  `);
});

test.run();
