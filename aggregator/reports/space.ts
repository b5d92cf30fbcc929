/**
 * Space reports (Box Backup 4): the whole cluster, each node, each volume (storage directory), each
 * group and each account.
 *
 * Accounts and groups are logical usage from the account database (the bytes of the stored objects).
 * Nodes, volumes and clusters are physical usage reported by the storage side as a `VolumeUsage` list:
 * the storage node records it in the `volumes` table (`recordVolumes`), or a caller hands a list in.
 * An aggregator node asks the other nodes for theirs when it makes a report (`GET /v1/internal/volumes`,
 * checked by `volumeList`) and records them, so a node that is down shows the last figures it gave,
 * with their time (`asOfMs`), and a node of the cluster that never gave any is listed without figures
 * (`figures: 'none'`) rather than left out: a report never looks like a smaller cluster.
 * The computations are pure functions over those lists.
 */
import { z } from 'zod';
import type { Database } from '../../shared/db/index.ts';
import { formatAccountNumber } from '../accounts/names.ts';
import { listAccounts, listGroupStats, type GroupStats } from '../accounts/queries.ts';
import type { Account } from '../accounts/types.ts';

export interface VolumeUsage {
  cluster: string;
  node: string;
  /** The storage directory (a mount point or path). */
  volume: string;
  bytesUsed: number;
  /** Capacity of the file system holding the volume; null when unknown. */
  bytesTotal: number | null;
  objects?: number | null;
  /** When these figures were read from their node (a node that did not answer now); null or absent: now. */
  asOfMs?: number | null;
}

const VOLUMES_PER_NODE_MAX = 256;
const bytesCount = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const volumeUsageSchema = z.object({
  cluster: z.string().min(1).max(255),
  node: z.string().min(1).max(255),
  volume: z.string().min(1).max(4096),
  bytesUsed: bytesCount,
  bytesTotal: bytesCount.nullable(),
  objects: bytesCount.nullable().optional(),
});

/**
 * A peer's answer as volume figures: at most VOLUMES_PER_NODE_MAX well-formed entries of `cluster`;
 * anything else in it is left out (a bad answer never breaks a report).
 */
export function volumeList(answer: unknown, cluster: string): VolumeUsage[] {
  if (!Array.isArray(answer)) return [];
  const out: VolumeUsage[] = [];
  for (const entry of answer.slice(0, VOLUMES_PER_NODE_MAX)) {
    const v = volumeUsageSchema.safeParse(entry);
    if (v.success && v.data.cluster === cluster) out.push({ ...v.data, objects: v.data.objects ?? null });
  }
  return out;
}

/** What the storage node implements to feed space reports. */
export interface VolumeSource {
  volumes(): Promise<VolumeUsage[]>;
}

export const SPACE_DIMENSIONS = ['cluster', 'node', 'volume', 'group', 'account'] as const;
export type SpaceDimension = (typeof SPACE_DIMENSIONS)[number];

export type QuotaState = 'ok' | 'over-soft' | 'over-hard';

export function quotaState(used: number, soft: number | null, hard: number | null): QuotaState {
  if (hard !== null && used > hard) return 'over-hard';
  if (soft !== null && used > soft) return 'over-soft';
  return 'ok';
}

const pct = (used: number, total: number | null): number | null => (total && total > 0 ? Math.round((used / total) * 1000) / 10 : null);

export interface AccountSpaceRow {
  account: string;
  number: string;
  enabled: boolean;
  usedBytes: number;
  objects: number;
  softBytes: number | null;
  hardBytes: number | null;
  usedPctOfHard: number | null;
  state: QuotaState;
  primaryCluster: string | null;
}

export function accountSpace(accounts: readonly Account[]): AccountSpaceRow[] {
  return accounts.map((a) => ({
    account: a.name,
    number: formatAccountNumber(a.number),
    enabled: a.enabled,
    usedBytes: a.usedBytes,
    objects: a.objectCount,
    softBytes: a.softBytes,
    hardBytes: a.hardBytes,
    usedPctOfHard: pct(a.usedBytes, a.hardBytes),
    state: quotaState(a.usedBytes, a.softBytes, a.hardBytes),
    primaryCluster: a.primaryCluster,
  }));
}

export interface GroupSpaceRow {
  group: string;
  admin: string;
  members: number;
  usedBytes: number;
  objects: number;
  softBytes: number | null;
  hardBytes: number | null;
  usedPctOfHard: number | null;
  state: QuotaState;
  memberNames: string[];
}

export function groupSpace(groups: readonly GroupStats[]): GroupSpaceRow[] {
  return groups.map((g) => ({
    group: g.name,
    admin: g.admin,
    members: g.memberCount,
    usedBytes: g.usedBytes,
    objects: g.objectCount,
    softBytes: g.softBytes,
    hardBytes: g.hardBytes,
    usedPctOfHard: pct(g.usedBytes, g.hardBytes),
    state: quotaState(g.usedBytes, g.softBytes, g.hardBytes),
    memberNames: g.members.map((m) => m.name),
  }));
}

export interface VolumeSpaceRow {
  cluster: string;
  node: string;
  volume: string;
  usedBytes: number;
  totalBytes: number | null;
  freeBytes: number | null;
  usedPct: number | null;
  objects: number | null;
  /** When the figures were read (a node that did not answer now); null: now. */
  asOfMs: number | null;
}

export function volumeSpace(volumes: readonly VolumeUsage[]): VolumeSpaceRow[] {
  return [...volumes]
    .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.node.localeCompare(b.node) || a.volume.localeCompare(b.volume))
    .map((v) => ({
      cluster: v.cluster,
      node: v.node,
      volume: v.volume,
      usedBytes: v.bytesUsed,
      totalBytes: v.bytesTotal,
      freeBytes: v.bytesTotal === null ? null : Math.max(0, v.bytesTotal - v.bytesUsed),
      usedPct: pct(v.bytesUsed, v.bytesTotal),
      objects: v.objects ?? null,
      asOfMs: v.asOfMs ?? null,
    }));
}

export interface NodeSpaceRow {
  cluster: string;
  node: string;
  volumes: number;
  /** null when the node never gave figures (`figures: 'none'`). */
  usedBytes: number | null;
  totalBytes: number | null;
  freeBytes: number | null;
  usedPct: number | null;
  /** `now`: read from the node for this report; `last-known`: it did not answer, these are from `asOfMs`; `none`: it never answered. */
  figures: 'now' | 'last-known' | 'none';
  /** When the oldest of its figures were read; null for `now` and `none`. */
  asOfMs: number | null;
}

/** The nodes of one cluster that keep volumes: a space report lists each of them, figures or not. */
export interface StorageNodes {
  cluster: string;
  nodes: readonly string[];
}

interface Sum {
  volumes: number;
  used: number;
  total: number | null;
}

function add(into: Sum, v: VolumeUsage): void {
  into.volumes++;
  into.used += v.bytesUsed;
  into.total = into.total === null || v.bytesTotal === null ? null : into.total + v.bytesTotal;
}

export function nodeSpace(volumes: readonly VolumeUsage[], expected?: StorageNodes): NodeSpaceRow[] {
  const by = new Map<string, Sum & { cluster: string; node: string; asOfMs: number | null }>();
  for (const v of volumes) {
    const key = `${v.cluster}\u0000${v.node}`;
    let s = by.get(key);
    if (!s) by.set(key, (s = { cluster: v.cluster, node: v.node, volumes: 0, used: 0, total: 0, asOfMs: null }));
    add(s, v);
    const asOf = v.asOfMs ?? null;
    if (asOf !== null) s.asOfMs = s.asOfMs === null ? asOf : Math.min(s.asOfMs, asOf);
  }
  const rows: NodeSpaceRow[] = [...by.values()].map((s) => ({
    cluster: s.cluster,
    node: s.node,
    volumes: s.volumes,
    usedBytes: s.used,
    totalBytes: s.total,
    freeBytes: s.total === null ? null : Math.max(0, s.total - s.used),
    usedPct: pct(s.used, s.total),
    figures: s.asOfMs === null ? 'now' : 'last-known',
    asOfMs: s.asOfMs,
  }));
  for (const node of expected?.nodes ?? []) {
    if (by.has(`${expected!.cluster}\u0000${node}`)) continue;
    rows.push({ cluster: expected!.cluster, node, volumes: 0, usedBytes: null, totalBytes: null, freeBytes: null, usedPct: null, figures: 'none', asOfMs: null });
  }
  return rows.sort((a, b) => a.cluster.localeCompare(b.cluster) || a.node.localeCompare(b.node));
}

export interface ClusterSpaceRow {
  cluster: string;
  nodes: number;
  volumes: number;
  /** Physical bytes on the cluster's volumes (shards, parity included). */
  usedBytes: number;
  totalBytes: number | null;
  usedPct: number | null;
  /** Accounts whose primary cluster this is, and the logical bytes they store. */
  accounts: number;
  accountBytes: number;
}

export function clusterSpace(volumes: readonly VolumeUsage[], accounts: readonly Account[], defaultCluster?: string): ClusterSpaceRow[] {
  const by = new Map<string, Sum & { nodes: Set<string>; accounts: number; accountBytes: number }>();
  const get = (cluster: string) => {
    let s = by.get(cluster);
    if (!s) by.set(cluster, (s = { volumes: 0, used: 0, total: 0, nodes: new Set(), accounts: 0, accountBytes: 0 }));
    return s;
  };
  for (const v of volumes) {
    const s = get(v.cluster);
    s.nodes.add(v.node);
    add(s, v);
  }
  for (const a of accounts) {
    const cluster = a.primaryCluster ?? defaultCluster;
    if (cluster === undefined) continue;
    const s = get(cluster);
    s.accounts++;
    s.accountBytes += a.usedBytes;
  }
  return [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([cluster, s]) => ({
      cluster,
      nodes: s.nodes.size,
      volumes: s.volumes,
      usedBytes: s.used,
      totalBytes: s.volumes === 0 ? null : s.total,
      usedPct: s.volumes === 0 ? null : pct(s.used, s.total),
      accounts: s.accounts,
      accountBytes: s.accountBytes,
    }));
}

/** Stores the storage side's latest volume figures (node-local; replaces the node's previous rows). */
export async function recordVolumes(db: Database, volumes: readonly VolumeUsage[], atMs: number): Promise<void> {
  await db.transaction(async () => {
    for (const v of volumes) {
      await db.run(
        `INSERT INTO volumes(cluster, node, volume, bytes_used, bytes_total, objects, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(cluster, node, volume) DO UPDATE SET bytes_used = excluded.bytes_used, bytes_total = excluded.bytes_total,
           objects = excluded.objects, updated_ms = excluded.updated_ms`,
        [v.cluster, v.node, v.volume, v.bytesUsed, v.bytesTotal, v.objects ?? null, atMs],
      );
    }
  });
}

export async function volumesFromDb(db: Database): Promise<VolumeUsage[]> {
  const rows = await db.all<{ cluster: string; node: string; volume: string; bytes_used: number; bytes_total: number | null; objects: number | null; updated_ms: number }>(
    'SELECT * FROM volumes ORDER BY cluster, node, volume',
  );
  return rows.map((r) => ({ cluster: r.cluster, node: r.node, volume: r.volume, bytesUsed: r.bytes_used, bytesTotal: r.bytes_total, objects: r.objects, asOfMs: r.updated_ms }));
}

export type SpaceRows =
  | { by: 'account'; rows: AccountSpaceRow[] }
  | { by: 'group'; rows: GroupSpaceRow[] }
  | { by: 'volume'; rows: VolumeSpaceRow[] }
  | { by: 'node'; rows: NodeSpaceRow[] }
  | { by: 'cluster'; rows: ClusterSpaceRow[] };

export interface SpaceReportOptions {
  /** Volume figures to use instead of the database's `volumes` table. */
  volumes?: readonly VolumeUsage[];
  /** The cluster of accounts that name no primary cluster. */
  defaultCluster?: string;
  /** Every node of the cluster that keeps volumes, listed by `node` even when it gave no figures. */
  storageNodes?: StorageNodes;
}

export async function spaceReport(db: Database, by: SpaceDimension, options: SpaceReportOptions = {}): Promise<SpaceRows> {
  const volumes = async () => options.volumes ?? (await volumesFromDb(db));
  switch (by) {
    case 'account':
      return { by, rows: accountSpace(await listAccounts(db)) };
    case 'group':
      return { by, rows: groupSpace(await listGroupStats(db)) };
    case 'volume':
      return { by, rows: volumeSpace(await volumes()) };
    case 'node':
      return { by, rows: nodeSpace(await volumes(), options.storageNodes) };
    case 'cluster':
      return { by, rows: clusterSpace(await volumes(), await listAccounts(db), options.defaultCluster) };
    default: {
      const never: never = by;
      return never;
    }
  }
}
