/**
 * Topic authorization for an aggregator node's MQTT endpoint (DESIGN §7, §8): one pure function from
 * (principal, action, topic) to a decision, so every rule is a row in a table test. The site broker's
 * rules (agent/broker/authorize.ts) serve one site; this endpoint serves every site of the cluster's
 * accounts, and knows an agent by the account its certificate names (CN = the account's name).
 *
 *   agent     publish    <any site>/telemetry/<own account>/heartbeat|event,
 *                        dc/<cluster>/register|deregister (the envelope inside must name its own
 *                        account too: `claimedTelemetryAccount`, checked by the broker)
 *             subscribe  dc/<cluster>/config/<own account>
 *   replica   publish    dc/<cluster>/config/<any account>, <any site>/alert   (the nodes' monitors)
 *             subscribe  telemetry, register/deregister, alerts
 *   admin, operator      subscribe telemetry and alerts; no publish
 *   auditor   subscribe  alerts; no publish
 *
 * Nothing is retained, `$…` topics are denied to all, and a filter with wildcards is allowed only when
 * it is one of the cluster-wide filters above. An account is named in a topic by its name or its
 * number (`0x00000002`, as `agent init --account` takes it); a number matches only once the database
 * knows the account (the broker resolves it when the client connects).
 */
import type { Role } from '../../shared/crypto/pki.ts';
import { filters, parseTopic, type ParsedTopic } from '../../shared/protocol/index.ts';
import { peekTelemetry } from '../../shared/protocol/telemetry.ts';
import { parseAccountNumber } from '../accounts/names.ts';

export interface DcPrincipal {
  /** The certificate's CN. */
  identity: string;
  role: Role;
  /** The account an agent's certificate names, as the database knew it at CONNECT (undefined: not yet created). */
  account?: { name: string; number: number } | undefined;
}

export type DcAction = 'publish' | 'retain' | 'subscribe';
export type DcDecision = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: DcDecision = Object.freeze({ allowed: true });
const deny = (reason: string): DcDecision => ({ allowed: false, reason });

/** Whether the account reference `ref` (a topic segment or an envelope's account field) is `p`'s account. */
export function isOwnAccount(p: DcPrincipal, ref: string): boolean {
  if (ref.toLowerCase() === p.identity.toLowerCase()) return true;
  const number = parseAccountNumber(ref);
  return number !== undefined && p.account !== undefined && number === p.account.number;
}

function readerFilters(role: Role, cluster: string): readonly string[] {
  if (role === 'auditor') return [filters.alerts()];
  const shared = [filters.heartbeats(), filters.events(), filters.alerts()];
  return role === 'replica' ? [...shared, filters.dc(cluster)] : shared;
}

const TELEMETRY: ReadonlySet<ParsedTopic['kind']> = new Set(['heartbeat', 'event']);
const MONITOR_CHANNELS: ReadonlySet<string> = new Set(['register', 'deregister']);

function agentRule(p: DcPrincipal, action: 'publish' | 'subscribe', t: ParsedTopic, cluster: string): DcDecision {
  if (t.kind === 'heartbeat' || t.kind === 'event') {
    if (action !== 'publish') return deny('an agent publishes its telemetry; it does not read it here');
    return isOwnAccount(p, t.account) ? ALLOWED : deny(`account ${t.account} is not this certificate's (${p.identity})`);
  }
  if (t.kind !== 'dc') return deny(`an agent may not use ${t.kind} topics here`);
  if (t.cluster !== cluster) return deny(`cluster ${t.cluster}; this endpoint serves ${cluster}`);
  if (action === 'publish' && MONITOR_CHANNELS.has(t.channel) && t.rest.length === 0) return ALLOWED;
  if (action === 'subscribe' && t.channel === 'config' && t.rest.length === 1) {
    return isOwnAccount(p, t.rest[0]!) ? ALLOWED : deny(`the config of account ${t.rest[0]} is not this certificate's`);
  }
  return deny(`an agent may not ${action} dc/${t.channel}`);
}

function readerRule(p: DcPrincipal, action: 'publish' | 'subscribe', t: ParsedTopic, cluster: string): DcDecision {
  if (action === 'publish') {
    if (p.role !== 'replica') return deny(`role ${p.role} may not publish here`);
    if (t.kind === 'alert') return ALLOWED;
    if (t.kind === 'dc' && t.cluster === cluster && t.channel === 'config' && t.rest.length === 1) return ALLOWED;
    return deny(`a node publishes alerts and monitor configs, not ${t.kind} topics`);
  }
  if (t.kind === 'alert') return ALLOWED;
  if (p.role === 'auditor') return deny('an auditor reads alerts only');
  if (TELEMETRY.has(t.kind)) return ALLOWED;
  if (p.role === 'replica' && t.kind === 'dc' && t.cluster === cluster && MONITOR_CHANNELS.has(t.channel)) return ALLOWED;
  return deny(`role ${p.role} may not subscribe to ${t.kind} topics`);
}

/** Decides whether `p` may perform `action` on `topic` (a topic, or a filter for subscribe) on cluster `cluster`'s endpoint. */
export function authorizeDc(p: DcPrincipal, action: DcAction, topic: string, cluster: string): DcDecision {
  if (typeof topic !== 'string' || topic.length === 0) return deny('empty topic');
  if (topic.startsWith('$')) return deny('topics starting with $ are reserved to the broker');
  if (action === 'retain') return deny('nothing is retained on the cluster endpoint');
  if (topic.includes('+') || topic.includes('#')) {
    if (action !== 'subscribe') return deny('a publish topic cannot hold wildcards');
    return readerFilters(p.role, cluster).includes(topic) && p.role !== 'agent' ? ALLOWED : deny(`filter ${topic} is not one role ${p.role} may use`);
  }
  const parsed = parseTopic(topic);
  if (!parsed) return deny('not a 2baksa topic');
  return p.role === 'agent' ? agentRule(p, action, parsed, cluster) : readerRule(p, action, parsed, cluster);
}

/**
 * The account a Register or Deregister envelope names, read without verifying it (the monitor verifies
 * the signature); undefined for anything else or anything that does not decode.
 */
export function claimedTelemetryAccount(payload: Uint8Array): string | undefined {
  const message = peekTelemetry(payload);
  return message && (message.type === 'Register' || message.type === 'Deregister') ? message.account : undefined;
}
