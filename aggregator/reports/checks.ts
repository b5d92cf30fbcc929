/**
 * The checks behind `2baksa check-nagios`: heartbeat (late and silent accounts), space (volume fill and
 * accounts or groups over their limits), ledger (an offline verification of a ledger directory),
 * cluster (the aggregator nodes one node reaches, against the PBFT quorum) and certs (the days left
 * before the certificates of a PKI directory expire).
 * Each returns a NagiosResult; the command prints `statusLine` and exits with `exitCodeOf`.
 */
import type { BoardRow } from './heartbeats.ts';
import { NagiosState, stateOf, worst, type NagiosRange, type NagiosResult, type NagiosStateName, type PerfItem } from './nagios.ts';
import type { AccountSpaceRow, GroupSpaceRow, VolumeSpaceRow } from './space.ts';

export interface Thresholds {
  warning: NagiosRange | undefined;
  critical: NagiosRange | undefined;
}

const LIST_MAX = 5;

function names(list: readonly string[]): string {
  return list.length <= LIST_MAX ? list.join(', ') : `${list.slice(0, LIST_MAX).join(', ')}, … ${list.length - LIST_MAX} more`;
}

export function heartbeatCheck(board: readonly BoardRow[], t: Thresholds): NagiosResult {
  const count = (s: BoardRow['state']) => board.filter((r) => r.state === s).length;
  const lateRows = board.filter((r) => r.state === 'late' || r.state === 'silent');
  const late = lateRows.length;
  const silent = count('silent');
  const state = stateOf(late, t.warning, t.critical);
  const text =
    `${board.length} accounts, ${late} late` +
    (late > 0 ? ` (${names(lateRows.map((r) => `${r.account}${r.state === 'silent' ? ' silent' : ''}`))})` : '');
  const perf: PerfItem[] = [
    { label: 'accounts', value: board.length },
    { label: 'late', value: late, warning: t.warning, critical: t.critical },
    { label: 'silent', value: silent },
    { label: 'ok', value: count('ok') },
    { label: 'deregistered', value: count('deregistered') },
    { label: 'disabled', value: count('disabled') },
  ];
  return { service: 'HEARTBEAT', state, text, perf };
}

export interface SpaceCheckInput {
  volumes: readonly VolumeSpaceRow[];
  accounts: readonly AccountSpaceRow[];
  groups: readonly GroupSpaceRow[];
}

/** Volumes by fill percentage against the thresholds; any account or group over hard is CRITICAL, over soft WARNING. */
export function spaceCheck(input: SpaceCheckInput, t: Thresholds, quotas = true): NagiosResult {
  const states: NagiosStateName[] = [];
  const perf: PerfItem[] = [];
  let fullest: VolumeSpaceRow | undefined;
  for (const v of input.volumes) {
    if (v.usedPct === null) continue;
    states.push(stateOf(v.usedPct, t.warning, t.critical));
    perf.push({ label: `${v.node}:${v.volume}`, value: v.usedPct, uom: '%', warning: t.warning, critical: t.critical, min: 0, max: 100 });
    if (!fullest || v.usedPct > (fullest.usedPct ?? 0)) fullest = v;
  }
  const overHard = [...input.accounts.filter((a) => a.state === 'over-hard').map((a) => a.account), ...input.groups.filter((g) => g.state === 'over-hard').map((g) => `group ${g.group}`)];
  const overSoft = [...input.accounts.filter((a) => a.state === 'over-soft').map((a) => a.account), ...input.groups.filter((g) => g.state === 'over-soft').map((g) => `group ${g.group}`)];
  if (quotas) {
    if (overHard.length > 0) states.push('CRITICAL');
    if (overSoft.length > 0) states.push('WARNING');
  }
  const used = input.volumes.reduce((s, v) => s + v.usedBytes, 0);
  perf.push({ label: 'used', value: used, uom: 'B' });
  perf.push({ label: 'over_soft', value: overSoft.length }, { label: 'over_hard', value: overHard.length });
  const parts = [`${input.volumes.length} volumes`];
  if (fullest) parts.push(`fullest ${fullest.node}:${fullest.volume} ${fullest.usedPct}%`);
  if (quotas && overHard.length > 0) parts.push(`over hard limit: ${names(overHard)}`);
  if (quotas && overSoft.length > 0) parts.push(`over soft limit: ${names(overSoft)}`);
  return { service: 'SPACE', state: worst(...states), text: parts.join(', '), perf };
}

export interface LedgerCheckInput {
  ok: boolean;
  height: number;
  blocks: number;
  problem?: string;
  tornTail?: boolean;
}

export function ledgerCheck(input: LedgerCheckInput): NagiosResult {
  const perf: PerfItem[] = [{ label: 'blocks', value: input.blocks }];
  if (!input.ok) return { service: 'LEDGER', state: 'CRITICAL', text: `verification failed: ${input.problem ?? 'unknown reason'}`, perf };
  if (input.tornTail) return { service: 'LEDGER', state: 'WARNING', text: `${input.blocks} blocks verified, torn last frame (a crash mid-append)`, perf };
  return { service: 'LEDGER', state: 'OK', text: `${input.blocks} blocks verified, height ${input.height}`, perf };
}

/** What `GET /v1/node` says that the cluster check reads. */
export interface ClusterCheckInput {
  node: string;
  replicas: readonly string[];
  peersConnected: readonly string[];
  view: number;
  viewChanging: boolean;
  accountCommands: number;
  accountCommandsApplied: number;
  /** Whether the node's monitor hears heartbeats (undefined: a node from before it said). */
  monitorListening?: boolean;
}

/**
 * The cluster as one node sees it: CRITICAL when the nodes it reaches (itself included) are fewer than
 * a PBFT quorum ⌈(n + f + 1) / 2⌉, so nothing commits; WARNING when any node is missing or a view change
 * is under way; OK otherwise.
 */
export function clusterCheck(s: ClusterCheckInput): NagiosResult {
  const n = s.replicas.length;
  const f = Math.floor((n - 1) / 3);
  const quorum = Math.ceil((n + f + 1) / 2);
  const up = new Set([s.node, ...s.peersConnected.filter((p) => s.replicas.includes(p))]);
  const missing = s.replicas.filter((r) => !up.has(r));
  const perf: PerfItem[] = [
    { label: 'nodes_up', value: up.size, min: 0, max: n },
    { label: 'quorum', value: quorum },
    { label: 'view', value: s.view },
    { label: 'commands_behind', value: Math.max(0, s.accountCommands - s.accountCommandsApplied) },
  ];
  const seen = `${up.size} of ${n} nodes reachable from ${s.node}`;
  if (up.size < quorum) return { service: 'CLUSTER', state: 'CRITICAL', text: `${seen}, commits need ${quorum}; down or cut off: ${names(missing)}`, perf };
  if (missing.length > 0) return { service: 'CLUSTER', state: 'WARNING', text: `${seen} (down or cut off: ${names(missing)}); commits go on with ${quorum}`, perf };
  if (s.viewChanging) return { service: 'CLUSTER', state: 'WARNING', text: `${seen}, a view change from view ${s.view} is under way`, perf };
  if (s.monitorListening === false) return { service: 'CLUSTER', state: 'WARNING', text: `${seen}, but its monitor hears no heartbeats (its MQTT broker is out of reach): no gateway is judged silent until it does`, perf };
  return { service: 'CLUSTER', state: 'OK', text: `${seen}, view ${s.view}, ${s.accountCommandsApplied} account commands applied`, perf };
}

export function unknownResult(service: string, why: string): NagiosResult {
  return { service, state: 'UNKNOWN', text: why, perf: [] };
}

export { NagiosState };

/** One certificate of a PKI directory, as the certs check reads it. */
export interface CertificateCheckRow {
  name: string;
  notAfter: Date;
  revoked: boolean;
}

const DAY_MS = 86_400_000;

/**
 * Days left before the first certificate of a PKI directory expires (the CA's included: every link
 * stops with it), against the thresholds (ranges such as `30:`, alerting below 30). Revoked
 * certificates are left out and counted: they are meant to stop working.
 */
export function certificateCheck(rows: readonly CertificateCheckRow[], nowMs: number, t: Thresholds): NagiosResult {
  const live = rows.filter((r) => !r.revoked).sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime());
  const daysLeft = (r: CertificateCheckRow) => Math.floor((r.notAfter.getTime() - nowMs) / DAY_MS);
  const expired = live.filter((r) => r.notAfter.getTime() <= nowMs);
  const perf: PerfItem[] = [
    { label: 'certificates', value: live.length },
    { label: 'expired', value: expired.length },
    { label: 'revoked', value: rows.length - live.length },
  ];
  const first = live[0];
  if (!first) return { service: 'CERTS', state: 'UNKNOWN', text: 'no certificate that is not revoked was found', perf };
  const days = daysLeft(first);
  perf.unshift({ label: 'days_left', value: days, warning: t.warning, critical: t.critical });
  const soon = live.filter((r) => stateOf(daysLeft(r), t.warning, t.critical) !== 'OK');
  const text = expired.length > 0
    ? `${live.length} certificates, expired: ${names(expired.map((r) => `${r.name} on ${r.notAfter.toISOString().slice(0, 10)}`))}`
    : `${live.length} certificates, the first to expire is ${first.name} in ${days} days (${first.notAfter.toISOString().slice(0, 10)})` +
      (soon.length > 1 ? `; within the threshold: ${names(soon.map((r) => r.name))}` : '');
  return { service: 'CERTS', state: stateOf(days, t.warning, t.critical), text, perf };
}
