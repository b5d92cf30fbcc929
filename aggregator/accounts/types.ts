/**
 * The account database as a deterministic state machine: the commands (plain, serializable objects
 * carrying every value they need, including the time), their results, and the records they act on.
 *
 * Every replica applies the same command log in the same order and ends with an identical database
 * (Box Backup 8.3; DESIGN §7). So a command never reads the clock or a random source, an automatically
 * assigned number comes from the database state itself, and a refused command is a deterministic
 * result (an error value) that changes nothing.
 */

export type Account = {
  number: number;
  name: string;
  enabled: boolean;
  /** Soft and hard limits in bytes; null is "no limit". */
  softBytes: number | null;
  hardBytes: number | null;
  monitoring: boolean;
  heartbeatIntervalS: number;
  primaryCluster: string | null;
  secondaryCluster: string | null;
  /** Regions the account's data may be stored in (data residency); empty is "anywhere". */
  regions: string[];
  createdMs: number;
  usedBytes: number;
  objectCount: number;
  /** Client store marker: increases with every change to the account's store (Box Backup 8.1). */
  storeMarker: number;
};

export interface Group {
  name: string;
  admin: string;
  softBytes: number | null;
  hardBytes: number | null;
  createdMs: number;
}

/** One validator of an edge site's ledger: its node id and raw Ed25519 public key (hex). */
export interface SiteValidator {
  id: string;
  publicKey: string;
}

/**
 * An edge site as the cloud knows it: the keys a quorum of which must certify the blocks its gateways
 * migrate, and the accounts bound to it (their uploads must be proven by such blocks).
 */
export interface Site {
  name: string;
  validators: SiteValidator[];
  accounts: string[];
  registeredMs: number;
}

export type ObjectState = 'current' | 'old' | 'deleted';

export interface StoredObject {
  account: number;
  objectId: string;
  seq: number;
  bytes: number;
  state: ObjectState;
  storedMs: number;
}

export interface AccountConfig {
  monitoring?: boolean;
  heartbeatIntervalS?: number;
  primaryCluster?: string | null;
  secondaryCluster?: string | null;
  regions?: string[];
}

/** Account commands. `account` is always the resolved number. */
export type AccountCommand =
  | ({
      type: 'CreateAccount';
      atMs: number;
      name: string;
      /** null: the next number, derived from the database state (the high-water mark + 1). */
      number: number | null;
      softBytes: number | null;
      hardBytes: number | null;
    } & AccountConfig)
  | { type: 'SetAccountEnabled'; account: number; enabled: boolean }
  | { type: 'SetAccountLimits'; account: number; softBytes: number | null; hardBytes: number | null; atMs: number }
  | ({ type: 'SetAccountConfig'; account: number } & AccountConfig)
  | { type: 'RenameAccount'; account: number; name: string }
  | { type: 'DeleteAccount'; account: number; atMs: number }
  | { type: 'Housekeep'; account: number; atMs: number; aggressive: boolean; reason: string }
  | { type: 'RecomputeUsage'; account: number }
  | { type: 'RecordObject'; account: number; objectId: string; bytes: number; atMs: number; layout?: string }
  /** Many objects of one account in one command; one already recorded is skipped (reported), not refused. */
  | { type: 'RecordObjects'; account: number; atMs: number; objects: Array<{ objectId: string; bytes: number; layout?: string }> }
  | { type: 'MarkObject'; account: number; objectId: string; state: 'old' | 'deleted'; atMs: number }
  | { type: 'CreateGroup'; name: string; admin: string; softBytes: number | null; hardBytes: number | null; atMs: number }
  | { type: 'SetGroup'; group: string; admin?: string; softBytes?: number | null; hardBytes?: number | null; atMs: number }
  | { type: 'DeleteGroup'; group: string }
  | { type: 'AddMember'; group: string; account: number; atMs: number }
  | { type: 'RemoveMember'; group: string; account: number }
  /** Registers (or replaces) an edge site's validator keys and binds accounts to it. */
  | { type: 'RegisterSite'; site: string; validators: SiteValidator[]; accounts: string[]; atMs: number }
  | { type: 'DeleteSite'; site: string };

export type AccountCommandType = AccountCommand['type'];

/** A limit crossed by a change: soft limits alert and trigger aggressive housekeeping, hard limits refuse. */
export interface QuotaEvent {
  scope: 'account' | 'group';
  /** The account name or the group name. */
  name: string;
  /** The account number (scope account) or undefined. */
  account?: number;
  limit: 'soft' | 'hard';
  limitBytes: number;
  usedBytes: number;
}

export interface ApplyError {
  code: string;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

export interface ApplyOk {
  ok: true;
  /** What the command produced (the created account, the removed objects, …). */
  value: Record<string, unknown>;
  /** Limits crossed upwards by this command (the shell raises alerts for them). */
  quotaEvents: QuotaEvent[];
}

export type ApplyResult = ApplyOk | { ok: false; error: ApplyError };
