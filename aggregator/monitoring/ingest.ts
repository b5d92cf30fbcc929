/**
 * The monitor's ingestion path, without MQTT or timers: (topic, payload bytes, receive time) →
 * decode the envelope → verify its signature → refuse replays → resolve the account → step the tracker
 * → merge into the batched store → return what the shell must do (publish a reply, raise an alert).
 *
 * Batches: `handleBatch` decodes and checks schemas of all its messages here (cheap), hands every
 * signature to the BatchVerifier at once (a worker pool: Ed25519 is the ceiling of this path), then
 * admits the messages strictly in arrival order, batch after batch: key, verdict, replay/freshness,
 * account, tracker, store. A message is judged against the key its sender has when its turn comes; if an
 * earlier message changed that key (a Register pinned it), it is verified again here, synchronously.
 * So the outcome is the one of handling the messages one by one, and each tracker action (alert) comes
 * out exactly once.
 *
 * A heartbeat from an account this node saw no Register for (it restarted, or missed it) starts tracking
 * the account too: every node then watches every gateway that heartbeats.
 *
 * Keys: an agent's Register carries its Ed25519 public key; the first registration of an account pins
 * it (trust on first use, on top of the broker's mTLS authorization), later ones must match, and every
 * other message must verify under the pinned key of its sender. Deadlines use the heartbeat's signed
 * timestamp (the replay guard keeps it within ±window of our clock), so every node derives the same
 * deadline and the same alert id.
 */
import { verify } from '../../shared/crypto/sign.ts';
import { syncVerifier, type BatchVerifier, type VerifyItem } from '../../shared/crypto/verify-pool.ts';
import type { Database } from '../../shared/db/index.ts';
import {
  ProtocolError, ReplayGuard, bytesEqual, decodeEnvelope, envelopeSigningBytes, parseTopic, topics, type DecodeLimits, type ParsedTopic,
} from '../../shared/protocol/index.ts';
import { formatAccountNumber, parseAccountNumber } from '../accounts/names.ts';
import type { Account } from '../accounts/types.ts';
import { listAccounts, resolveAccount } from '../accounts/queries.ts';
import type { AlertRequest } from './notify.ts';
import { telemetryRegistry, type MonitorConfigBody, type TelemetryMessage } from './messages.ts';
import type { MonitorMetrics } from './metrics.ts';
import { HeartbeatStore, loadPinnedKeys, pinKey } from './store.ts';
import { HeartbeatTracker, type TrackerAction } from './tracker.ts';

export interface IngestOptions {
  cluster: string;
  /** Aggregator endpoints per cluster, handed to agents in MonitorConfig. */
  servers: Record<string, string[]>;
  silenceFactor: number;
  /** Largest telemetry payload accepted, checked before decoding. */
  payloadBytesMax: number;
  replayWindowMs: number;
  replayIdsMax: number;
  /** Site used for alerts of accounts whose site is unknown. */
  defaultSite: string;
  /** Registrations for accounts this node does not have yet, kept to be admitted once it does (oldest dropped past this). */
  parkedRegistrationsMax: number;
  /** How long such a registration is kept, by its own time. */
  parkedRegistrationMs: number;
}

export const defaultIngestOptions: Omit<IngestOptions, 'cluster'> = {
  servers: {},
  silenceFactor: 2,
  payloadBytesMax: 64 * 1024,
  replayWindowMs: 5 * 60_000,
  replayIdsMax: 200_000,
  defaultSite: 'aggregator',
  parkedRegistrationsMax: 1000,
  parkedRegistrationMs: 10 * 60_000,
};

/** Decode bounds for telemetry: a heartbeat with 32 errors of 1024 characters still fits. */
export const TELEMETRY_LIMITS: DecodeLimits = {
  inputBytesMax: 64 * 1024,
  maxStrLength: 4096,
  maxBinLength: 64 * 1024,
  maxArrayLength: 256,
  maxMapLength: 64,
  maxExtLength: 0,
  depthMax: 6,
};

export type IngestAction =
  | { type: 'publish'; topic: string; body: MonitorConfigBody }
  | { type: 'alert'; request: AlertRequest }
  | { type: 'refreshAccounts' }
  /** Registrations wait for their account here (`admitParked`). */
  | { type: 'admitParked' };

export interface IncomingMessage {
  topic: string;
  payload: Uint8Array;
  receivedMs: number;
}

/** A batch's outcome: the actions of all its messages in order, and what failed inside (database errors). */
export interface BatchOutcome {
  actions: IngestAction[];
  errors: unknown[];
}

/** An envelope whose bytes and schemas passed; its signature is not checked yet. */
interface Decoded {
  topic: ParsedTopic;
  message: TelemetryMessage;
  /** The signed bytes and their signature. */
  signed: Uint8Array;
  signature: Uint8Array;
  /** The key a Register claims for its sender (only on the register channel). */
  claimed: Uint8Array | undefined;
}

/** Decode and schema checks (shared/protocol decodeEnvelope); the signature is the BatchVerifier's. */
function decodeTelemetry(bytesIn: Uint8Array): { message: TelemetryMessage; signed: Uint8Array; signature: Uint8Array } {
  const opened = decodeEnvelope(bytesIn, { limits: TELEMETRY_LIMITS, registry: telemetryRegistry });
  return { message: opened.message as unknown as TelemetryMessage, signed: envelopeSigningBytes(opened.payload), signature: opened.signature };
}

interface KnownKey {
  account: number;
  pubkey: Uint8Array;
}

export function monitorConfigOf(account: Account, servers: Record<string, string[]>, cluster: string): MonitorConfigBody {
  const primary = account.primaryCluster ?? cluster;
  const list = [...(servers[primary] ?? []), ...(account.secondaryCluster ? (servers[account.secondaryCluster] ?? []) : [])];
  return {
    account: account.name,
    accountNumber: account.number,
    monitoring: account.monitoring && account.enabled,
    heartbeatIntervalS: account.heartbeatIntervalS,
    servers: [...new Set(list)].slice(0, 64),
    primaryCluster: primary,
    ...(account.secondaryCluster ? { secondaryCluster: account.secondaryCluster } : {}),
  };
}

export class HeartbeatIngest {
  readonly options: IngestOptions;
  readonly tracker: HeartbeatTracker;
  readonly store: HeartbeatStore;
  private readonly replay: ReplayGuard;
  private accountsByRef = new Map<string, Account>();
  private accountsByNumber = new Map<number, Account>();
  private readonly keys = new Map<string, KnownKey>();
  /** account number → the node id whose key is pinned for it. */
  private readonly keyOwner = new Map<number, string>();
  private readonly siteOf = new Map<number, string>();
  /** The account string each agent registered here with (its config topic), by account number. */
  private readonly registeredAs = new Map<number, string>();
  /** New configs for registered agents whose account changed, waiting for `takeConfigPushes`. */
  private configPushes: IngestAction[] = [];
  private pinnedDuringRefresh: Map<string, { account: number; nodeId: string; pubkey: Uint8Array }> | undefined;

  /** Batches wait here for the ones before them: messages are admitted strictly in arrival order. */
  private turn: Promise<unknown> = Promise.resolve();
  /**
   * Registers (authenticated) for accounts unknown here, by sender: the account was created through
   * another node and this one has not executed that request yet. The agent registers once per
   * connection, so a Register dropped here left the agent unknown to this node (its heartbeats
   * refused as from an unknown sender) until it reconnected.
   */
  private readonly parked = new Map<string, { topic: ParsedTopic; message: TelemetryMessage }>();

  constructor(
    private readonly db: Database,
    options: Partial<IngestOptions> & { cluster: string },
    private readonly metrics: MonitorMetrics | undefined,
    /** Checks the signatures of a batch: a VerifyPool, or the calling thread by default. */
    private readonly verifier: BatchVerifier = syncVerifier,
  ) {
    this.options = { ...defaultIngestOptions, ...options };
    this.tracker = new HeartbeatTracker({ silenceFactor: this.options.silenceFactor });
    this.store = new HeartbeatStore(db);
    this.replay = new ReplayGuard({ windowMs: this.options.replayWindowMs, idsMax: this.options.replayIdsMax });
  }

  /** Loads accounts and pinned keys, and re-arms the tracker from the stored state (after a restart). */
  async start(): Promise<void> {
    await this.refreshAccounts();
    const rows = await this.db.all<{ account: number; registered: number | null; last_heartbeat_ms: number | null; registered_ms: number | null; site: string | null }>(
      'SELECT account, registered, last_heartbeat_ms, registered_ms, site FROM hb_state',
    );
    for (const r of rows) {
      const a = this.accountsByNumber.get(r.account);
      if (r.site) this.siteOf.set(r.account, r.site);
      const seen = Math.max(r.last_heartbeat_ms ?? 0, r.registered_ms ?? 0);
      if (!a || r.registered === 0 || seen === 0) continue;
      // The same deadline as before the restart, so a re-raised alert has the same id (and is ignored).
      this.tracker.step({ type: 'register', key: String(a.number), now: seen, intervalS: a.heartbeatIntervalS, monitored: a.monitoring && a.enabled });
    }
  }

  /** Re-reads the pinned agent keys (an administrator may have reset one: `accounts reset-key`). */
  async refreshKeys(): Promise<void> {
    this.pinnedDuringRefresh = new Map();
    const pinned = await loadPinnedKeys(this.db);
    const during = this.pinnedDuringRefresh;
    this.pinnedDuringRefresh = undefined;
    this.keys.clear();
    this.keyOwner.clear();
    // Keys pinned while the database was being read may be missing from what was read: keep them.
    for (const k of [...pinned, ...during.values()]) {
      this.keys.set(k.nodeId, { account: k.account, pubkey: k.pubkey });
      this.keyOwner.set(k.account, k.nodeId);
    }
  }

  /**
   * Re-reads the accounts (telling the tracker about changed intervals, monitoring switches and
   * deletions) and the pinned keys. An agent registered here whose config changed (interval, monitoring,
   * clusters) gets the new one (`takeConfigPushes`): the tracker now expects the new interval, and an
   * agent left on the old one would be judged late, or watched too loosely, until it registered again.
   */
  async refreshAccounts(now?: number): Promise<void> {
    await this.refreshKeys();
    const accounts = await listAccounts(this.db);
    const byRef = new Map<string, Account>();
    const byNumber = new Map<number, Account>();
    for (const a of accounts) {
      byRef.set(a.name, a);
      byRef.set(formatAccountNumber(a.number), a);
      byNumber.set(a.number, a);
      const old = this.accountsByNumber.get(a.number);
      if (old && (old.heartbeatIntervalS !== a.heartbeatIntervalS || old.monitoring !== a.monitoring || old.enabled !== a.enabled)) {
        this.tracker.step({ type: 'configure', key: String(a.number), intervalS: a.heartbeatIntervalS, monitored: a.monitoring && a.enabled, ...(now !== undefined ? { now } : {}) });
      }
      const as = this.registeredAs.get(a.number);
      if (old && as !== undefined) {
        const before = monitorConfigOf(old, this.options.servers, this.options.cluster);
        const now = monitorConfigOf(a, this.options.servers, this.options.cluster);
        if (JSON.stringify(before) !== JSON.stringify(now)) {
          this.configPushes.push({ type: 'publish', topic: topics.dc(this.options.cluster, 'config', as), body: { ...now, account: as } });
        }
      }
    }
    for (const n of this.accountsByNumber.keys()) if (!byNumber.has(n)) this.tracker.step({ type: 'forget', key: String(n) });
    this.accountsByRef = byRef;
    this.accountsByNumber = byNumber;
    this.metrics?.accountsTracked.set(this.tracker.size);
  }

  /** The config updates `refreshAccounts` found for registered agents (each returned once). */
  takeConfigPushes(): IngestAction[] {
    const out = this.configPushes;
    this.configPushes = [];
    return out;
  }

  account(ref: string): Account | undefined {
    const direct = this.accountsByRef.get(ref.toLowerCase());
    if (direct) return direct;
    const n = parseAccountNumber(ref);
    return n === undefined ? undefined : this.accountsByNumber.get(n);
  }

  private reject(reason: string): IngestAction[] {
    this.metrics?.messagesRejected.inc({ reason });
    return reason === 'UNKNOWN_ACCOUNT' ? [{ type: 'refreshAccounts' }] : [];
  }

  private park(topic: ParsedTopic, message: TelemetryMessage): void {
    this.parked.delete(message.from); // the sender's latest Register, last in age order
    this.parked.set(message.from, { topic, message });
    for (const from of this.parked.keys()) {
      if (this.parked.size <= this.options.parkedRegistrationsMax) break;
      this.parked.delete(from);
    }
  }

  /** Registrations waiting for their account on this node. */
  get parkedRegistrations(): number {
    return this.parked.size;
  }

  /**
   * Admits the parked registrations whose account this node now has, in order with the messages (as
   * `handleBatch`); the others wait on. Every tick asks for this while one waits (`admitParked`). One indexed lookup each; the accounts are re-read only when one
   * has appeared. Never rejects.
   */
  admitParked(): Promise<BatchOutcome> {
    const outcome = this.turn.then(async () => {
      const out: BatchOutcome = { actions: [], errors: [] };
      for (const [from, p] of [...this.parked]) {
        const ref = p.message.body.account as string;
        if (this.account(ref) === undefined) {
          if (!(await resolveAccount(this.db, ref).catch(() => undefined))) continue;
          await this.refreshAccounts();
        }
        this.parked.delete(from);
        try {
          out.actions.push(...(await this.accept(p.topic, p.message)));
        } catch (err) {
          out.errors.push(err);
        }
      }
      return out;
    });
    this.turn = outcome;
    return outcome;
  }

  /** Handles one MQTT message. Never throws for bad input: it is counted and dropped. */
  async handle(topic: string, payload: Uint8Array, receivedMs: number): Promise<IngestAction[]> {
    const { actions, errors } = await this.handleBatch([{ topic, payload, receivedMs }]);
    if (errors.length > 0) throw errors[0];
    return actions;
  }

  /**
   * Handles messages in arrival order: decodes them now, verifies their signatures together, then
   * admits them after every earlier batch. Never rejects: bad input is counted and dropped, and a
   * failure inside (the database) is returned in `errors` while the other messages go on.
   */
  handleBatch(messages: readonly IncomingMessage[]): Promise<BatchOutcome> {
    const decoded = messages.map((m) => this.decode(m.topic, m.payload));
    const items: VerifyItem[] = [];
    const asked = decoded.map((d) => {
      if ('rejected' in d) return undefined;
      const publicKey = this.keyFor(d);
      if (!publicKey) return undefined;
      items.push({ publicKey, data: d.signed, signature: d.signature });
      return { publicKey, index: items.length - 1 };
    });
    const verdicts = items.length === 0 ? Promise.resolve([]) : this.verifier.verifyBatch(items).catch(() => undefined);
    const outcome = this.turn.then(async () => {
      const got = await verdicts;
      const out: BatchOutcome = { actions: [], errors: [] };
      for (let i = 0; i < messages.length; i++) {
        try {
          const d = decoded[i]!;
          const a = asked[i];
          const admitted = 'rejected' in d ? d : this.admit(d, a ? { publicKey: a.publicKey, ok: got?.[a.index] } : undefined, messages[i]!.receivedMs);
          out.actions.push(...('rejected' in admitted ? this.reject(admitted.rejected) : await this.accept(admitted.topic, admitted.message)));
        } catch (err) {
          out.errors.push(err);
        }
      }
      return out;
    });
    this.turn = outcome;
    return outcome;
  }

  /**
   * Step 1 for one message on the calling thread (decode, signature, freshness), outside the batch
   * order; pure CPU, no database. `handleBatch` does this in order with the signatures batched.
   */
  open(topic: string, payload: Uint8Array, receivedMs: number): { topic: ParsedTopic; message: TelemetryMessage } | { rejected: string } {
    const d = this.decode(topic, payload);
    return 'rejected' in d ? d : this.admit(d, undefined, receivedMs);
  }

  /** Step 1a: size, topic, envelope bytes and schemas. Cheap; no signature, no state change. */
  private decode(topic: string, payload: Uint8Array): Decoded | { rejected: string } {
    if (payload.length > this.options.payloadBytesMax) return { rejected: 'OVERSIZE' };
    const parsed = parseTopic(topic);
    if (!parsed) return { rejected: 'TOPIC' };
    try {
      const { message, signed, signature } = decodeTelemetry(payload);
      const claimed = parsed.kind === 'dc' && parsed.channel === 'register' && message.type === 'Register' ? message.body.pubkey : undefined;
      return { topic: parsed, message, signed, signature, claimed };
    } catch (e) {
      if (e instanceof ProtocolError) return { rejected: e.code };
      throw e;
    }
  }

  /** The key a message must verify under now: its sender's pinned key, or the one its Register claims. */
  private keyFor(d: Decoded): Uint8Array | undefined {
    return this.keys.get(d.message.from)?.pubkey ?? d.claimed;
  }

  /**
   * Step 1b, in arrival order: the sender's key as it is now, the signature (the verdict computed
   * ahead under the same key, or a verify here), then freshness and replay.
   */
  private admit(d: Decoded, ahead: { publicKey: Uint8Array; ok: boolean | undefined } | undefined, receivedMs: number): { topic: ParsedTopic; message: TelemetryMessage } | { rejected: string } {
    const key = this.keyFor(d);
    if (!key) return { rejected: 'UNKNOWN_SENDER' };
    const ok = ahead?.ok !== undefined && bytesEqual(ahead.publicKey, key) ? ahead.ok : verify(key, d.signed, d.signature);
    if (!ok) return { rejected: 'BAD_SIGNATURE' };
    try {
      this.replay.admit(d.message.from, d.message.id, d.message.ts, receivedMs);
    } catch (e) {
      if (e instanceof ProtocolError) return { rejected: e.code };
      throw e;
    }
    return { topic: d.topic, message: d.message };
  }

  /** Step 2: an authenticated message → account, tracker, batched store, actions. */
  async accept(parsed: ParsedTopic, message: TelemetryMessage): Promise<IngestAction[]> {
    let account = this.account(message.body.account as string);
    if (!account && message.type === 'Register') {
      // The account may be newer than our last read of the accounts (created through another node a
      // moment ago): a Register dropped here would leave the agent unknown to this node until it
      // reconnects. One indexed lookup decides; only a real account costs a full re-read.
      const fresh = await resolveAccount(this.db, message.body.account).catch(() => undefined);
      if (fresh) {
        await this.refreshAccounts();
        account = this.account(message.body.account);
      }
    }
    if (!account) {
      if (message.type === 'Register') this.park(parsed, message);
      return this.reject('UNKNOWN_ACCOUNT');
    }
    const pinned = this.keys.get(message.from);
    if (message.type !== 'Register' && pinned?.account !== account.number) return this.reject('WRONG_ACCOUNT');
    const key = String(account.number);
    const monitored = account.monitoring && account.enabled;
    switch (message.type) {
      case 'Register': {
        if (parsed.kind !== 'dc' || parsed.channel !== 'register') return this.reject('TOPIC');
        if (pinned && (pinned.account !== account.number || !bytesEqual(pinned.pubkey, message.body.pubkey))) return this.reject('KEY_MISMATCH');
        const owner = this.keyOwner.get(account.number);
        if (owner !== undefined && owner !== message.from) return this.reject('KEY_MISMATCH');
        if (!pinned) {
          const k = { account: account.number, nodeId: message.from, pubkey: message.body.pubkey };
          await pinKey(this.db, k);
          this.pinnedDuringRefresh?.set(k.nodeId, k);
          this.keys.set(message.from, k);
          this.keyOwner.set(account.number, message.from);
        }
        const site = message.body.site;
        if (site) this.siteOf.set(account.number, site);
        this.store.recordRegistration(account.number, message.ts, message.body.host, message.body.agentVersion, site);
        const actions = this.fromTracker(this.tracker.step({ type: 'register', key, now: message.ts, intervalS: account.heartbeatIntervalS, monitored }));
        // Answer on the topic, and under the account string, the agent registered with (its name or its hex number).
        const registeredAs = message.body.account;
        this.registeredAs.set(account.number, registeredAs);
        actions.push({
          type: 'publish',
          topic: topics.dc(this.options.cluster, 'config', registeredAs),
          body: { ...monitorConfigOf(account, this.options.servers, this.options.cluster), account: registeredAs },
        });
        return actions;
      }
      case 'Deregister':
        if (parsed.kind !== 'dc' || parsed.channel !== 'deregister') return this.reject('TOPIC');
        this.store.recordDeregistration(account.number, message.ts);
        return this.fromTracker(this.tracker.step({ type: 'deregister', key, now: message.ts }));
      case 'Heartbeat': {
        if (parsed.kind !== 'heartbeat' || this.account(parsed.account)?.number !== account.number) return this.reject('TOPIC');
        this.siteOf.set(account.number, parsed.site);
        this.metrics?.heartbeatsReceived.inc();
        this.store.recordHeartbeat(account.number, message.ts, message.body, parsed.site);
        const actions = this.fromTracker(this.tracker.step({ type: 'heartbeat', key, now: message.ts, intervalS: account.heartbeatIntervalS, monitored }));
        const significant = message.body.errors.filter((e) => e.significant);
        if (significant.length > 0) {
          actions.push({
            type: 'alert',
            request: {
              event: 'error',
              account: account.number,
              accountName: account.name,
              atMs: message.ts,
              site: parsed.site,
              detail: significant.map((e) => e.message).join('; ').slice(0, 1000),
            },
          });
        }
        return actions;
      }
      case 'TelemetryEvent': {
        if (parsed.kind !== 'event' || this.account(parsed.account)?.number !== account.number) return this.reject('TOPIC');
        const { event, detail, significant } = message.body;
        if (event === 'backup-error' || event === 'read-error' || event === 'store-full') {
          this.store.recordError(account.number, message.ts, `${event}${detail ? `: ${detail}` : ''}`, significant);
        }
        if (!significant) return [];
        return [
          {
            type: 'alert',
            request: { event: 'error', account: account.number, accountName: account.name, atMs: message.ts, site: parsed.site, detail: `${event}${detail ? `: ${detail}` : ''}` },
          },
        ];
      }
      case 'MonitorConfig':
      case 'Alert':
        return this.reject('UNEXPECTED_TYPE');
      default: {
        const never: never = message;
        return never;
      }
    }
  }

  /** The monitor (re)started hearing heartbeats at `now`: no silence before a full window from now (tracker.ts). */
  listening(now: number): void {
    this.tracker.step({ type: 'listening', now });
  }

  /** Advances the tracker to `now`: silent accounts become alerts. */
  tick(now: number): IngestAction[] {
    const actions = this.fromTracker(this.tracker.step({ type: 'tick', now }));
    for (const [from, p] of [...this.parked]) if (now - p.message.ts > this.options.parkedRegistrationMs) this.parked.delete(from);
    if (this.parked.size > 0) actions.push({ type: 'admitParked' });
    return actions;
  }

  private fromTracker(actions: TrackerAction[]): IngestAction[] {
    const out: IngestAction[] = [];
    for (const a of actions) {
      const account = this.accountsByNumber.get(Number(a.key));
      if (!account) continue;
      const site = this.siteOf.get(account.number) ?? this.options.defaultSite;
      if (a.type === 'alert') {
        this.store.setAlertState(account.number, 'silent');
        out.push({
          type: 'alert',
          request: {
            event: 'silent',
            account: account.number,
            accountName: account.name,
            atMs: a.deadlineMs,
            site,
            detail: `no heartbeat since ${new Date(a.lastSeenMs).toISOString()} (interval ${a.intervalS} s, alert after ${this.options.silenceFactor} × interval)`,
          },
        });
      } else {
        this.store.setAlertState(account.number, 'ok');
        out.push({
          type: 'alert',
          request: {
            event: 'recovered',
            account: account.number,
            accountName: account.name,
            atMs: a.atMs,
            site,
            detail: `heartbeats again since ${new Date(a.atMs).toISOString()} (silent since ${new Date(a.silentSinceMs).toISOString()})`,
          },
        });
      }
    }
    return out;
  }
}
