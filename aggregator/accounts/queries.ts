/**
 * Reading the account database: rows to records, "number or name" resolution, group statistics.
 * Nothing here writes; writes go through `apply` (state-machine.ts).
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatAccountNumber, looksLikeNumber, parseAccountNumber } from './names.ts';
import type { Account, Group, Site, SiteValidator, StoredObject } from './types.ts';

export interface AccountRow {
  number: number;
  name: string;
  enabled: number;
  soft_bytes: number | null;
  hard_bytes: number | null;
  monitoring: number;
  heartbeat_interval_s: number;
  primary_cluster: string | null;
  secondary_cluster: string | null;
  regions: string;
  created_ms: number;
  used_bytes: number;
  object_count: number;
  store_marker: number;
}

export interface GroupRow {
  name: string;
  admin: string;
  soft_bytes: number | null;
  hard_bytes: number | null;
  created_ms: number;
}

export function accountOfRow(r: AccountRow): Account {
  return {
    number: r.number,
    name: r.name,
    enabled: r.enabled === 1,
    softBytes: r.soft_bytes,
    hardBytes: r.hard_bytes,
    monitoring: r.monitoring === 1,
    heartbeatIntervalS: r.heartbeat_interval_s,
    primaryCluster: r.primary_cluster,
    secondaryCluster: r.secondary_cluster,
    regions: JSON.parse(r.regions) as string[],
    createdMs: r.created_ms,
    usedBytes: r.used_bytes,
    objectCount: r.object_count,
    storeMarker: r.store_marker,
  };
}

export function groupOfRow(r: GroupRow): Group {
  return { name: r.name, admin: r.admin, softBytes: r.soft_bytes, hardBytes: r.hard_bytes, createdMs: r.created_ms };
}

export function accountNotFound(ref: string | number): BaksaError {
  const shown = typeof ref === 'number' ? formatAccountNumber(ref) : ref;
  return new BaksaError('ACCOUNT_NOT_FOUND', `no account ${shown}`, {
    hint: 'check the number or name with `2baksa accounts list`',
    exitCode: ExitCode.data,
    details: { account: shown },
  });
}

export function groupNotFound(name: string): BaksaError {
  return new BaksaError('GROUP_NOT_FOUND', `no group ${name}`, {
    hint: 'check the name with `2baksa groups list`',
    exitCode: ExitCode.data,
    details: { group: name },
  });
}

export async function findAccount(db: Database, number: number): Promise<Account | undefined> {
  const row = await db.get<AccountRow>('SELECT * FROM accounts WHERE number = ?', [number]);
  return row && accountOfRow(row);
}

export async function findAccountByName(db: Database, name: string): Promise<Account | undefined> {
  const row = await db.get<AccountRow>('SELECT * FROM accounts WHERE name = ?', [name.trim().replace(/\.$/, '').toLowerCase()]);
  return row && accountOfRow(row);
}

/**
 * Resolves what a person typed: `0x1a` or `1a` is a number, anything else a name. Names that read as
 * numbers are refused at creation, so the two never collide.
 */
export async function resolveAccount(db: Database, ref: string | number): Promise<Account> {
  if (typeof ref === 'number') {
    const found = await findAccount(db, ref);
    if (!found) throw accountNotFound(ref);
    return found;
  }
  const number = looksLikeNumber(ref) ? parseAccountNumber(ref) : undefined;
  const found = number !== undefined ? await findAccount(db, number) : await findAccountByName(db, ref);
  if (!found) throw accountNotFound(ref);
  return found;
}

export async function listAccounts(db: Database): Promise<Account[]> {
  return (await db.all<AccountRow>('SELECT * FROM accounts ORDER BY number')).map(accountOfRow);
}

export async function findGroup(db: Database, name: string): Promise<Group | undefined> {
  const row = await db.get<GroupRow>('SELECT * FROM groups WHERE name = ?', [name.trim().toLowerCase()]);
  return row && groupOfRow(row);
}

export async function resolveGroup(db: Database, name: string): Promise<Group> {
  const g = await findGroup(db, name);
  if (!g) throw groupNotFound(name);
  return g;
}

export async function groupsOf(db: Database, account: number): Promise<Group[]> {
  const rows = await db.all<GroupRow>(
    'SELECT g.* FROM groups g JOIN group_members m ON m.group_name = g.name WHERE m.account = ? ORDER BY g.name',
    [account],
  );
  return rows.map(groupOfRow);
}

export async function membersOf(db: Database, group: string): Promise<Account[]> {
  const rows = await db.all<AccountRow>(
    'SELECT a.* FROM accounts a JOIN group_members m ON m.account = a.number WHERE m.group_name = ? ORDER BY a.number',
    [group],
  );
  return rows.map(accountOfRow);
}

/** Group statistics: the sums of the members' figures, plus the member list (Box Backup 2). */
export interface GroupStats extends Group {
  members: { number: number; name: string }[];
  memberCount: number;
  usedBytes: number;
  objectCount: number;
  enabledMembers: number;
}

export function statsOf(group: Group, members: readonly Account[]): GroupStats {
  let usedBytes = 0;
  let objectCount = 0;
  let enabledMembers = 0;
  for (const m of members) {
    usedBytes += m.usedBytes;
    objectCount += m.objectCount;
    if (m.enabled) enabledMembers++;
  }
  return {
    ...group,
    members: members.map((m) => ({ number: m.number, name: m.name })),
    memberCount: members.length,
    usedBytes,
    objectCount,
    enabledMembers,
  };
}

export async function groupStats(db: Database, name: string): Promise<GroupStats> {
  const group = await resolveGroup(db, name);
  return statsOf(group, await membersOf(db, group.name));
}

export async function listGroupStats(db: Database): Promise<GroupStats[]> {
  const groups = (await db.all<GroupRow>('SELECT * FROM groups ORDER BY name')).map(groupOfRow);
  const out: GroupStats[] = [];
  for (const g of groups) out.push(statsOf(g, await membersOf(db, g.name)));
  return out;
}

interface ObjectRow {
  account: number;
  object_id: string;
  seq: number;
  bytes: number;
  state: StoredObject['state'];
  stored_ms: number;
}

export async function objectsOf(db: Database, account: number): Promise<StoredObject[]> {
  const rows = await db.all<ObjectRow>('SELECT * FROM objects WHERE account = ? ORDER BY seq', [account]);
  return rows.map((r) => ({ account: r.account, objectId: r.object_id, seq: r.seq, bytes: r.bytes, state: r.state, storedMs: r.stored_ms }));
}

export interface HousekeepingRecord {
  id: number;
  account: number;
  aggressive: boolean;
  reason: string;
  requestedMs: number;
  doneMs: number | null;
  removedObjects: number | null;
  removedBytes: number | null;
}

export async function housekeepingOf(db: Database, account: number): Promise<HousekeepingRecord[]> {
  const rows = await db.all<{
    id: number; account: number; aggressive: number; reason: string; requested_ms: number;
    done_ms: number | null; removed_objects: number | null; removed_bytes: number | null;
  }>('SELECT * FROM housekeeping WHERE account = ? ORDER BY id', [account]);
  return rows.map((r) => ({
    id: r.id,
    account: r.account,
    aggressive: r.aggressive === 1,
    reason: r.reason,
    requestedMs: r.requested_ms,
    doneMs: r.done_ms,
    removedObjects: r.removed_objects,
    removedBytes: r.removed_bytes,
  }));
}

/** The usage counters against the stored objects (`accounts check`). */
export interface UsageCheck {
  account: number;
  name: string;
  recordedBytes: number;
  actualBytes: number;
  recordedObjects: number;
  actualObjects: number;
  consistent: boolean;
}

export async function checkUsage(db: Database, account: Account): Promise<UsageCheck> {
  const row = await db.get<{ bytes: number | null; n: number }>(
    'SELECT SUM(bytes) AS bytes, COUNT(*) AS n FROM objects WHERE account = ?',
    [account.number],
  );
  const actualBytes = row?.bytes ?? 0;
  const actualObjects = row?.n ?? 0;
  return {
    account: account.number,
    name: account.name,
    recordedBytes: account.usedBytes,
    actualBytes,
    recordedObjects: account.objectCount,
    actualObjects,
    consistent: actualBytes === account.usedBytes && actualObjects === account.objectCount,
  };
}

interface SiteRow {
  name: string;
  validators: string;
  registered_ms: number;
}

async function siteOfRow(db: Database, row: SiteRow): Promise<Site> {
  const accounts = await db.all<{ account: string }>('SELECT account FROM site_accounts WHERE site = ? ORDER BY account', [row.name]);
  return { name: row.name, validators: JSON.parse(row.validators) as SiteValidator[], accounts: accounts.map((a) => a.account), registeredMs: row.registered_ms };
}

export async function findSite(db: Database, name: string): Promise<Site | undefined> {
  const row = await db.get<SiteRow>('SELECT name, validators, registered_ms FROM sites WHERE name = ?', [name]);
  return row ? siteOfRow(db, row) : undefined;
}

/** The site an account (by name) is bound to, if any. */
export async function siteOfAccount(db: Database, account: string): Promise<Site | undefined> {
  const row = await db.get<SiteRow>('SELECT s.name, s.validators, s.registered_ms FROM sites s JOIN site_accounts a ON a.site = s.name WHERE a.account = ?', [account]);
  return row ? siteOfRow(db, row) : undefined;
}

export async function listSites(db: Database): Promise<Site[]> {
  const rows = await db.all<SiteRow>('SELECT name, validators, registered_ms FROM sites ORDER BY name');
  return Promise.all(rows.map((r) => siteOfRow(db, r)));
}
