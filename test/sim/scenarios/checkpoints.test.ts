// Scripted checkpoint, watermark and exactly-once scenarios (PBFT §4.3 garbage collection, §5.3
// state transfer; the client table as part of the checkpointed state).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { script } from '../script.ts';

test('watermark race with a small K: a pre-prepare dropped outside a not-yet-moved window comes again (fabric#1119)', () => {
  // PBFT §4.3 watermarks h < seq <= h+L. The primary sees the checkpoint quorum first, moves its
  // window and proposes seq 5; the backups have not moved theirs and drop it. Status retransmission
  // must deliver it again, with no view change.
  script(`
    cluster n=4 clients=6 K=2 L=4 batch=1 timeout=60 status=5
    crash 3
    submit 0
    submit 1
    submit 2
    submit 3
    submit 4
    submit 5
    deliver type=request          # the primary proposes seqs 1..4 at once; 5 and 6 wait for the window
    expect queued 12 type=pre-prepare
    deliver type=pre-prepare
    deliver type=prepare
    deliver type=commit
    expect executed 4 on=0,1,2
    deliver type=checkpoint to=0  # only the primary gets the checkpoint quorum
    expect stable 4 on=0
    expect stable 0 on=1,2
    tick                          # so it proposes seqs 5 and 6
    deliver type=pre-prepare
    expect rejected pre-prepare-window on=1,2
    deliver type=checkpoint       # now the backups move their windows
    expect stable 4 on=0,1,2
    stabilize max=200 on=0,1,2
    expect executed 6 on=0,1,2
    expect view 0 on=0,1,2
  `);
});

test('checkpoints become stable with a quorum and the log below them is collected', () => {
  // PBFT §4.3: a quorum of matching checkpoint messages makes a checkpoint stable.
  const s = script(`
    cluster n=4 clients=1 K=2 L=4
    submit 0
    stabilize
    submit 0
    stabilize
    expect stable 2
    submit 0
    submit 0
    stabilize
    submit 0
    stabilize
    expect executed 5
    expect stable 4
  `);
  for (const node of s.cluster.nodes) assert.ok(node.instances[0]!.replica.status.logEntries <= 4);
});

test('a replica that fell behind a stable checkpoint fetches the snapshot, then the log after it', () => {
  // PBFT §5.3 (TOCS'02) state transfer.
  const s = script(`
    cluster n=4 clients=1 K=2 L=4
    isolate 3
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    expect stable 4 on=0,1,2
    expect executed 0 on=3
    heal
    stabilize
    expect executed 5
    expect stable 4
  `);
  assert.ok(s.cluster.stats.stateTransfers >= 1);
});

test('a request replayed after all replicas crashed is not executed again (bft-smart#63)', () => {
  // Exactly-once across restarts: the client table is part of the checkpointed state and is rebuilt by
  // replaying the persisted log. K=2: request 1 lies below the stable checkpoint, request 3 above it.
  const s = script(`
    cluster n=4 clients=1 K=2 L=4
    submit 0
    stabilize
    submit 0
    stabilize
    submit 0
    stabilize
    expect executed 3
    expect stable 2
    crash 0
    crash 1
    crash 2
    crash 3
    restart 0
    restart 1
    restart 2
    restart 3
    replay 0 1
    replay 0 3
    deliver-all
    tick 80
    deliver-all
    expect executed 3
    expect pending 0
  `);
  for (const node of s.cluster.nodes) {
    const app = node.instances[0]!.app;
    assert.equal(app.violations, []);
  }
});

test('a request replayed to a replica that caught up by state transfer is not executed again', () => {
  // Exactly-once after state transfer: the client table travels with the snapshot.
  script(`
    cluster n=4 clients=1 K=2 L=4
    isolate 3
    submit 0
    stabilize on=0,1,2
    submit 0
    stabilize on=0,1,2
    heal
    stabilize
    expect executed 2
    replay 0 1
    replay 0 2
    deliver-all
    tick 80
    stabilize
    expect executed 2
    expect pending 0
  `);
});

test.run();
