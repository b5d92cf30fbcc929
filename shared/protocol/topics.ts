/**
 * MQTT topic names (DESIGN §4). Every topic the product publishes or subscribes to is built here, and every
 * incoming topic is parsed here, so the tree has one definition:
 *
 *   2baksa/v1/<site>/node/<nodeId>/state               retained birth; the Last Will sets offline
 *   2baksa/v1/<site>/node/<nodeId>/in                  messages addressed to one node
 *   2baksa/v1/<site>/ledger                            committed edge blocks
 *   2baksa/v1/<site>/telemetry/<account>/heartbeat     heartbeats
 *   2baksa/v1/<site>/telemetry/<account>/event         backup-start/finish/ok/error, read-error, store-full
 *   2baksa/v1/<site>/alert                             alerts raised for the site
 *   2baksa/v1/dc/<cluster>/<channel>[/<more>...]       agent <-> aggregator (register, migrate, receipt, redirect)
 *
 * A segment (site, node id, account, cluster, channel) is non-empty, at most 255 characters, and holds no
 * `/`, `+`, `#` or control characters. The site name `dc` is reserved for the data-center branch.
 */
import { BaksaError } from '../errors.ts';

export const TOPIC_ROOT = '2baksa/v1';
export const DC_SEGMENT = 'dc';
export const TOPIC_SEGMENT_CHARS_MAX = 255;

const UNSAFE = /[/+#\u0000-\u001f\u007f]/;

export function isValidSegment(segment: string): boolean {
  return typeof segment === 'string' && segment.length > 0 && segment.length <= TOPIC_SEGMENT_CHARS_MAX && !UNSAFE.test(segment);
}

/** Throws BaksaError TOPIC_SEGMENT_INVALID naming the segment's role (`site`, `nodeId`, …). */
export function checkSegment(role: string, segment: string): string {
  if (!isValidSegment(segment)) {
    throw new BaksaError('TOPIC_SEGMENT_INVALID', `${role} ${JSON.stringify(segment)} cannot be an MQTT topic segment`, {
      hint: `use a non-empty ${role} of at most ${TOPIC_SEGMENT_CHARS_MAX} characters without "/", "+", "#" or control characters`,
      details: { role, segment },
    });
  }
  return segment;
}

function site(s: string): string {
  checkSegment('site', s);
  if (s === DC_SEGMENT) {
    throw new BaksaError('TOPIC_SEGMENT_INVALID', `site name "${DC_SEGMENT}" is reserved`, { hint: 'choose another site name' });
  }
  return s;
}

export const topics = {
  nodeState: (s: string, nodeId: string) => `${TOPIC_ROOT}/${site(s)}/node/${checkSegment('nodeId', nodeId)}/state`,
  nodeIn: (s: string, nodeId: string) => `${TOPIC_ROOT}/${site(s)}/node/${checkSegment('nodeId', nodeId)}/in`,
  ledger: (s: string) => `${TOPIC_ROOT}/${site(s)}/ledger`,
  heartbeat: (s: string, account: string) => `${TOPIC_ROOT}/${site(s)}/telemetry/${checkSegment('account', account)}/heartbeat`,
  event: (s: string, account: string) => `${TOPIC_ROOT}/${site(s)}/telemetry/${checkSegment('account', account)}/event`,
  alert: (s: string) => `${TOPIC_ROOT}/${site(s)}/alert`,
  dc: (cluster: string, channel: string, ...rest: string[]) =>
    [TOPIC_ROOT, DC_SEGMENT, checkSegment('cluster', cluster), checkSegment('channel', channel), ...rest.map((r) => checkSegment('dc topic segment', r))].join('/'),
} as const;

/** Subscription filters (with MQTT wildcards) for the topics above. */
export const filters = {
  /** Every node's birth/death state in a site. */
  nodeStates: (s: string) => `${TOPIC_ROOT}/${site(s)}/node/+/state`,
  /** Every heartbeat in a site (or in every site when `s` is omitted). */
  heartbeats: (s?: string) => `${TOPIC_ROOT}/${s === undefined ? '+' : site(s)}/telemetry/+/heartbeat`,
  events: (s?: string) => `${TOPIC_ROOT}/${s === undefined ? '+' : site(s)}/telemetry/+/event`,
  alerts: (s?: string) => `${TOPIC_ROOT}/${s === undefined ? '+' : site(s)}/alert`,
  /** Everything of one data-center cluster. */
  dc: (cluster: string) => `${TOPIC_ROOT}/${DC_SEGMENT}/${checkSegment('cluster', cluster)}/#`,
} as const;

export type ParsedTopic =
  | { kind: 'nodeState'; site: string; nodeId: string }
  | { kind: 'nodeIn'; site: string; nodeId: string }
  | { kind: 'ledger'; site: string }
  | { kind: 'heartbeat'; site: string; account: string }
  | { kind: 'event'; site: string; account: string }
  | { kind: 'alert'; site: string }
  | { kind: 'dc'; cluster: string; channel: string; rest: string[] };

/** Parses an incoming topic; undefined when it is not one of ours or has a bad segment. Never throws. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (typeof topic !== 'string' || !topic.startsWith(`${TOPIC_ROOT}/`)) return undefined;
  const parts = topic.slice(TOPIC_ROOT.length + 1).split('/');
  if (!parts.every(isValidSegment)) return undefined;
  const [first, a, b, c, ...more] = parts;
  if (first === DC_SEGMENT) {
    if (a === undefined || b === undefined) return undefined;
    return { kind: 'dc', cluster: a, channel: b, rest: parts.slice(3) };
  }
  const s = first!;
  if (more.length > 0) return undefined;
  if (a === 'ledger' && b === undefined) return { kind: 'ledger', site: s };
  if (a === 'alert' && b === undefined) return { kind: 'alert', site: s };
  if (a === 'node' && b !== undefined) {
    if (c === 'state') return { kind: 'nodeState', site: s, nodeId: b };
    if (c === 'in') return { kind: 'nodeIn', site: s, nodeId: b };
  }
  if (a === 'telemetry' && b !== undefined) {
    if (c === 'heartbeat') return { kind: 'heartbeat', site: s, account: b };
    if (c === 'event') return { kind: 'event', site: s, account: b };
  }
  return undefined;
}
