// Scripted view-change scenarios (PBFT §4.4, Castro & Liskov OSDI'99 / TOCS'02 §4.5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Cluster } from '../cluster.ts';
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

test('a replica that is only behind waits and catches up instead of asking for a view change alone', () => {
  // Replica 3 hears none of the ordering, then learns of a request the others executed long ago. Its
  // request timer expires while f+1 others say (status) that they executed past it in this view: the
  // primary is fine, it is behind. Before, it asked for view 1 alone and sat out view 0 for good.
  const s = script(`
    cluster n=4 clients=1 timeout=20 status=5
    hold type=pre-prepare,prepare,commit,committed,checkpoint,state to=3
    submit 0
    run 10
    expect executed 1 on=0,1,2
    expect executed 0 on=3
    replay 0 1                # the request reaches replica 3, which cannot execute it yet
    run 80                    # four request timeouts
    expect view 0 on=3
    expect viewchanging no on=3
    expect executed 0 on=3
    release
    stabilize max=400
    expect view 0
    expect executed 1
  `);
  assert.is(s.cluster.stats.newViews, 0);
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

test('a silent primary is suspected with no client retransmission: every backup is in the new view within 2 view timeouts', () => {
  // suspicion.ts: backups suspect a primary they have not heard for a view timeout (PBFT §4.4 leaves
  // the rule open). Timeout 20, so the bound is 40 ticks, whatever the phase of the crash in the
  // primary's status period, idle or with a request that reached the primary alone. The client's
  // timeout (60) is longer than the bound: no client retransmission helps.
  for (const n of [4, 7]) {
    const backups = Array.from({ length: n - 1 }, (_, i) => i + 1).join(',');
    for (const waiting of [false, true]) {
      for (let phase = 0; phase < 5; phase++) {
        const s = script(`
          cluster n=${n} clients=1 batch=2 timeout=20 status=5 clientTimeout=60
          submit 0
          stabilize
          expect result 0 1
          run ${phase}
          ${waiting ? 'submit 0' : ''}
          deliver type=request       # the primary alone has the request (if any): it proposes it at once...
          drop type=pre-prepare      # ...but the pre-prepare is lost
          crash 0                    # ...and the primary dies
          run 40
          expect view 1 on=${backups}
          expect viewchanging no on=${backups}
        `);
        assert.is(s.cluster.clients[0]!.results.size, 1, 'the view changed before the client retransmitted');
        if (waiting) s.run('stabilize max=400\nexpect result 0 2');
      }
    }
  }
});

test('a live primary is never suspected: no view change over long idle and loaded stretches', () => {
  // suspicion.ts: the status period is half the view timeout (the most types.ts allows), and packets
  // take 1 to 3 ticks, so the idle primary is heard at least every 7 of the 10 ticks of patience.
  for (const n of [4, 7]) {
    const network = { lossRate: 0, duplicateRate: 0.05, delayTicksMin: 1, delayTicksMax: 3 };
    const cluster = new Cluster({
      seed: n, n, clients: 3, network, replicaOptions: { viewTimeoutTicks: 10, statusIntervalTicks: 5, batchRequestsMax: 4 },
      clientOptions: { requestTimeoutTicks: 40 },
    });
    for (let t = 0; t < 6000; t++) {
      const loaded = Math.floor(t / 500) % 2 === 1; // 500 idle ticks, 500 loaded ones, and so on
      if (loaded) for (let i = 0; i < cluster.clients.length; i++) if (cluster.clients[i]!.client.inFlight === 0) cluster.submit(i);
      cluster.tick();
      for (const inst of cluster.correctInstances()) {
        const st = inst.replica.status;
        assert.ok(st.view === 0 && !st.viewChanging, `n=${n}: replica ${st.id} left view 0 at tick ${t} (view ${st.view})`);
      }
    }
    assert.ok(cluster.checker.accepted.size > 500, `n=${n}: clients got only ${cluster.checker.accepted.size} results`);
  }
});

test('a backup cut off from the others does not suspect the primary, and stays in the view', () => {
  // suspicion.ts: silence counts only while quorum-1 other backups are heard. A backup that suspected
  // alone would leave the view for good (PBFT has no way back) and sit out until the next view change.
  script(`
    cluster n=4 clients=1 timeout=20 status=5
    submit 0
    stabilize
    isolate 3
    run 200
    expect viewchanging no on=3
    heal
    partition 0,1|2,3          # 2 and 3 hear each other, not the primary: one backup short of a quorum
    run 200
    heal
    submit 0
    run 50
    expect view 0
    expect viewchanging no
    expect executed 2
  `);
});

test('silent primaries in a row: the view timeout still doubles with each view change without progress', () => {
  // PBFT §4.5.2 liveness: the timeout doubles per view change that executes nothing. Timeout 20.
  // Two primaries die at once: the backups suspect the first after 20 ticks, wait 40 for view 1's
  // new-view, then move to view 2.
  script(`
    cluster n=7 clients=1 timeout=20 status=5
    crash 0
    crash 1
    run 50
    expect view 1 on=2,3,4,5,6
    expect viewchanging yes on=2,3,4,5,6
    run 30
    expect view 2 on=2,3,4,5,6
    expect viewchanging no on=2,3,4,5,6
  `);
  // One at a time: view 1 is installed, its primary dies while nothing has executed since, so the
  // backups give it 40 ticks of silence, not 20.
  script(`
    cluster n=7 clients=1 timeout=20 status=5
    crash 0
    run 40
    expect view 1 on=1,2,3,4,5,6
    expect viewchanging no on=1,2,3,4,5,6
    crash 1
    run 30
    expect view 1 on=2,3,4,5,6
    expect viewchanging no on=2,3,4,5,6
    run 20
    expect view 2 on=2,3,4,5,6
    expect viewchanging no on=2,3,4,5,6
  `);
});

test.run();
