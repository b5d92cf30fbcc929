/**
 * Nagios plugin conventions (Box Backup 6; Nagios Plugin Development Guidelines): exit 0 OK,
 * 1 WARNING, 2 CRITICAL, 3 UNKNOWN, and one status line `SERVICE STATE - text | perfdata`, where each
 * perfdata item is `'label'=value[UOM];warn;crit;min;max`.
 *
 * Thresholds are Nagios ranges: `10` (alert when < 0 or > 10), `10:` (< 10), `~:10` (> 10),
 * `10:20` (outside 10..20), `@10:20` (inside 10..20).
 */

export const NagiosState = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type NagiosStateName = keyof typeof NagiosState;

export interface NagiosRange {
  text: string;
  low: number;
  high: number;
  inside: boolean;
}

/** Parses a Nagios range; undefined when malformed. */
export function parseRange(text: string): NagiosRange | undefined {
  const t = text.trim();
  const inside = t.startsWith('@');
  const body = inside ? t.slice(1) : t;
  const m = /^(~|[-+]?\d+(?:\.\d+)?)?(:)?([-+]?\d+(?:\.\d+)?)?$/.exec(body);
  if (!m || body === '' || body === ':') return undefined;
  let low: number;
  let high: number;
  if (m[2] === undefined) {
    if (m[1] === undefined || m[1] === '~') return undefined;
    low = 0;
    high = Number(m[1]);
  } else {
    low = m[1] === undefined ? 0 : m[1] === '~' ? -Infinity : Number(m[1]);
    high = m[3] === undefined ? Infinity : Number(m[3]);
  }
  if (low > high) return undefined;
  return { text: t, low, high, inside };
}

/** True when `value` should raise the alert of this range. */
export function breaches(range: NagiosRange, value: number): boolean {
  const within = value >= range.low && value <= range.high;
  return range.inside ? within : !within;
}

export function stateOf(value: number, warning: NagiosRange | undefined, critical: NagiosRange | undefined): NagiosStateName {
  if (critical && breaches(critical, value)) return 'CRITICAL';
  if (warning && breaches(warning, value)) return 'WARNING';
  return 'OK';
}

export function worst(...states: NagiosStateName[]): NagiosStateName {
  return states.reduce<NagiosStateName>((a, b) => (NagiosState[b] > NagiosState[a] ? b : a), 'OK');
}

export interface PerfItem {
  label: string;
  value: number;
  uom?: string;
  warning?: NagiosRange | undefined;
  critical?: NagiosRange | undefined;
  min?: number;
  max?: number;
}

function label(l: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(l) ? l : `'${l.replace(/'/g, "''")}'`;
}

export function formatPerf(items: readonly PerfItem[]): string {
  return items
    .map((p) => {
      const parts = [`${p.value}${p.uom ?? ''}`, p.warning?.text ?? '', p.critical?.text ?? '', p.min?.toString() ?? '', p.max?.toString() ?? ''];
      while (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
      return `${label(p.label)}=${parts.join(';')}`;
    })
    .join(' ');
}

export interface NagiosResult {
  service: string;
  state: NagiosStateName;
  text: string;
  perf: PerfItem[];
}

export function statusLine(r: NagiosResult): string {
  const perf = formatPerf(r.perf);
  return `${r.service} ${r.state} - ${r.text.replace(/\|/g, '/')}${perf ? ` | ${perf}` : ''}`;
}

export function exitCodeOf(r: NagiosResult): number {
  return NagiosState[r.state];
}
