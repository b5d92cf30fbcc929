/**
 * Retention rules with restic's `forget` semantics, as a pure function (no clock, no I/O).
 *
 * Snapshots are walked newest first. Each rule (last, hourly, daily, weekly, monthly, yearly) keeps a
 * snapshot when its bucket (the hour, day, ISO week, month or year it was taken in; for `last`, every
 * snapshot is its own bucket) differs from the bucket of the previous snapshot that rule kept, while the
 * rule has count left; -1 means unlimited. A rule with count left also keeps the oldest snapshot, which
 * keeps the longest history possible (restic ≥ 0.14). A snapshot is kept when any rule keeps it, and each
 * kept snapshot lists the rules that kept it. All-zero rules keep everything (restic: "policy is empty").
 */

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
}

export interface Dated {
  id: string;
  timeMs: number;
}

export interface RetentionResult<S extends Dated> {
  keep: Array<{ snapshot: S; reasons: string[] }>;
  remove: S[];
}

export interface RetentionOptions {
  /** Buckets in UTC instead of the local time zone (restic uses local time). */
  utc?: boolean;
}

type Bucketer = (d: Date, nr: number, utc: boolean) => number;

function parts(d: Date, utc: boolean): { y: number; mo: number; day: number; h: number } {
  return utc
    ? { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, day: d.getUTCDate(), h: d.getUTCHours() }
    : { y: d.getFullYear(), mo: d.getMonth() + 1, day: d.getDate(), h: d.getHours() };
}

/** ISO 8601 week-numbering year and week of a calendar date. */
export function isoWeek(y: number, mo: number, day: number): { year: number; week: number } {
  const date = new Date(Date.UTC(y, mo - 1, day));
  const weekday = date.getUTCDay() || 7; // Monday 1 … Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return { year, week };
}

const buckets: Array<{ rule: keyof RetentionPolicy; reason: string; of: Bucketer }> = [
  { rule: 'keepLast', reason: 'last snapshot', of: (_d, nr) => nr },
  { rule: 'keepHourly', reason: 'hourly snapshot', of: (d, _n, u) => { const p = parts(d, u); return p.y * 1_000_000 + p.mo * 10_000 + p.day * 100 + p.h; } },
  { rule: 'keepDaily', reason: 'daily snapshot', of: (d, _n, u) => { const p = parts(d, u); return p.y * 10_000 + p.mo * 100 + p.day; } },
  { rule: 'keepWeekly', reason: 'weekly snapshot', of: (d, _n, u) => { const p = parts(d, u); const w = isoWeek(p.y, p.mo, p.day); return w.year * 100 + w.week; } },
  { rule: 'keepMonthly', reason: 'monthly snapshot', of: (d, _n, u) => { const p = parts(d, u); return p.y * 100 + p.mo; } },
  { rule: 'keepYearly', reason: 'yearly snapshot', of: (d, _n, u) => parts(d, u).y },
];

export function isEmptyPolicy(policy: RetentionPolicy): boolean {
  return buckets.every((b) => !policy[b.rule]);
}

export function applyRetention<S extends Dated>(
  snapshots: readonly S[],
  policy: RetentionPolicy,
  options: RetentionOptions = {},
): RetentionResult<S> {
  const utc = options.utc ?? false;
  // Newest first; equal times keep a stable order by id so the result is deterministic.
  const list = [...snapshots].sort((a, b) => b.timeMs - a.timeMs || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  if (isEmptyPolicy(policy)) return { keep: list.map((snapshot) => ({ snapshot, reasons: ['policy is empty'] })), remove: [] };

  const state = buckets.map((b) => ({ ...b, count: policy[b.rule] ?? 0, last: Number.NaN }));
  const result: RetentionResult<S> = { keep: [], remove: [] };
  list.forEach((snap, nr) => {
    const reasons: string[] = [];
    const when = new Date(snap.timeMs);
    for (const b of state) {
      if (b.count > 0 || b.count === -1) {
        const value = b.of(when, nr, utc);
        if (value !== b.last || nr === list.length - 1) {
          b.last = value;
          if (b.count > 0) b.count--;
          reasons.push(b.reason);
        }
      }
    }
    if (reasons.length > 0) result.keep.push({ snapshot: snap, reasons });
    else result.remove.push(snap);
  });
  return result;
}
