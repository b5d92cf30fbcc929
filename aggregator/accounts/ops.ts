/**
 * The operations behind `2baksa accounts|groups|sites …` and the admin REST routes, over one account database.
 * Each write builds a command (with the time and, for an automatic number, the number decided here from
 * the database state) and hands it to `submit` — `apply` on this node today, a consensus request once
 * the replica exists — so the CLI and the API change accounts the same way. Reads go to the database.
 */
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { accountJson, nextAccountNumber } from './apply-accounts.ts';
import { formatAccountNumber, normalizeGroupName } from './names.ts';
import { checkUsage, listSites, groupStats, groupsOf, housekeepingOf, listAccounts, listGroupStats, resolveAccount, resolveGroup, type GroupStats, type UsageCheck } from './queries.ts';
import { apply } from './state-machine.ts';
import type { AccountCommand, AccountConfig, ApplyResult, QuotaEvent, Site, SiteValidator } from './types.ts';

export interface AccountOpsOptions {
  /** Where commands go; defaults to `apply` on this database. */
  submit?: (command: AccountCommand) => Promise<ApplyResult>;
  now?: () => number;
  /** Called with the limits a command pushed over (the node raises soft-/hard-limit alerts). */
  onQuotaEvents?: (events: QuotaEvent[], atMs: number, account: number | undefined) => void | Promise<void>;
}

export interface CreateAccountInput extends AccountConfig {
  name: string;
  number?: number | null;
  softBytes?: number | null;
  hardBytes?: number | null;
}

export interface AccountMonitorView {
  registered: boolean | null;
  lastHeartbeat: string | null;
  lastSync: string | null;
  lastSyncDurationS: number | null;
  heartbeats: number;
  bytesSynced: number;
  bytesRestored: number;
  errors: number;
  agentVersion: string | null;
  host: string | null;
  alertState: string | null;
}

export type AccountView = ReturnType<typeof accountJson>;

export interface AccountInfo extends Record<string, unknown> {
  groups: string[];
  pendingHousekeeping: number;
  monitor: AccountMonitorView | null;
}

export interface GroupPatch {
  admin?: string;
  softBytes?: number | null;
  hardBytes?: number | null;
}

const iso = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export class AccountOps {
  private readonly submitCommand: (command: AccountCommand) => Promise<ApplyResult>;
  private readonly now: () => number;

  constructor(
    readonly db: Database,
    private readonly options: AccountOpsOptions = {},
  ) {
    this.submitCommand = options.submit ?? ((c) => apply(db, c));
    this.now = options.now ?? Date.now;
  }

  /** Submits a command; a refusal becomes a thrown BaksaError; crossed limits go to `onQuotaEvents`. */
  async submit(command: AccountCommand): Promise<Record<string, unknown>> {
    const result = await this.submitCommand(command);
    if (!result.ok) {
      const usage = ['INVALID_ARGUMENT', 'INVALID_COMMAND', 'LIMITS_INVALID'].includes(result.error.code);
      throw new BaksaError(result.error.code, result.error.message, {
        ...(result.error.hint ? { hint: result.error.hint } : {}),
        ...(result.error.details ? { details: result.error.details } : {}),
        exitCode: usage ? ExitCode.usage : ExitCode.data,
      });
    }
    if (result.quotaEvents.length > 0 && this.options.onQuotaEvents) {
      const atMs = 'atMs' in command ? command.atMs : this.now();
      await this.options.onQuotaEvents(result.quotaEvents, atMs, 'account' in command ? command.account : undefined);
    }
    return result.value;
  }

  async create(input: CreateAccountInput): Promise<AccountView> {
    // The automatic number is decided here, from the database state, so the command carries it. Two
    // creations racing for the same number: the later one is refused, and takes the next number.
    for (let attempt = 0; ; attempt++) {
      const number = input.number ?? (await nextAccountNumber(this.db));
      const cmd: AccountCommand = {
        type: 'CreateAccount',
        atMs: this.now(),
        name: input.name,
        number,
        softBytes: input.softBytes ?? null,
        hardBytes: input.hardBytes ?? null,
      };
      for (const k of ['monitoring', 'heartbeatIntervalS', 'primaryCluster', 'secondaryCluster', 'regions'] as const) {
        if (input[k] !== undefined) (cmd as unknown as Record<string, unknown>)[k] = input[k];
      }
      try {
        return (await this.submit(cmd)) as unknown as AccountView;
      } catch (e) {
        const retry = e instanceof BaksaError && e.code === 'ACCOUNT_NUMBER_TAKEN' && (input.number ?? null) === null && attempt < 3;
        if (!retry) throw e;
      }
    }
  }

  async list(): Promise<AccountView[]> {
    return (await listAccounts(this.db)).map(accountJson);
  }

  async info(ref: string | number): Promise<AccountView & AccountInfo> {
    const a = await resolveAccount(this.db, ref);
    const groups = (await groupsOf(this.db, a.number)).map((g) => g.name);
    const pendingHousekeeping = (await housekeepingOf(this.db, a.number)).filter((h) => h.doneMs === null).length;
    const m = await this.db.get<Record<string, number | string | null>>('SELECT * FROM hb_state WHERE account = ?', [a.number]);
    const monitor: AccountMonitorView | null = m
      ? {
          registered: m.registered === null ? null : m.registered === 1,
          lastHeartbeat: iso(m.last_heartbeat_ms as number | null),
          lastSync: iso(m.last_sync_ms as number | null),
          lastSyncDurationS: m.last_sync_duration_ms === null ? null : Number(m.last_sync_duration_ms) / 1000,
          heartbeats: Number(m.heartbeats ?? 0),
          bytesSynced: Number(m.bytes_synced ?? 0),
          bytesRestored: Number(m.bytes_restored ?? 0),
          errors: Number(m.errors ?? 0),
          agentVersion: (m.agent_version as string | null) ?? null,
          host: (m.host_id as string | null) ?? null,
          alertState: (m.alert_state as string | null) ?? null,
        }
      : null;
    return { ...accountJson(a), groups, pendingHousekeeping, monitor };
  }

  async setEnabled(ref: string | number, enabled: boolean): Promise<AccountView> {
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'SetAccountEnabled', account: a.number, enabled })) as unknown as AccountView;
  }

  async setLimits(ref: string | number, softBytes: number | null, hardBytes: number | null): Promise<AccountView> {
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'SetAccountLimits', account: a.number, softBytes, hardBytes, atMs: this.now() })) as unknown as AccountView;
  }

  async configure(ref: string | number, config: AccountConfig): Promise<AccountView> {
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'SetAccountConfig', account: a.number, ...config })) as unknown as AccountView;
  }

  async rename(ref: string | number, name: string): Promise<AccountView> {
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'RenameAccount', account: a.number, name })) as unknown as AccountView;
  }

  async delete(ref: string | number): Promise<Record<string, unknown>> {
    const a = await resolveAccount(this.db, ref);
    return this.submit({ type: 'DeleteAccount', account: a.number, atMs: this.now() });
  }

  async housekeep(ref: string | number, aggressive: boolean, reason = 'requested by an administrator'): Promise<Record<string, unknown>> {
    const a = await resolveAccount(this.db, ref);
    return this.submit({ type: 'Housekeep', account: a.number, atMs: this.now(), aggressive, reason });
  }

  /** Compares the usage counters with the stored objects; with `fix`, recomputes them. */
  async check(ref: string | number, fix: boolean): Promise<UsageCheck & { numberHex: string; fixed: boolean }> {
    const a = await resolveAccount(this.db, ref);
    if (fix) return (await this.submit({ type: 'RecomputeUsage', account: a.number })) as unknown as UsageCheck & { numberHex: string; fixed: boolean };
    return { ...(await checkUsage(this.db, a)), numberHex: formatAccountNumber(a.number), fixed: false };
  }

  /**
   * Forgets the agent key this node pinned for the account (trust on first use), so a re-installed
   * gateway with a new key can register. Node-local: run it on every node (or through each node's API).
   */
  async resetAgentKey(ref: string | number): Promise<{ account: string; reset: boolean }> {
    const a = await resolveAccount(this.db, ref);
    const r = await this.db.run('UPDATE hb_state SET pubkey = NULL, node_id = NULL WHERE account = ? AND pubkey IS NOT NULL', [a.number]);
    return { account: a.name, reset: r.changes > 0 };
  }

  async createGroup(name: string, admin: string, softBytes: number | null = null, hardBytes: number | null = null): Promise<GroupStats> {
    return (await this.submit({ type: 'CreateGroup', name, admin, softBytes, hardBytes, atMs: this.now() })) as unknown as GroupStats;
  }

  async setGroup(name: string, patch: GroupPatch): Promise<GroupStats> {
    const g = await resolveGroup(this.db, normalizeGroupName(name));
    return (await this.submit({ type: 'SetGroup', group: g.name, ...patch, atMs: this.now() })) as unknown as GroupStats;
  }

  async deleteGroup(name: string): Promise<Record<string, unknown>> {
    const g = await resolveGroup(this.db, normalizeGroupName(name));
    return this.submit({ type: 'DeleteGroup', group: g.name });
  }

  async addMember(group: string, ref: string | number): Promise<GroupStats> {
    const g = await resolveGroup(this.db, normalizeGroupName(group));
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'AddMember', group: g.name, account: a.number, atMs: this.now() })) as unknown as GroupStats;
  }

  async removeMember(group: string, ref: string | number): Promise<GroupStats> {
    const g = await resolveGroup(this.db, normalizeGroupName(group));
    const a = await resolveAccount(this.db, ref);
    return (await this.submit({ type: 'RemoveMember', group: g.name, account: a.number })) as unknown as GroupStats;
  }

  async groupInfo(name: string): Promise<GroupStats> {
    return groupStats(this.db, normalizeGroupName(name));
  }

  async listGroups(): Promise<GroupStats[]> {
    return listGroupStats(this.db);
  }

  /** Registers an edge site's validators; the bound accounts default to the validators' ids (a gateway's account is its name). */
  async registerSite(site: string, validators: SiteValidator[], accounts?: string[]): Promise<Site> {
    const bound = accounts && accounts.length > 0 ? accounts : validators.map((v) => v.id);
    return (await this.submit({ type: 'RegisterSite', site, validators, accounts: bound, atMs: this.now() })) as unknown as Site;
  }

  async deleteSite(site: string): Promise<Record<string, unknown>> {
    return this.submit({ type: 'DeleteSite', site });
  }

  async listSites(): Promise<Site[]> {
    return listSites(this.db);
  }
}
