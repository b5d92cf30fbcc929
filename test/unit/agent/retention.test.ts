// Retention rules with restic `forget` semantics (restic internal/restic/snapshot_policy.go).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { applyRetention, isoWeek, type Dated } from '../../../agent/retention/policy.ts';

const at = (iso: string, id = iso): Dated => ({ id, timeMs: Date.parse(iso) });
const kept = (r: { keep: Array<{ snapshot: Dated }> }) => r.keep.map((k) => k.snapshot.id);

test('keep-last N keeps the N newest', () => {
  const snaps = ['2024-01-01T00:00Z', '2024-01-02T00:00Z', '2024-01-03T00:00Z', '2024-01-04T00:00Z'].map((t) => at(t));
  const r = applyRetention(snaps, { keepLast: 2 }, { utc: true });
  assert.equal(kept(r), ['2024-01-04T00:00Z', '2024-01-03T00:00Z']);
  assert.equal(r.remove.map((s) => s.id), ['2024-01-02T00:00Z', '2024-01-01T00:00Z']);
});

test('keep-daily keeps the newest snapshot of each day, then the oldest while counts are left', () => {
  const snaps = [
    at('2024-03-01T08:00Z'),
    at('2024-03-01T20:00Z'),
    at('2024-03-02T09:00Z'),
    at('2024-03-02T23:00Z'),
  ];
  // Two days, count 2: one per day, nothing left for the oldest.
  assert.equal(kept(applyRetention(snaps, { keepDaily: 2 }, { utc: true })), ['2024-03-02T23:00Z', '2024-03-01T20:00Z']);
  // Count 5 > days: the oldest snapshot is kept too (restic keeps it while the bucket has counts left).
  assert.equal(kept(applyRetention(snaps, { keepDaily: 5 }, { utc: true })), [
    '2024-03-02T23:00Z',
    '2024-03-01T20:00Z',
    '2024-03-01T08:00Z',
  ]);
  // Count 1: only today's newest.
  assert.equal(kept(applyRetention(snaps, { keepDaily: 1 }, { utc: true })), ['2024-03-02T23:00Z']);
});

test('hourly buckets and reasons from several rules', () => {
  const snaps = [at('2024-05-01T10:05Z'), at('2024-05-01T10:45Z'), at('2024-05-01T11:10Z')];
  const r = applyRetention(snaps, { keepLast: 1, keepHourly: 2 }, { utc: true });
  assert.equal(kept(r), ['2024-05-01T11:10Z', '2024-05-01T10:45Z']);
  assert.equal(r.keep[0]!.reasons, ['last snapshot', 'hourly snapshot']);
  assert.equal(r.keep[1]!.reasons, ['hourly snapshot']);
});

test('ISO weeks cross the year boundary like Go time.ISOWeek', () => {
  assert.equal(isoWeek(2020, 12, 31), { year: 2020, week: 53 });
  assert.equal(isoWeek(2021, 1, 3), { year: 2020, week: 53 });
  assert.equal(isoWeek(2021, 1, 4), { year: 2021, week: 1 });
  assert.equal(isoWeek(2019, 12, 30), { year: 2020, week: 1 });
  const snaps = [at('2020-12-31T12:00Z'), at('2021-01-03T12:00Z'), at('2021-01-04T12:00Z')];
  // Week 2021-01 keeps Jan 4; week 2020-53 keeps its newest (Jan 3); count exhausted so Dec 31 goes.
  assert.equal(kept(applyRetention(snaps, { keepWeekly: 2 }, { utc: true })), ['2021-01-04T12:00Z', '2021-01-03T12:00Z']);
});

test('monthly and yearly, and -1 keeps all buckets', () => {
  const snaps = [at('2023-11-15T00:00Z'), at('2023-12-01T00:00Z'), at('2023-12-20T00:00Z'), at('2024-01-10T00:00Z')];
  assert.equal(kept(applyRetention(snaps, { keepMonthly: -1 }, { utc: true })), [
    '2024-01-10T00:00Z',
    '2023-12-20T00:00Z',
    '2023-11-15T00:00Z',
  ]);
  assert.equal(kept(applyRetention(snaps, { keepYearly: 1 }, { utc: true })), ['2024-01-10T00:00Z']);
  assert.equal(kept(applyRetention(snaps, { keepLast: -1 }, { utc: true })).length, 4);
});

test('an empty policy keeps everything', () => {
  const snaps = [at('2024-01-01T00:00Z'), at('2024-01-02T00:00Z')];
  const r = applyRetention(snaps, { keepLast: 0, keepDaily: 0 });
  assert.is(r.remove.length, 0);
  assert.equal(r.keep[0]!.reasons, ['policy is empty']);
});

test('property: keep and remove partition the input; keep-last N keeps the N newest', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 0, max: 2_000_000_000_000 }), { maxLength: 40 }),
      fc.integer({ min: 1, max: 10 }),
      fc.integer({ min: 0, max: 5 }),
      (times, last, daily) => {
        const snaps = times.map((t, i) => ({ id: `s${i}`, timeMs: t }));
        const r = applyRetention(snaps, { keepLast: last, keepDaily: daily }, { utc: true });
        const ids = [...kept(r), ...r.remove.map((s) => s.id)].sort();
        assert.equal(ids, snaps.map((s) => s.id).sort());
        const newest = [...snaps].sort((a, b) => b.timeMs - a.timeMs).slice(0, last).map((s) => s.id);
        for (const id of newest) assert.ok(kept(r).includes(id));
        if (snaps.length > 0) assert.ok(kept(r).length >= Math.min(last, snaps.length));
      },
    ),
  );
});

test.run();
