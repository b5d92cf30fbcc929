/**
 * Where the admin commands act: directly on a node's account database (`--db FILE`), or through the REST
 * API with an admin certificate (`--server URL --tls-dir DIR --cert-name NAME`). Both backends return the
 * same shapes, so the commands print the same output either way.
 */
import { existsSync } from 'node:fs';
import { loadTlsMaterial, type TlsMaterial } from '../../shared/crypto/pki.ts';
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { AccountOps, type AccountInfo, type AccountView, type CreateAccountInput, type GroupPatch } from '../accounts/ops.ts';
import type { GroupStats, UsageCheck } from '../accounts/queries.ts';
import { openAccountDb } from '../accounts/schema.ts';
import type { AccountConfig, Site, SiteValidator } from '../accounts/types.ts';
import { ApiClient } from '../../shared/http/api-client.ts';
import { FailoverTransport, neverReached, serverList, type NodeTransport } from '../../shared/http/failover.ts';
import { heartbeatBoard, type BoardRow } from '../reports/heartbeats.ts';
import { spaceReport, type SpaceDimension, type SpaceRows } from '../reports/space.ts';

export interface AdminBackend {
  createAccount(input: CreateAccountInput): Promise<AccountView>;
  accountInfo(ref: string): Promise<AccountView & AccountInfo>;
  listAccounts(): Promise<AccountView[]>;
  setEnabled(ref: string, enabled: boolean): Promise<AccountView>;
  setLimits(ref: string, softBytes: number | null, hardBytes: number | null): Promise<AccountView>;
  configure(ref: string, config: AccountConfig): Promise<AccountView>;
  rename(ref: string, name: string): Promise<AccountView>;
  deleteAccount(ref: string): Promise<Record<string, unknown>>;
  housekeep(ref: string, aggressive: boolean): Promise<Record<string, unknown>>;
  check(ref: string, fix: boolean): Promise<UsageCheck & { numberHex: string; fixed: boolean }>;
  resetAgentKey(ref: string): Promise<{ account: string; reset: boolean }>;
  createGroup(name: string, admin: string, softBytes: number | null, hardBytes: number | null): Promise<GroupStats>;
  setGroup(name: string, patch: GroupPatch): Promise<GroupStats>;
  deleteGroup(name: string): Promise<Record<string, unknown>>;
  addMember(group: string, ref: string): Promise<GroupStats>;
  removeMember(group: string, ref: string): Promise<GroupStats>;
  groupInfo(name: string): Promise<GroupStats>;
  listGroups(): Promise<GroupStats[]>;
  registerSite(site: string, validators: SiteValidator[], accounts?: string[]): Promise<Site>;
  deleteSite(site: string): Promise<Record<string, unknown>>;
  listSites(): Promise<Site[]>;
  space(by: SpaceDimension): Promise<SpaceRows>;
  heartbeats(): Promise<BoardRow[]>;
  close(): Promise<void>;
}

export class LocalBackend implements AdminBackend {
  private readonly ops: AccountOps;

  constructor(readonly db: Database) {
    this.ops = new AccountOps(db);
  }

  createAccount(input: CreateAccountInput) { return this.ops.create(input); }
  accountInfo(ref: string) { return this.ops.info(ref); }
  listAccounts() { return this.ops.list(); }
  setEnabled(ref: string, enabled: boolean) { return this.ops.setEnabled(ref, enabled); }
  setLimits(ref: string, s: number | null, h: number | null) { return this.ops.setLimits(ref, s, h); }
  configure(ref: string, config: AccountConfig) { return this.ops.configure(ref, config); }
  rename(ref: string, name: string) { return this.ops.rename(ref, name); }
  deleteAccount(ref: string) { return this.ops.delete(ref); }
  housekeep(ref: string, aggressive: boolean) { return this.ops.housekeep(ref, aggressive); }
  check(ref: string, fix: boolean) { return this.ops.check(ref, fix); }
  resetAgentKey(ref: string) { return this.ops.resetAgentKey(ref); }
  createGroup(name: string, admin: string, s: number | null, h: number | null) { return this.ops.createGroup(name, admin, s, h); }
  setGroup(name: string, patch: GroupPatch) { return this.ops.setGroup(name, patch); }
  deleteGroup(name: string) { return this.ops.deleteGroup(name); }
  addMember(group: string, ref: string) { return this.ops.addMember(group, ref); }
  removeMember(group: string, ref: string) { return this.ops.removeMember(group, ref); }
  groupInfo(name: string) { return this.ops.groupInfo(name); }
  listGroups() { return this.ops.listGroups(); }
  registerSite(site: string, validators: SiteValidator[], accounts?: string[]) { return this.ops.registerSite(site, validators, accounts); }
  deleteSite(site: string) { return this.ops.deleteSite(site); }
  listSites() { return this.ops.listSites(); }
  space(by: SpaceDimension) { return spaceReport(this.db, by); }
  heartbeats() { return heartbeatBoard(this.db, Date.now()); }
  close() { return this.db.close(); }
}

const seg = (s: string) => encodeURIComponent(s);

export class RemoteBackend implements AdminBackend {
  constructor(private readonly client: NodeTransport) {}

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await this.client.request<T>(method, path, body)).body;
  }

  createAccount(input: CreateAccountInput) { return this.call<AccountView>('POST', '/v1/accounts', input); }
  accountInfo(ref: string) { return this.call<AccountView & AccountInfo>('GET', `/v1/accounts/${seg(ref)}`); }
  async listAccounts() { return (await this.call<{ accounts: AccountView[] }>('GET', '/v1/accounts')).accounts; }
  setEnabled(ref: string, enabled: boolean) { return this.call<AccountView>('PUT', `/v1/accounts/${seg(ref)}/enabled`, { enabled }); }
  setLimits(ref: string, softBytes: number | null, hardBytes: number | null) {
    return this.call<AccountView>('PUT', `/v1/accounts/${seg(ref)}/limits`, { softBytes, hardBytes });
  }
  configure(ref: string, config: AccountConfig) { return this.call<AccountView>('PATCH', `/v1/accounts/${seg(ref)}`, config); }
  rename(ref: string, name: string) { return this.call<AccountView>('PUT', `/v1/accounts/${seg(ref)}/name`, { name }); }
  deleteAccount(ref: string) { return this.call<Record<string, unknown>>('DELETE', `/v1/accounts/${seg(ref)}`); }
  housekeep(ref: string, aggressive: boolean) { return this.call<Record<string, unknown>>('POST', `/v1/accounts/${seg(ref)}/housekeep`, { aggressive }); }
  check(ref: string, fix: boolean) { return this.call<UsageCheck & { numberHex: string; fixed: boolean }>('POST', `/v1/accounts/${seg(ref)}/check`, { fix }); }
  resetAgentKey(ref: string) { return this.call<{ account: string; reset: boolean }>('DELETE', `/v1/accounts/${seg(ref)}/agent-key`); }
  createGroup(name: string, admin: string, softBytes: number | null, hardBytes: number | null) {
    return this.call<GroupStats>('POST', '/v1/groups', { name, admin, softBytes, hardBytes });
  }
  setGroup(name: string, patch: GroupPatch) { return this.call<GroupStats>('PATCH', `/v1/groups/${seg(name)}`, patch); }
  deleteGroup(name: string) { return this.call<Record<string, unknown>>('DELETE', `/v1/groups/${seg(name)}`); }
  addMember(group: string, ref: string) { return this.call<GroupStats>('PUT', `/v1/groups/${seg(group)}/members/${seg(ref)}`); }
  removeMember(group: string, ref: string) { return this.call<GroupStats>('DELETE', `/v1/groups/${seg(group)}/members/${seg(ref)}`); }
  groupInfo(name: string) { return this.call<GroupStats>('GET', `/v1/groups/${seg(name)}`); }
  async listGroups() { return (await this.call<{ groups: GroupStats[] }>('GET', '/v1/groups')).groups; }
  registerSite(site: string, validators: SiteValidator[], accounts?: string[]) {
    return this.call<Site>('PUT', `/v1/sites/${seg(site)}`, { validators, ...(accounts && accounts.length > 0 ? { accounts } : {}) });
  }
  deleteSite(site: string) { return this.call<Record<string, unknown>>('DELETE', `/v1/sites/${seg(site)}`); }
  async listSites() { return (await this.call<{ sites: Site[] }>('GET', '/v1/sites')).sites; }
  space(by: SpaceDimension) { return this.call<SpaceRows>('GET', `/v1/reports/space?by=${by}`); }
  async heartbeats() { return (await this.call<{ accounts: BoardRow[] }>('GET', '/v1/reports/heartbeats')).accounts; }
  async close() { this.client.close(); }
}

export interface TargetFlags {
  db?: string;
  server?: string;
  tlsDir?: string;
  certName?: string;
}

/**
 * The API of the `--server` node, or of several (comma-separated) tried in turn: a read goes on to the
 * next node when one does not answer, anything else only when it never reached the one it was sent to
 * (refused, no route), so no change is ever sent twice (shared/http/failover.ts). `check-nagios cluster
 * --server A,B` so reports through B while A is down.
 */
export function operatorTransport(server: string, tls: TlsMaterial, timeoutMs?: number): NodeTransport {
  const urls = serverList(server);
  const connect = (url: string) => new ApiClient(url, tls, timeoutMs !== undefined ? { timeoutMs } : {});
  if (urls.length <= 1) return connect(urls[0] ?? server);
  return new FailoverTransport(urls, connect, { mayResend: (method, error) => method === 'GET' || neverReached(error) });
}

/**
 * Opens the backend the flags name. `create`: a missing database file is created (first account or
 * group); otherwise it must exist, so a mistyped path is an error rather than an empty database.
 */
export async function openBackend(flags: TargetFlags, options: { create?: boolean } = {}): Promise<AdminBackend> {
  if (flags.db && flags.server) throw configError('--db', 'give either --db FILE or --server URL, not both');
  if (flags.server) {
    if (!flags.tlsDir || !flags.certName) {
      throw configError('--server', 'needs --tls-dir DIR and --cert-name NAME (an admin certificate)', 'issue one with: 2baksa pki issue --dir DIR --name NAME --role admin');
    }
    return new RemoteBackend(operatorTransport(flags.server, loadTlsMaterial(flags.tlsDir, flags.certName)));
  }
  const path = flags.db ?? process.env.BAKSA_ACCOUNTS_DB;
  if (!path) throw configError('--db', 'no account database given', 'pass --db FILE (a node\'s accounts.db), or --server URL with --tls-dir and --cert-name');
  if (!options.create && !existsSync(path)) {
    throw new BaksaError('DB_NOT_FOUND', `${path}: no such account database`, {
      exitCode: ExitCode.config,
      hint: 'check the path; the first `accounts create` or `groups create` makes a new one',
      details: { path },
    });
  }
  return new LocalBackend(await openAccountDb(path));
}

/** Runs `fn` with the backend and closes it whatever happens. */
export async function withBackend<T>(flags: TargetFlags, fn: (b: AdminBackend) => Promise<T>, options: { create?: boolean } = {}): Promise<T> {
  const backend = await openBackend(flags, options);
  try {
    return await fn(backend);
  } finally {
    await backend.close();
  }
}
