/**
 * Topic authorization for the site broker (DESIGN §4, §8): one pure function from (principal, action,
 * topic) to a decision, so every rule is a row in a table test.
 *
 * A principal is a node or person of one site with one role. Rules by role (anything not listed is denied;
 * `$…` topics (broker internals, shared subscriptions), data-center topics and other sites are denied to all):
 *
 *   agent     publish    node/<self>/state, node/<any>/in (that is how frames reach peers), ledger,
 *                        telemetry/<own account>/heartbeat|event
 *             retain     node/<self>/state only (the birth and the Last Will)
 *             subscribe  node/<self>/in, node/<any>/state (and the filter node/+/state), ledger,
 *                        telemetry/<own account>/heartbeat|event
 *   replica   publish    alert;  subscribe: ledger, node states, telemetry, alert (and their site filters)
 *   admin     as replica
 *   operator  subscribe  ledger, node states, telemetry, alert (and their site filters); no publish
 *   auditor   subscribe  ledger, node states (and node/+/state); no publish, never node inboxes (data)
 *
 * A subscription with wildcards is allowed only when it is exactly one of the site filters above;
 * nobody may subscribe to another node's inbox. (A gateway whose account is not its node id publishes
 * telemetry under that account: site-broker.ts takes it when the envelope names this node as sender.)
 */
import { filters, parseTopic, type ParsedTopic } from '../../shared/protocol/topics.ts';
import type { Role } from '../../shared/crypto/pki.ts';

export interface Principal {
  /** The node id (agents) or certificate identity (people, replicas). */
  id: string;
  role: Role;
  /** The site this broker serves; every principal belongs to it. */
  site: string;
  /** Accounts whose telemetry topics an agent owns (by default its own id). */
  accounts: readonly string[];
}

/** `retain` is a publish with the retain flag (also checked for a Last Will that is retained). */
export type Action = 'publish' | 'retain' | 'subscribe';

export type Decision = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: Decision = Object.freeze({ allowed: true });

function deny(reason: string): Decision {
  return { allowed: false, reason };
}

type Kind = ParsedTopic['kind'];
const READ_KINDS: ReadonlySet<Kind> = new Set<Kind>(['ledger', 'nodeState', 'heartbeat', 'event', 'alert']);
const AUDIT_KINDS: ReadonlySet<Kind> = new Set<Kind>(['ledger', 'nodeState']);

function siteFilters(role: Role, site: string): readonly string[] {
  if (role === 'auditor' || role === 'agent') return [filters.nodeStates(site)];
  return [filters.nodeStates(site), filters.heartbeats(site), filters.events(site), filters.alerts(site)];
}

function agentRule(p: Principal, action: Action, t: ParsedTopic): Decision {
  const own = (t.kind === 'nodeState' || t.kind === 'nodeIn') && t.nodeId === p.id;
  const ownTelemetry = (t.kind === 'heartbeat' || t.kind === 'event') && p.accounts.includes(t.account);
  switch (action) {
    case 'retain':
      return t.kind === 'nodeState' && own ? ALLOWED : deny('an agent may retain only its own node state');
    case 'publish':
      if (t.kind === 'nodeState') return own ? ALLOWED : deny(`an agent may publish only its own node state, not ${t.nodeId}'s`);
      if (t.kind === 'nodeIn' || t.kind === 'ledger') return ALLOWED;
      if (t.kind === 'heartbeat' || t.kind === 'event') return ownTelemetry ? ALLOWED : deny(`account ${t.account} is not this agent's`);
      return deny(`an agent may not publish ${t.kind} topics`);
    case 'subscribe':
      if (t.kind === 'nodeIn') return own ? ALLOWED : deny(`an agent may read only its own inbox, not ${t.nodeId}'s`);
      if (t.kind === 'nodeState' || t.kind === 'ledger') return ALLOWED;
      if (t.kind === 'heartbeat' || t.kind === 'event') return ownTelemetry ? ALLOWED : deny(`account ${t.account} is not this agent's`);
      return deny(`an agent may not subscribe to ${t.kind} topics`);
  }
}

function roleRule(p: Principal, action: Action, t: ParsedTopic): Decision {
  if (p.role === 'agent') return agentRule(p, action, t);
  if (action === 'subscribe') {
    const kinds = p.role === 'auditor' ? AUDIT_KINDS : READ_KINDS;
    return kinds.has(t.kind) ? ALLOWED : deny(`role ${p.role} may not subscribe to ${t.kind} topics`);
  }
  if (action === 'publish' && (p.role === 'replica' || p.role === 'admin') && t.kind === 'alert') return ALLOWED;
  return deny(`role ${p.role} may not ${action === 'retain' ? 'retain' : 'publish'} ${t.kind} topics`);
}

/** Decides whether `principal` may perform `action` on `topic` (a topic, or a filter for subscribe). */
export function authorize(principal: Principal, action: Action, topic: string): Decision {
  if (typeof topic !== 'string' || topic.length === 0) return deny('empty topic');
  if (topic.startsWith('$')) return deny('topics starting with $ are reserved to the broker');
  const wildcard = topic.includes('+') || topic.includes('#');
  if (wildcard) {
    if (action !== 'subscribe') return deny('a publish topic cannot hold wildcards');
    return siteFilters(principal.role, principal.site).includes(topic)
      ? ALLOWED
      : deny(`filter ${topic} is not one of the site filters role ${principal.role} may use`);
  }
  const parsed = parseTopic(topic);
  if (!parsed) return deny('not a 2baksa topic');
  if (parsed.kind === 'dc') return deny('data-center topics are not served by a site broker');
  if (parsed.site !== principal.site) return deny(`topic of site ${parsed.site}; this broker serves site ${principal.site}`);
  return roleRule(principal, action, parsed);
}
