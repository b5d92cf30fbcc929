// Box Backup 3: silence for ~2 × interval alerts; an orderly shutdown de-registers and no alert follows.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { HeartbeatTracker } from '../../../aggregator/monitoring/tracker.ts';
import { alertIdOf, alertOwner, rendezvousOrder } from '../../../aggregator/monitoring/alert-id.ts';

const I = 10; // interval in seconds

test('silence for 2 × interval raises exactly one alert; the next heartbeat clears it', () => {
  const t = new HeartbeatTracker();
  assert.equal(t.step({ type: 'register', key: 'a', now: 0, intervalS: I, monitored: true }), []);
  assert.equal(t.step({ type: 'tick', now: 19_999 }), []);
  assert.is(t.nextDeadlineMs(), 20_000);
  const alerts = t.step({ type: 'tick', now: 20_000 });
  assert.equal(alerts, [{ type: 'alert', key: 'a', event: 'silent', deadlineMs: 20_000, lastSeenMs: 0, intervalS: I }]);
  assert.equal(t.step({ type: 'tick', now: 90_000 }), [], 'no second alert for the same silence');
  assert.is(t.get('a')?.state, 'silent');
  const clear = t.step({ type: 'heartbeat', key: 'a', now: 95_000, intervalS: I, monitored: true });
  assert.equal(clear, [{ type: 'clear', key: 'a', event: 'silent', atMs: 95_000, silentSinceMs: 0 }]);
  assert.is(t.nextDeadlineMs(), 115_000);
});

test('a monitor that starts listening late holds deadlines a full window; the alert keeps its deadline', () => {
  const t = new HeartbeatTracker();
  for (const key of ['a', 'b', 'c']) t.step({ type: 'register', key, now: 0, intervalS: I, monitored: true });
  // The node was down (or cut off from its broker) from 5 s to 60 s: it could not hear.
  t.step({ type: 'listening', now: 60_000 });
  assert.equal(t.step({ type: 'tick', now: 60_000 }), [], 'no alert for silence it could not hear');
  assert.is(t.nextDeadlineMs(), 80_000);
  t.step({ type: 'heartbeat', key: 'b', now: 70_000, intervalS: I, monitored: true }); // b was alive all along
  // Heartbeats queued while the monitor could not hear arrive late, stamped when sent: the hold stands.
  t.step({ type: 'heartbeat', key: 'b', now: 30_000, intervalS: I, monitored: true });
  assert.equal(t.step({ type: 'tick', now: 60_001 }), [], 'a late heartbeat does not set a deadline already past');
  t.step({ type: 'heartbeat', key: 'c', now: 61_000, intervalS: I, monitored: true }); // past the hold: its own deadline
  // A changed interval keeps the hold.
  t.step({ type: 'configure', key: 'a', intervalS: I, monitored: true, now: 70_000 });
  assert.equal(t.step({ type: 'tick', now: 79_999 }), []);
  assert.is(t.nextDeadlineMs(), 80_000);
  const late = t.step({ type: 'tick', now: 80_000 });
  assert.equal(late, [{ type: 'alert', key: 'a', event: 'silent', deadlineMs: 20_000, lastSeenMs: 0, intervalS: I }], 'the time (and so the id) the nodes that listened gave it');
  assert.equal(t.step({ type: 'tick', now: 81_000 }).map((x) => [x.key, x.type === 'alert' ? x.deadlineMs : undefined]), [['c', 81_000]]);
  assert.is(t.get('b')?.state, 'ok');
  assert.is(t.nextDeadlineMs(), 90_000);
});

test('heartbeats push the deadline; an older heartbeat never moves it back', () => {
  const t = new HeartbeatTracker();
  t.step({ type: 'register', key: 'a', now: 0, intervalS: I, monitored: true });
  t.step({ type: 'heartbeat', key: 'a', now: 10_000, intervalS: I, monitored: true });
  t.step({ type: 'heartbeat', key: 'a', now: 5_000, intervalS: I, monitored: true });
  assert.is(t.nextDeadlineMs(), 30_000);
  assert.equal(t.step({ type: 'tick', now: 29_999 }), []);
  assert.is(t.step({ type: 'tick', now: 30_000 }).length, 1);
});

test('deregister (orderly shutdown) means no alert, however long the silence', () => {
  const t = new HeartbeatTracker();
  t.step({ type: 'register', key: 'a', now: 0, intervalS: I, monitored: true });
  t.step({ type: 'deregister', key: 'a', now: 1_000 });
  assert.equal(t.step({ type: 'tick', now: 10_000_000 }), []);
  assert.is(t.nextDeadlineMs(), undefined);
  assert.is(t.get('a')?.state, 'deregistered');
  // registering again re-arms the deadline
  t.step({ type: 'register', key: 'a', now: 2_000_000, intervalS: I, monitored: true });
  assert.is(t.step({ type: 'tick', now: 2_020_000 }).length, 1);
});

test('monitoring off: never alerted; configure switches it on', () => {
  const t = new HeartbeatTracker();
  t.step({ type: 'register', key: 'a', now: 0, intervalS: I, monitored: false });
  assert.equal(t.step({ type: 'tick', now: 1e9 }), []);
  t.step({ type: 'configure', key: 'a', intervalS: 1, monitored: true });
  assert.is(t.nextDeadlineMs(), 2_000);
  assert.is(t.step({ type: 'tick', now: 1e9 + 1 }).length, 1);
  t.step({ type: 'forget', key: 'a' });
  assert.is(t.size, 0);
});

test('a shorter interval gives the agent time to learn it; a longer one counts from its last heartbeat', () => {
  const t = new HeartbeatTracker();
  t.step({ type: 'register', key: 'a', now: 0, intervalS: 900, monitored: true });
  // 300 s on, 900 s → 5 s: by the last heartbeat alone the deadline passed long ago (10 s); the agent is
  // told now, so it has until now + 2 × 5 s.
  t.step({ type: 'configure', key: 'a', intervalS: 5, monitored: true, now: 300_000 });
  assert.is(t.nextDeadlineMs(), 310_000);
  assert.equal(t.step({ type: 'tick', now: 309_999 }), [], 'no alert for a silence the agent could not avoid');
  t.step({ type: 'heartbeat', key: 'a', now: 305_000, intervalS: 5, monitored: true });
  assert.is(t.nextDeadlineMs(), 315_000);
  // Back to 900 s: from the last heartbeat, not from now.
  t.step({ type: 'configure', key: 'a', intervalS: 900, monitored: true, now: 306_000 });
  assert.is(t.nextDeadlineMs(), 305_000 + 1_800_000);
  // A shorter interval never moves a deadline later than it was.
  t.step({ type: 'configure', key: 'a', intervalS: 899, monitored: true, now: 306_000 });
  assert.is(t.nextDeadlineMs(), 306_000 + 1_798_000);
  // Without a time, as before: from the last heartbeat.
  t.step({ type: 'configure', key: 'a', intervalS: 5, monitored: true });
  assert.is(t.nextDeadlineMs(), 315_000);
});

test('property: one alert per silence, only after the deadline, never after deregister', () => {
  const ev = fc.oneof(
    fc.record({ kind: fc.constant('hb' as const), key: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 30_000 }) }),
    fc.record({ kind: fc.constant('dereg' as const), key: fc.constantFrom('a', 'b', 'c'), dt: fc.integer({ min: 0, max: 30_000 }) }),
    fc.record({ kind: fc.constant('tick' as const), key: fc.constant(''), dt: fc.integer({ min: 0, max: 30_000 }) }),
  );
  fc.assert(
    fc.property(fc.array(ev, { maxLength: 200 }), (events) => {
      const t = new HeartbeatTracker();
      let now = 0;
      const last = new Map<string, number>();
      const alerted = new Set<string>();
      const dereg = new Set<string>();
      for (const e of events) {
        now += e.dt;
        if (e.kind === 'hb') {
          t.step({ type: 'heartbeat', key: e.key, now, intervalS: I, monitored: true });
          last.set(e.key, now);
          alerted.delete(e.key);
          dereg.delete(e.key);
        } else if (e.kind === 'dereg') {
          t.step({ type: 'deregister', key: e.key, now });
          if (last.has(e.key)) dereg.add(e.key);
        } else {
          for (const a of t.step({ type: 'tick', now })) {
            assert.ok(a.type === 'alert');
            assert.ok(!alerted.has(a.key), 'one alert per silence');
            assert.ok(!dereg.has(a.key), 'no alert after deregister');
            assert.ok(now - last.get(a.key)! >= 2 * I * 1000, 'only after 2 × interval');
            alerted.add(a.key);
          }
        }
      }
      // every account silent past its deadline and not deregistered has been alerted by a final tick
      for (const a of t.step({ type: 'tick', now: now + 2 * I * 1000 })) alerted.add(a.key);
      for (const [key] of last) if (!dereg.has(key)) assert.ok(alerted.has(key), `${key} alerted`);
    }),
    { numRuns: 300 },
  );
});

test('alert ids are deterministic; the owner is the same on every node and another one takes over', () => {
  const id = alertIdOf('gw1.example', 'silent', 20_000);
  assert.is(id, alertIdOf('gw1.example', 'silent', 20_000));
  assert.is.not(id, alertIdOf('gw1.example', 'silent', 20_001));
  const nodes = ['n1', 'n2', 'n3', 'n4'];
  const order = rendezvousOrder(id, nodes);
  assert.is(alertOwner(id, [...nodes].reverse()), order[0]);
  assert.is(alertOwner(id, nodes.filter((n) => n !== order[0])), order[1]);
  // owners spread over the nodes
  const owners = new Set(Array.from({ length: 64 }, (_, i) => alertOwner(alertIdOf(`a${i}`, 'silent', 1), nodes)));
  assert.ok(owners.size >= 3);
});

test.run();
