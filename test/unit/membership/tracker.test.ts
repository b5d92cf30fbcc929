// The pure membership tracker (Sparkplug B 3.0 NBIRTH/NDEATH with bdSeq, DESIGN §4): scripted sequences,
// the stale-will case, and properties over random reorderings of whole session histories.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MembershipTracker, type MembershipChange, type NodeStatus, type StateEvent } from '../../../shared/membership/tracker.ts';

const birth = (nodeId: string, bdSeq: number, extra: Partial<StateEvent> = {}): StateEvent => ({ kind: 'state', nodeId, signer: nodeId, online: true, bdSeq, ...extra });
const will = (nodeId: string, bdSeq: number): StateEvent => ({ kind: 'state', nodeId, signer: nodeId, online: false, bdSeq });
const goodbye = (nodeId: string, bdSeq: number): StateEvent => ({ kind: 'state', nodeId, signer: nodeId, online: false, bdSeq, orderly: true });
const statusChanges = (changes: MembershipChange[]) => changes.filter((c) => c.kind === 'status');

test('birth, will, rebirth: online → dead → online, with since from the ticks', () => {
  const t = new MembershipTracker({ goneAfterTicks: 10 });
  assert.equal(t.step(birth('a', 1)), [{ kind: 'status', nodeId: 'a', status: 'online', previous: undefined, bdSeq: 1, since: 0 }]);
  t.tick(5);
  assert.equal(t.step(will('a', 1)), [{ kind: 'status', nodeId: 'a', status: 'dead', previous: 'online', bdSeq: 1, since: 5 }]);
  t.tick(7);
  assert.equal(t.step(birth('a', 2)), [{ kind: 'status', nodeId: 'a', status: 'online', previous: 'dead', bdSeq: 2, since: 7 }]);
  assert.equal(t.get('a')?.status, 'online');
});

test('a stale will (older bdSeq) delivered after the new birth never marks the node dead', () => {
  const t = new MembershipTracker();
  t.step(birth('a', 1));
  t.step(birth('a', 2)); // reconnected before the old will was seen
  assert.equal(t.step(will('a', 1)), [{ kind: 'ignored', nodeId: 'a', reason: 'stale', bdSeq: 1 }]);
  assert.equal(t.get('a')?.status, 'online');
  assert.equal(t.get('a')?.bdSeq, 2);
});

test("reordering: a session's birth arriving after its own will is stale", () => {
  const t = new MembershipTracker();
  t.step(will('a', 3));
  assert.equal(t.get('a')?.status, 'dead');
  assert.equal(t.step(birth('a', 3)), [{ kind: 'ignored', nodeId: 'a', reason: 'stale', bdSeq: 3 }]);
  assert.equal(t.get('a')?.status, 'dead');
});

test('orderly shutdown is offline, not dead; a will of the same session after it changes nothing', () => {
  const t = new MembershipTracker();
  t.step(birth('a', 1));
  assert.equal(statusChanges(t.step(goodbye('a', 1))).map((c) => c.kind === 'status' && c.status), ['offline']);
  assert.equal(t.step(will('a', 1)), []);
  assert.equal(t.get('a')?.status, 'offline');
  // the other order: the will first, then the goodbye that was already on its way
  const u = new MembershipTracker();
  u.step(birth('a', 1));
  u.step(will('a', 1));
  u.step(goodbye('a', 1));
  assert.equal(u.get('a')?.status, 'offline');
});

test('a state signed by another node is ignored (nobody can mark another node dead)', () => {
  const t = new MembershipTracker();
  t.step(birth('a', 1));
  assert.equal(t.step({ ...will('a', 1), signer: 'b' }), [{ kind: 'ignored', nodeId: 'a', reason: 'foreign-signer', bdSeq: 1 }]);
  assert.equal(t.step({ ...will('a', 9), signer: 'b' })[0]?.kind, 'ignored');
  assert.equal(t.get('a')?.status, 'online');
});

test('a repeated birth (retained redelivery) changes nothing but refreshes the details', () => {
  const t = new MembershipTracker();
  t.step(birth('a', 1, { capacity: { bytesTotal: 100, bytesFree: 50 } }));
  t.tick(3);
  assert.equal(t.step(birth('a', 1, { capacity: { bytesTotal: 100, bytesFree: 40 } })), []);
  assert.equal(t.get('a')?.capacity, { bytesTotal: 100, bytesFree: 40 });
  assert.equal(t.get('a')?.since, 0);
});

test('gone nodes: one `gone` change after goneAfterTicks, goneLongerThan lists them, a rebirth clears it', () => {
  const t = new MembershipTracker({ goneAfterTicks: 10 }, 100);
  t.step(birth('a', 1));
  t.step(birth('b', 1));
  t.step(will('b', 1));
  t.step(birth('c', 1));
  t.tick(104);
  t.step(goodbye('c', 1));
  assert.equal(t.tick(109), []);
  assert.equal(t.tick(110), [{ kind: 'gone', nodeId: 'b', status: 'dead', since: 100, goneTicks: 10 }]);
  assert.equal(t.tick(111), []);
  assert.equal(t.goneLongerThan(5).map((m) => m.nodeId), ['b', 'c']);
  assert.equal(t.goneLongerThan(10).map((m) => m.nodeId), ['b']);
  assert.equal(t.tick(114), [{ kind: 'gone', nodeId: 'c', status: 'offline', since: 104, goneTicks: 10 }]);
  t.step(birth('b', 2));
  assert.equal(t.goneLongerThan(0).map((m) => m.nodeId), ['c']);
  assert.equal(t.online(), ['a', 'b']);
  t.tick(50); // time never goes back
  assert.is(t.now, 114);
});

test('forget drops a node until it speaks again', () => {
  const t = new MembershipTracker();
  t.step(will('a', 1));
  assert.ok(t.forget('a'));
  assert.equal(t.members(), []);
  t.step(will('a', 1));
  assert.equal(t.get('a')?.status, 'dead');
});

// --- properties -------------------------------------------------------------------------------------

interface Session {
  bdSeq: number;
  birth: boolean;
  end: 'none' | 'will' | 'orderly' | 'both';
}

/** The view the messages of these sessions must lead to, whatever their order. */
function expected(sessions: Session[]): { status: NodeStatus; bdSeq: number } | undefined {
  const delivered = sessions.filter((s) => s.birth || s.end !== 'none');
  if (delivered.length === 0) return undefined;
  const last = delivered.reduce((a, b) => (b.bdSeq > a.bdSeq ? b : a));
  const status: NodeStatus = last.end === 'orderly' || last.end === 'both' ? 'offline' : last.end === 'will' ? 'dead' : 'online';
  return { status, bdSeq: last.bdSeq };
}

function messagesOf(nodeId: string, sessions: Session[]): StateEvent[] {
  const out: StateEvent[] = [];
  for (const s of sessions) {
    if (s.birth) out.push(birth(nodeId, s.bdSeq));
    if (s.end === 'will' || s.end === 'both') out.push(will(nodeId, s.bdSeq));
    if (s.end === 'orderly' || s.end === 'both') out.push(goodbye(nodeId, s.bdSeq));
  }
  return out;
}

const sessionsArb = fc
  .array(fc.record({ birth: fc.boolean(), end: fc.constantFrom<Session['end']>('none', 'will', 'orderly', 'both') }), { minLength: 1, maxLength: 6 })
  .map((list) => list.map((s, i) => ({ ...s, bdSeq: 10 + i })));

test('property: the view depends only on the messages delivered, never on their order (duplicates included)', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom('a', 'b', 'c'), sessionsArb, { minKeys: 1 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      fc.integer({ min: 0, max: 3 }),
      (byNode, seed, dupes) => {
        let messages = Object.entries(byNode).flatMap(([id, sessions]) => messagesOf(id, sessions));
        messages = messages.concat(messages.slice(0, dupes));
        const shuffled = fc.sample(fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }), { seed, numRuns: 1 })[0]!;
        const t = new MembershipTracker();
        for (const m of shuffled) t.step(m);
        for (const [id, sessions] of Object.entries(byNode)) {
          const want = expected(sessions);
          const got = t.get(id);
          assert.equal(got ? { status: got.status, bdSeq: got.bdSeq } : undefined, want, `node ${id}`);
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('property: once the newest session is born and has not ended, no death of an older session moves it', () => {
  fc.assert(
    fc.property(sessionsArb, fc.integer({ min: 0, max: 2 ** 31 }), (sessions, seed) => {
      const newest = sessions.length + 10;
      const old = messagesOf('a', sessions).filter((m) => !m.online);
      const shuffled = fc.sample(fc.shuffledSubarray(old, { minLength: old.length, maxLength: old.length }), { seed, numRuns: 1 })[0]!;
      const t = new MembershipTracker();
      t.step(birth('a', newest));
      for (const m of shuffled) {
        const changes = t.step(m);
        assert.ok(changes.every((c) => c.kind === 'ignored' && c.reason === 'stale'));
      }
      assert.equal(t.get('a')?.status, 'online');
    }),
    { numRuns: 300 },
  );
});

test('property: every status change reports the status the tracker then holds, and since never exceeds now', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.record({ kind: fc.constant('tick' as const), nowTicks: fc.integer({ min: 0, max: 1000 }) }),
          fc.record({
            kind: fc.constant('state' as const),
            nodeId: fc.constantFrom('a', 'b'),
            signer: fc.constantFrom('a', 'b'),
            online: fc.boolean(),
            bdSeq: fc.integer({ min: 0, max: 5 }),
            orderly: fc.boolean(),
          }),
        ),
        { maxLength: 60 },
      ),
      (events) => {
        const t = new MembershipTracker({ goneAfterTicks: 20 });
        for (const e of events) {
          const event = e.kind === 'state' && e.online ? { ...e, orderly: false } : e;
          for (const c of t.step(event)) {
            if (c.kind === 'status') assert.is(t.get(c.nodeId)?.status, c.status);
            if (c.kind === 'gone') assert.ok(t.now - c.since >= 20);
          }
          for (const m of t.members()) assert.ok(m.since <= t.now);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test.run();
