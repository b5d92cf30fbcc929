// Scripted Byzantine scenarios: duplicate votes, forged certificates, an equivocating twin primary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { NULL_DIGEST, signedBytes, type PrePrepare, type Prepare, type ViewChange } from '../../../shared/consensus/index.ts';
import { script } from '../script.ts';

test('duplicate votes are counted once per replica (fabric#370)', () => {
  // PBFT §4.2: prepared needs quorum-1 prepares from *different* backups, committed a quorum of
  // commits from *different* replicas. Here each vote arrives three times.
  script(`
    cluster n=4 clients=1
    submit 0
    deliver type=request
    deliver type=pre-prepare
    drop type=prepare from=1,2          # only replica 3's prepare travels...
    dup type=prepare from=3 to=0 times=3 # ...and reaches the primary three times
    deliver type=prepare
    expect queued 0 type=commit from=0  # one distinct prepare: the primary is not prepared
    drop type=commit from=1             # replicas 1 and 2 prepared (their own prepare + 3's)
    drop type=commit from=2 to=0,3
    dup type=commit from=2 to=1 times=3
    deliver type=commit
    expect executed 0                   # replica 1 holds 2 distinct commits, not 3
    stabilize                           # retransmission completes the request normally
    expect executed 1
    expect result 0 1
  `);
});

test('a bad prepared certificate cannot mask good ones (concord-bft#50)', () => {
  // PBFT §4.4: the new primary picks, per seq, the prepared certificate of the highest view. A
  // Byzantine replica claims a certificate of a higher view (1) than the good one (0), with
  // signatures nobody made. Its whole view-change must be rejected, or seq 1 would become a null
  // request although replica 2 already executed the request there.
  const s = script(`
    cluster n=4 clients=1 timeout=20 byzantine=3:mute
    submit 0
    deliver type=request
    deliver type=pre-prepare
    deliver type=prepare                # prepared at 0, 1, 2 in view 0
    deliver type=commit to=2            # only replica 2 commits and executes seq 1
    drop type=commit
    hold type=status,committed
    expect executed 1 on=2
    expect executed 0 on=0,1
    tick 25                             # 0 and 1 suspect the primary: view-change to 1
    deliver type=view-change to=2       # f+1 of them: replica 2 joins
    crash 1                             # the primary of view 1 dies before any new-view
    drop to=1
    deliver-all
    tick 90
    deliver-all
    expect view 2 on=0,2
    expect viewchanging yes on=0,2
  `);
  const cluster = s.cluster;
  const byz = cluster.nodes[3]!;
  const forgedPrePrepare: PrePrepare = {
    type: 'pre-prepare', view: 1, seq: 1, digest: NULL_DIGEST, timeMs: 0, replica: 1, sig: new Uint8Array(8), batch: [],
  };
  const forgedPrepares: Prepare[] = [0, 2].map((r) => ({ type: 'prepare', view: 1, seq: 1, digest: NULL_DIGEST, replica: r, sig: new Uint8Array(8) }));
  const unsigned = {
    type: 'view-change' as const,
    view: 2,
    stableSeq: 0,
    checkpointProof: [],
    prepared: [{ prePrepare: forgedPrePrepare, prepares: forgedPrepares }],
    replica: 3,
  };
  const forged: ViewChange = { ...unsigned, sig: byz.signer.sign(signedBytes(unsigned)) };
  for (const to of [0, 2]) cluster.deliver({ id: 0, from: 'r3', to: `r${to}`, payload: forged, deliverAt: 0 });
  s.run(`
    expect rejected view-change-invalid on=0,2
    expect viewchanging yes on=0,2      # two valid view-changes are not a quorum
    restart 1
    release
    stabilize max=600
    expect view 2
    expect executed 1
    expect result 0 1
  `);
  assert.match(cluster.checker.executed.get(1)!, /client0\/1=/);
});

test('an equivocating twin primary: two cores with one key propose different batches', () => {
  // PBFT safety with a Byzantine primary: correct replicas accept one pre-prepare per (view, seq);
  // conflicting ones never gather a quorum, and the view change removes the primary.
  const s = script(`
    cluster n=4 clients=3 batch=4 timeout=20 byzantine=0:twin seed=7
    submit 0
    submit 1
    submit 2
    stabilize max=800 on=1,2,3
    submit 0
    submit 1
    stabilize max=800 on=1,2,3
    expect result 0 2
    expect result 1 2
    expect result 2 1
  `);
  const conflicts = s.cluster.correctInstances().reduce((sum, i) => sum + (i.replica.status.rejected['pre-prepare-conflict'] ?? 0), 0);
  assert.ok(conflicts > 0, 'the twins equivocated');
});

test('a forger sending garbage and forged messages changes nothing', () => {
  // Bad bytes from a peer never crash a node (STYLE: counted and dropped).
  const s = script(`
    cluster n=4 clients=2 byzantine=1:forger seed=3
    submit 0
    submit 1
    stabilize max=800
    submit 0
    submit 1
    stabilize max=800
    expect result 0 2
    expect result 1 2
  `);
  const executed = s.cluster.correctInstances().map((i) => i.replica.status.lastExecuted);
  assert.equal(new Set(executed).size, 1);
});

test.run();
