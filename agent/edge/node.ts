/**
 * EdgeNode: one gateway's membership in its site's edge cluster (DESIGN §4, §5). It binds the pure cores
 * to one MQTT session and the gateway's shard store:
 *
 *   MembershipClient (birth/will, bdSeq) ── its MQTT session ── MqttTransport (signed envelopes, own inbox)
 *                                                                  └─ EdgeMux: replica | client | service
 *   ReplicaNode (PBFT, n = members) + LedgerMachine ──▶ LedgerService (quorum-signed blocks, LedgerStore)
 *   ClientNode ── submits CommitRequests (and ledger cuts) for ordering
 *   Coordinator (the transactions this gateway's backups start) + Participant (shards others place here)
 *   ShardGet / EdgeStatusGet answered from the store and the ledger
 *
 * Keys. Members are configured by name. A member's Ed25519 key is learned from its retained birth the
 * first time and pinned in DIR/members.json (trust on first use, as ssh does; on the embedded broker
 * the topic ACL already lets only the node itself publish its birth). A birth with another key later is
 * refused and logged, never adopted. The node starts its replica once every member's key is pinned:
 * the validator set of the ledger is fixed from then on.
 *
 * A commit needs a quorum of members online; below it `commit` refuses at once with EDGE_NO_QUORUM
 * instead of waiting out the transaction's deadline (the minority side of a partition).
 *
 * Storage members. The members listed at `agent init` are the validators, fixed for the life of the
 * cluster. A gateway added later is a storage member (shared/ledger/members.ts): a validator commits its
 * admission (`admit`, behind `cluster admit NAME --key HEX`) and from that block on every member takes
 * its frames, places shards on it and accepts its signatures. A storage member runs no replica: it
 * pins the validators' keys as they do, follows the ledger by sync (`LedgerService` as a follower, asking
 * a validator every second and at once after each of its own commits), stages and signs shards, and
 * submits its own backups' records through its client. It starts serving once its own admission is in
 * the chain it synced. Quorums count validators only; placement, repair and rebalance count every member.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import type { Duplex } from 'node:stream';
import {
  Coordinator,
  Participant,
  routeCommitMessage,
  txKeyOf,
  type CommitOptions,
  type CoordinatorAction,
  type CoordinatorEvent,
  type ParticipantAction,
  type ParticipantEvent,
  type TxSpec,
} from '../../shared/commit/index.ts';
import { sign, verify, type SigningKeyPair } from '../../shared/crypto/sign.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import {
  LedgerStore,
  SignerRegistry,
  admissionRecord,
  admissionSigningBytes,
  isAdmissionRecord,
  ledgerPaths,
  quorumSize,
  writeFileAtomic,
  type Block,
} from '../../shared/ledger/index.ts';
import {
  LedgerMachine,
  LedgerService,
  blockCommittedOf,
  decodeLedgerResult,
  encodeLedgerOp,
} from '../../shared/ledger-service/index.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { FileBdSeqStore, MembershipClient, validatorSetDigest, type MemberRecord } from '../../shared/membership/index.ts';
import type { BlockRecord, CommitResponse } from '../../shared/protocol/messages.ts';
import { topics } from '../../shared/protocol/topics.ts';
import { ClientNode, ReplicaNode, linkKeyResolver, type ReplicaNodeOptions } from '../../shared/replica-node/index.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import { MqttTransport, envelopeSealer } from '../../shared/transport/index.ts';
import { decodeEdgeMessage, encodeEdgeMessage, SHARD_DATA_BYTES_MAX, type EdgeMessage, type EdgeStatus } from './messages.ts';
import { EdgeMux, clientLinkName } from './mux.ts';

export interface EdgeNodeConfig {
  self: string;
  site: string;
  /** The validators' node ids: every member listed at `agent init`, this one included unless `join`. */
  members: readonly string[];
  /** This node is a storage member (not in `members`): it waits for its admission, then follows the ledger. */
  join?: boolean;
  broker: string;
  /** Further mqtt.js options (TLS material …). */
  mqtt?: IClientOptions;
  /**
   * The site broker runs in this process (`--broker-listen`): the node joins it through this in-memory
   * stream (SiteBroker.connectLocal), not a connection to itself over TCP and TLS.
   */
  localBroker?: () => Duplex;
  signer: SigningKeyPair;
  /** The node's cluster directory (pinned keys, bdSeq, PBFT log, ledger). */
  dir: string;
  /** The gateway's shard store; the node stages and commits shards placed here. */
  store: ShardStore;
  logger?: Logger;
  /** Period of the commit cores' and the ledger's tick (the commit defaults assume 10 a second). */
  tickMs?: number;
  /** How long `commit` waits for a quorum of members to be online before it refuses. */
  quorumWaitMs?: number;
  /** How long a shard read from a peer may take. */
  peerReadTimeoutMs?: number;
  commit?: Partial<CommitOptions>;
  replica?: Partial<ReplicaNodeOptions>;
  /** Called while waiting for members' births (their names), about every `waitLogMs`. */
  onWaiting?: (missing: string[]) => void;
  signal?: AbortSignal;
}

export interface EdgeMemberStatus {
  id: string;
  /** `mismatched`: online, but set up with another member list (its birth's validator-set digest), so not of this cluster. */
  status: 'online' | 'offline' | 'dead' | 'unknown' | 'mismatched';
  self: boolean;
  /** A validator orders and certifies the ledger; a storage member (admitted at block `admittedAt`) keeps shards. */
  role: 'validator' | 'storage';
  admittedAt?: number;
  /** Durable ledger blocks on that member (from its answer); undefined when it did not answer. */
  blocks?: number;
  view?: number;
  stagedTxs?: number;
  wireBytes?: number;
  shardBytes?: number;
}

export interface EdgeCommitted {
  height: number;
  record: BlockRecord;
}

/**
 * The hybrid commit's bounds at the edge (shared/commit/options.ts has the table). Gateways sit on one
 * site broker, so a transaction that has not committed within a minute never will: a shorter lifetime
 * than the cloud's lets an abandoned transaction (a target died mid-prepare and no member was left to
 * take its shard) be settled, and its staging rolled back, in about a minute instead of ten.
 */
export const EDGE_COMMIT_OPTIONS: Partial<CommitOptions> = Object.freeze({
  txLifetimeMs: 60_000,
  clockSkewMsMax: 10_000,
  prepareTimeoutTicks: 40,
  prepareAttemptsMax: 2,
  ledgerQueryIntervalTicks: 20,
  stagedTimeoutTicks: 700,
  // The requester is always this gateway's own backup, which hashed its shards just before (backend.ts);
  // the targets, this one included, hash what they stage.
  checkShardHashes: false,
});

type Pending<T> = { resolve: (value: T) => void; reject: (error: Error) => void; timer?: NodeJS.Timeout };

const PIN_FILE = 'members.json';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** How often a storage member asks a validator for new blocks. */
const FOLLOW_SYNC_MS = 1000;

export class EdgeNode {
  readonly self: string;
  /** The validators, sorted (fixed for the life of the cluster). */
  readonly validators: readonly string[];
  /** validatorSetDigest of this node's site and validators, as its births carry it. */
  private readonly validatorDigest: Uint8Array;
  /** The session (bdSeq) of each member whose mismatch was logged. */
  private readonly mismatchLogged = new Map<string, number>();
  private readonly logger: Logger;
  private readonly coordinator: Coordinator;
  private readonly participant: Participant;
  private readonly commits = new Map<string, Pending<CommitResponse>>();
  private readonly reads = new Map<number, Pending<Uint8Array>>();
  private readonly statusAsks = new Map<number, Pending<EdgeStatus>>();
  private reqId = 0;
  /** Shard bytes sent to peers in PrepareRequests (what the wire must carry; the rest is protocol). */
  private shardBytesSent = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly work = new Set<Promise<unknown>>();
  /** When each member was last seen online (ms), for repair around gone members. */
  private readonly lastOnline = new Map<string, number>();
  private readonly blockListeners = new Set<(block: Block) => void>();
  private readonly startedMs = Date.now();
  private lastFollowSyncMs = 0;

  private constructor(
    private readonly config: EdgeNodeConfig,
    private readonly membership: MembershipClient,
    private readonly mux: EdgeMux,
    private readonly transport: MqttTransport,
    private readonly replica: ReplicaNode | undefined,
    private readonly client: ClientNode,
    private readonly ledger: LedgerService,
    private readonly ledgerStore: LedgerStore,
    /** Envelope keys by node id: the pinned validators', then each admitted member's. */
    private readonly keys: Map<string, Uint8Array>,
    /** Client link keys the replica checks requests with, grown the same way. */
    private readonly clientKeys: Map<string, Uint8Array>,
  ) {
    this.self = config.self;
    this.validators = config.members;
    this.validatorDigest = validatorSetDigest(config.site, config.members);
    this.logger = config.logger ?? silentLogger;
    const options = { ...EDGE_COMMIT_OPTIONS, ...config.commit };
    this.coordinator = new Coordinator({
      self: config.self,
      verify: (signer, digest, signature) => {
        const key = ledgerStore.registry.keyOf(signer) ?? ledgerStore.admitted.keyOf(signer);
        return key !== undefined && verify(key, digest, signature);
      },
      options,
    });
    this.participant = new Participant({ self: config.self, sign: (d) => sign(config.signer.privateKey, d), options });
  }

  /**
   * Joins the site: connects (births, will), waits until every member's key is pinned, opens the
   * ledger and the PBFT replica, and restores the staged transactions of the store into the participant.
   */
  static async start(config: EdgeNodeConfig): Promise<EdgeNode> {
    const logger = config.logger ?? silentLogger;
    const members = [...new Set(config.members)].sort();
    const joining = config.join === true;
    if (!joining && !members.includes(config.self)) {
      throw new BaksaError('CONFIG_INVALID', `cluster.members does not list this node (${config.self})`, { hint: 'add the node\'s own name to the member list' });
    }
    if (joining && members.includes(config.self)) {
      throw new BaksaError('CONFIG_INVALID', `cluster.members lists this node (${config.self}), which joins as a storage member`, {
        hint: 'list only the cluster\'s first members (its validators) for a gateway that joins later',
      });
    }
    await mkdir(config.dir, { recursive: true });
    const membership = await joinSiteBroker(config, logger);
    let pins: Map<string, Uint8Array>;
    try {
      pins = await pinMemberKeys(config, members, membership, logger);
    } catch (error) {
      await membership.close();
      throw error;
    }
    const client = membership.client!;
    const keys = members.map((m) => pins.get(m)!);
    const registry = new SignerRegistry(members.map((id, i) => ({ id, publicKey: keys[i]! })));
    const ledgerDir = join(config.dir, 'ledger');
    const ledgerStore = (await stat(ledgerPaths(ledgerDir).blocksFile).catch(() => undefined))
      ? await LedgerStore.open(ledgerDir)
      : await LedgerStore.create(ledgerDir, registry);
    for (const id of members) {
      const known = ledgerStore.registry.keyOf(id);
      if (!known || hex(known) !== hex(pins.get(id)!)) {
        await ledgerStore.close();
        await membership.close();
        throw new BaksaError('EDGE_VALIDATORS_CHANGED', `the ledger in ${ledgerDir} was created for other members or keys than ${members.join(', ')}`, {
          hint: 'the member list or a member key changed; changing the members of an existing cluster is not supported yet',
          exitCode: ExitCode.data,
        });
      }
    }
    // Keys by node id: envelopes and client requests of the validators now, of each storage member once admitted.
    const memberKeys = new Map(pins);
    if (joining) memberKeys.set(config.self, config.signer.publicKey);
    const clientKeys = new Map(members.map((m) => [clientLinkName(m), pins.get(m)!]));
    const transport = new MqttTransport({
      self: config.self,
      peers: joining ? [...members, config.self] : members,
      client,
      inTopic: (id) => topics.nodeIn(config.site, id),
      sealer: envelopeSealer({ self: config.self, privateKey: config.signer.privateKey, keyOf: (id) => memberKeys.get(id) }),
      frameBytesMax: 4 * 1024 * 1024,
      logger,
    });
    const mux = new EdgeMux(transport, members);
    let node: EdgeNode | undefined;
    const machine = new LedgerMachine({ registry, options: pickLedgerOptions({ ...EDGE_COMMIT_OPTIONS, ...config.commit }) });
    const ledger = await LedgerService.open({
      self: config.self,
      follower: joining,
      privateKey: config.signer.privateKey,
      store: ledgerStore,
      machine,
      // Block signatures go to the validators only; storage members pull blocks (syncNow).
      send: (to, message) => {
        if (to !== undefined) node?.sendService(to, message);
        else for (const v of members) if (v !== config.self) node?.sendService(v, message);
      },
      onBlock: (block) => node?.onBlock(block),
      onFatal: (error) => logger.error({ err: error.message }, 'the ledger refused a block this node certified'),
      logger,
    });
    const replica = joining
      ? undefined
      : await ReplicaNode.start({
          n: members.length,
          id: members.indexOf(config.self),
          replicaNames: members,
          transport: mux.replica,
          app: machine,
          keys: { self: config.signer, replicas: keys, clients: linkKeyResolver(clientKeys) },
          dataDir: join(config.dir, 'pbft'),
          options: { tickMs: 20, ...config.replica },
          observe: (action) => {
            if (action.type !== 'view-change') ledger.observe(action);
          },
          logger,
        });
    const clientNode = new ClientNode({
      id: clientLinkName(config.self),
      n: members.length,
      replicaNames: members,
      transport: mux.client,
      keys: { self: config.signer, replicas: keys },
      // A retransmitted request makes the backups suspect the primary: under a backup's load, ordering
      // can take a few seconds, so the client waits 5 s before it broadcasts.
      options: { logicalClients: 16, tickMs: 20, requestTimeoutTicks: 250 },
    });
    clientNode.start();
    node = new EdgeNode({ ...config, members }, membership, mux, transport, replica, clientNode, ledger, ledgerStore, memberKeys, clientKeys);
    for (const m of ledgerStore.admitted.members()) node.addMember(m.node, m.publicKey);
    mux.service.onFrame((from, frame) => node!.receive(from, frame));
    await transport.start();
    if (joining) {
      try {
        await node.awaitAdmission();
      } catch (error) {
        await node.close({ orderly: true });
        throw error;
      }
    }
    const staged = await config.store.stagedTransactions();
    node.stepP({ kind: 'restore', staged: staged.filter((t) => /^[0-9a-f]+$/.test(t.txId)).map((t) => ({ txId: t.txId, shardIds: t.shardIds, modifiedMs: t.modifiedMs })) });
    node.timer = setInterval(() => node!.tick(), config.tickMs ?? 100);
    logger.info({ node: config.self, validators: members, storage: ledgerStore.admitted.members().map((m) => m.node), blocks: (ledger.tip()?.height ?? -1) + 1 }, 'joined the edge cluster');
    return node;
  }

  /** Every member that keeps shards, sorted: the validators and the admitted storage members. */
  get members(): readonly string[] {
    return [...this.validators, ...this.ledgerStore.admitted.members().map((m) => m.node)].sort();
  }

  /** Whether this node is a storage member (admitted, not a validator). */
  get isStorageMember(): boolean {
    return !this.validators.includes(this.self);
  }

  /**
   * Admits `node` as a storage member with its Ed25519 `publicKey`: a ledger record signed with this
   * validator's key (shared/ledger/members.ts). Resolves with the block height once the record is durable
   * in this node's ledger.
   */
  async admit(node: string, publicKey: Uint8Array): Promise<{ height: number }> {
    this.throwIfClosed();
    if (this.isStorageMember) {
      throw new BaksaError('EDGE_NOT_VALIDATOR', `${this.self} is a storage member: only a validator (${this.validators.join(', ')}) admits members`, { exitCode: ExitCode.usage });
    }
    const known = this.validators.includes(node) ? this.ledgerStore.registry.keyOf(node) : this.ledgerStore.admitted.keyOf(node);
    if (known) {
      if (hex(known) === hex(publicKey)) return { height: this.ledgerStore.admitted.get(node)?.height ?? 0 };
      throw new BaksaError('EDGE_MEMBER_EXISTS', `${node} is a member already, with another key (${hex(known).slice(0, 16)}…)`, {
        hint: 'a member keeps its key; a gateway set up again needs a new name',
        exitCode: ExitCode.usage,
      });
    }
    const txId = new Uint8Array(randomBytes(16));
    const record = admissionRecord({ node, publicKey }, txId, Date.now());
    record.signatures = [{ signer: this.self, signature: sign(this.config.signer.privateKey, admissionSigningBytes(record)) }];
    const result = decodeLedgerResult(await this.client.submit(encodeLedgerOp({ op: 'commit', request: { txId, record } })));
    if (!result.ok) {
      throw new BaksaError('EDGE_ADMIT_REFUSED', `the ledger refused to admit ${node}: ${result.message} [${result.reason}]`, { exitCode: ExitCode.usage });
    }
    for (const until = Date.now() + 30_000; !this.ledgerStore.admitted.has(node); ) {
      if (Date.now() > until) throw new BaksaError('EDGE_COMMIT_FAILED', `the admission of ${node} was ordered into block ${result.height} but is not certified yet`, { exitCode: ExitCode.failure });
      await new Promise((r) => setTimeout(r, 50));
      this.throwIfClosed();
    }
    return { height: result.height };
  }

  /** A storage member waits here until its own admission (with its key) is in the chain it synced. */
  private async awaitAdmission(): Promise<void> {
    let lastLog = 0;
    for (;;) {
      const mine = this.ledgerStore.admitted.get(this.self);
      if (mine) {
        if (hex(mine.publicKey) !== hex(this.config.signer.publicKey)) {
          throw new BaksaError('EDGE_KEY_CHANGED', `the cluster admitted ${this.self} with another key than this gateway's`, {
            hint: 'the node key in the state directory changed, or the key given to `cluster admit` was another gateway\'s',
            exitCode: ExitCode.data,
          });
        }
        return;
      }
      if (this.config.signal?.aborted || this.closed) throw new BaksaError('EDGE_CLOSED', 'stopped while waiting to be admitted', { exitCode: ExitCode.failure });
      if (Date.now() - lastLog > 10_000) {
        lastLog = Date.now();
        const command = `2baksa cluster admit ${this.self} --key ${hex(this.config.signer.publicKey)} --state DIR`;
        this.logger.info({ command }, 'waiting to be admitted: run this on a member of the cluster');
        this.config.onWaiting?.([`admission of ${this.self} (${command})`]);
      }
      this.ledger.syncNow();
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** From the block that admits it: `node`'s frames, requests and signatures count. */
  private addMember(node: string, publicKey: Uint8Array): void {
    if (this.validators.includes(node)) return;
    this.keys.set(node, publicKey);
    this.clientKeys.set(clientLinkName(node), publicKey);
    this.transport.addPeer(node);
    this.mux.addMember(node);
    if (node !== this.self) this.logger.info({ member: node, key: hex(publicKey).slice(0, 16) }, 'a storage member was admitted');
  }

  // ---- what the gateway asks --------------------------------------------------------------------

  /** Members online now (this node included), by the membership view: every member that keeps shards. */
  liveMembers(): string[] {
    if (!this.connected()) return [this.self]; // cut off from the broker: this node's view of the others is stale
    const records = new Map(this.membership.members().map((r) => [r.nodeId, r]));
    return this.members.filter((m) => m === this.self || (records.get(m)?.status === 'online' && !this.mismatched(records.get(m)!)));
  }

  /** Online members whose birth says they were set up with another member list than this node. */
  mismatchedMembers(): string[] {
    const records = new Map(this.membership.members().map((r) => [r.nodeId, r]));
    return this.members.filter((m) => m !== this.self && records.get(m)?.status === 'online' && this.mismatched(records.get(m)!));
  }

  /**
   * Whether `r`'s birth carries another validator-set digest than ours: a gateway set up with other
   * `--members` is not of this cluster, whatever its name, and counts as not online (said once per session).
   */
  private mismatched(r: MemberRecord): boolean {
    if (!r.validators || Buffer.compare(r.validators, this.validatorDigest) === 0) return false;
    const said = this.mismatchLogged.get(r.nodeId);
    if (said !== r.bdSeq) {
      this.mismatchLogged.set(r.nodeId, r.bdSeq);
      this.logger.error(
        { member: r.nodeId, validators: this.validators },
        'a member was set up with another member list than this gateway: it does not count as online (every member must be set up with the same --members)',
      );
    }
    return true;
  }

  /** Validators online now (the ones a quorum counts). */
  liveValidators(): string[] {
    const live = new Set(this.liveMembers());
    return this.validators.filter((v) => live.has(v));
  }

  /** Whether this node's MQTT session to the site broker is up. */
  connected(): boolean {
    return this.membership.client?.connected === true;
  }

  /** Members other than this one that have not been online for `afterMs` (since this node started, at most). */
  goneMembers(afterMs: number, nowMs = Date.now()): string[] {
    return this.members.filter((m) => m !== this.self && nowMs - (this.lastOnline.get(m) ?? this.startedMs) >= afterMs);
  }

  quorum(): number {
    return quorumSize(this.validators.length);
  }

  /**
   * Commits the shards of `spec` through the hybrid commit: placed on distinct live members, staged
   * there, ordered into a quorum-signed block. Resolves with the block's record (the placement).
   */
  async commit(spec: Omit<TxSpec, 'txId' | 'ts'>): Promise<EdgeCommitted> {
    this.throwIfClosed();
    let voters = this.liveValidators();
    for (const until = Date.now() + (this.config.quorumWaitMs ?? 5000); voters.length < this.quorum() && Date.now() < until; voters = this.liveValidators()) {
      await new Promise((r) => setTimeout(r, 100)); // births arrive just after a (re)connect
    }
    this.throwIfClosed();
    const live = this.liveMembers();
    if (voters.length < this.quorum()) {
      const n = this.validators.length;
      const mismatched = this.mismatchedMembers();
      const reachable = `only ${voters.length} of the ${n} validators of the cluster are reachable (${voters.join(', ') || 'none'})`;
      const why = !this.connected()
        ? `this gateway is cut off from the site broker (${this.config.broker}), so it reaches none of the other gateways`
        : mismatched.length === 0
          ? reachable
          : `${reachable}: ${mismatched.join(', ')} ${mismatched.length === 1 ? 'was' : 'were'} set up with another member list than this gateway's (${this.validators.join(', ')})`;
      throw new BaksaError('EDGE_NO_QUORUM', `${why}; a commit needs ${this.quorum()} of ${n}`, {
        hint: mismatched.length > 0
          ? 'nothing was committed; every member must be set up with the same --members (2baksa agent init): fix the member list of the gateways that differ'
          : 'nothing was committed; the backup runs again on schedule: check the link to the site broker and the other gateways',
        exitCode: ExitCode.failure,
        details: { live, members: this.members, validators: this.validators },
      });
    }
    const txId = new Uint8Array(randomBytes(16));
    const key = txKeyOf(txId);
    const response = new Promise<CommitResponse>((resolve, reject) => this.commits.set(key, { resolve, reject }));
    this.stepC({ kind: 'begin', requester: this.self, spec: { ...spec, txId, ts: Date.now() }, members: live.map((id) => ({ id })), nowMs: Date.now() });
    const r = await response;
    if (!r.ok) {
      throw new BaksaError('EDGE_COMMIT_FAILED', `the edge cluster did not commit the transaction: ${r.reason ?? 'no reason given'}`, {
        hint: 'the backup keeps what was committed before; run it again',
        exitCode: ExitCode.failure,
        details: { tx: key },
      });
    }
    const answer = await this.ledger.answer(txId);
    if (!answer.committed) throw new Error(`invariant violated: tx ${key} answered committed but is not in the ledger`);
    return { height: answer.committed.height, record: answer.committed.record };
  }

  /** One committed shard from `node` (this one or a peer), hash-checked by whoever stores it. */
  async readShard(node: string, shardId: string): Promise<Uint8Array> {
    this.throwIfClosed();
    if (node === this.self) return this.localShard(shardId);
    if (!this.members.includes(node)) {
      throw new BaksaError('SHARD_UNREACHABLE', `shard ${shardId.slice(0, 12)} is on ${node}, which is not a member of this cluster`, { details: { node, shardId } });
    }
    const status = this.membership.get(node)?.status;
    if (status !== 'online') {
      // A member known to be down fails at once: the reader takes a parity shard instead of waiting.
      throw new BaksaError('SHARD_UNREACHABLE', `shard ${shardId.slice(0, 12)} is on ${node}, which is ${status ?? 'not seen yet'}`, { details: { node, shardId } });
    }
    const reqId = ++this.reqId;
    return this.ask(this.reads, reqId, node, { type: 'ShardGet', body: { reqId, shardId } }, `shard ${shardId.slice(0, 12)} from ${node}`);
  }

  /**
   * Every member's status: membership from this node's view, ledger heights from their answers. Cut off
   * from the site broker, this node cannot know the others' state (no will reaches it): they are `unknown`.
   */
  async clusterStatus(timeoutMs = 2000): Promise<EdgeMemberStatus[]> {
    const records = new Map<string, MemberRecord>(this.membership.members().map((r) => [r.nodeId, r]));
    const connected = this.connected();
    return Promise.all(
      this.members.map(async (id): Promise<EdgeMemberStatus> => {
        const self = id === this.self;
        const record = records.get(id);
        const status = self
          ? 'online'
          : !connected
            ? 'unknown'
            : record?.status === 'online' && this.mismatched(record) ? 'mismatched' : (record?.status ?? 'unknown');
        const admitted = this.ledgerStore.admitted.get(id);
        const base: EdgeMemberStatus = { id, status, self, role: admitted ? 'storage' : 'validator', ...(admitted ? { admittedAt: admitted.height } : {}) };
        // Only an online member is asked: one known to be down would cost the whole timeout (2 s) for nothing.
        if (status !== 'online') return base;
        try {
          const s = self ? this.localStatus(0) : await this.askStatus(id, timeoutMs);
          return { ...base, blocks: s.blocks, view: s.view, stagedTxs: s.stagedTxs, wireBytes: s.wireBytes, shardBytes: s.shardBytes };
        } catch {
          return base;
        }
      }),
    );
  }

  /** Durable blocks in this node's ledger. */
  blocks(): number {
    return (this.ledger.tip()?.height ?? -1) + 1;
  }

  /** Calls `listener` with each block this node's ledger certifies from now on; returns the unsubscribe. */
  watchBlocks(listener: (block: Block) => void): () => void {
    this.blockListeners.add(listener);
    return () => this.blockListeners.delete(listener);
  }

  /** A member's Ed25519 key (a validator's pinned one, or a storage member's from its admission); undefined for a non-member. */
  memberKey(id: string): Uint8Array | undefined {
    return this.validators.includes(id) ? this.ledgerStore.registry.keyOf(id) : this.ledgerStore.admitted.keyOf(id);
  }

  /** Every block of this node's chain, in height order. */
  chain(): AsyncIterable<Block> {
    return this.ledgerStore.blocks();
  }

  async close(options: { orderly?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    const gone = new BaksaError('EDGE_CLOSED', 'the agent is shutting down', { exitCode: ExitCode.failure });
    for (const map of [this.commits, this.reads, this.statusAsks] as Map<unknown, Pending<never>>[]) {
      for (const p of map.values()) {
        clearTimeout(p.timer);
        p.reject(gone);
      }
      map.clear();
    }
    this.client.close();
    await this.replica?.close();
    await Promise.allSettled([...this.work]);
    await this.ledger.idle();
    await this.mux.close();
    await this.membership.close({ orderly: options.orderly ?? true });
    await this.ledgerStore.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  private throwIfClosed(): void {
    if (this.closed) throw new BaksaError('EDGE_CLOSED', 'the agent is shutting down', { exitCode: ExitCode.failure });
  }

  private localStatus(reqId: number): EdgeStatus {
    const r = this.replica?.status;
    return {
      reqId,
      blocks: this.blocks(),
      view: r?.view ?? 0,
      executed: r?.lastExecuted ?? 0,
      stagedTxs: this.participant.status().open,
      wireBytes: this.mux.stats().bytesSent,
      shardBytes: this.shardBytesSent,
      timeMs: Date.now(),
    };
  }

  private askStatus(node: string, timeoutMs: number): Promise<EdgeStatus> {
    const reqId = ++this.reqId;
    return this.ask(this.statusAsks, reqId, node, { type: 'EdgeStatusGet', body: { reqId } }, `status of ${node}`, timeoutMs);
  }

  private ask<T>(map: Map<number, Pending<T>>, reqId: number, node: string, message: EdgeMessage, what: string, timeoutMs = this.config.peerReadTimeoutMs ?? 5000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        map.delete(reqId);
        reject(new BaksaError('SHARD_UNREACHABLE', `no answer for ${what} within ${timeoutMs} ms`, { details: { node } }));
      }, timeoutMs);
      map.set(reqId, { resolve, reject, timer });
      if (!this.sendService(node, message)) {
        clearTimeout(timer);
        map.delete(reqId);
        reject(new BaksaError('SHARD_UNREACHABLE', `could not send the request for ${what}`, { details: { node } }));
      }
    });
  }

  private settle<T>(map: Map<number, Pending<T>>, reqId: number, value: T | Error): void {
    const p = map.get(reqId);
    if (!p) return;
    map.delete(reqId);
    clearTimeout(p.timer);
    if (value instanceof Error) p.reject(value);
    else p.resolve(value);
  }

  sendService(to: string | undefined, message: EdgeMessage): boolean {
    if (this.closed) return false;
    const frame = encodeEdgeMessage(message);
    if (message.type === 'PrepareRequest' && to !== undefined && to !== this.self) {
      for (const s of message.body.shards) this.shardBytesSent += s.data.length;
    }
    if (to !== undefined) return this.mux.service.send(to, frame);
    let ok = true;
    for (const peer of this.mux.service.peers()) ok = this.mux.service.send(peer, frame) && ok;
    return ok;
  }

  private receive(from: string, frame: Uint8Array): void {
    const m = decodeEdgeMessage(frame);
    if (!m) {
      this.logger.debug({ from }, 'dropped a service frame that is not a message');
      return;
    }
    switch (m.type) {
      case 'BlockSignature':
      case 'LedgerSyncRequest':
      case 'LedgerSyncBlocks':
        return this.ledger.receive(from, m);
      case 'PrepareRequest':
      case 'PrepareResponse':
      case 'TxAbort':
      case 'TxCommitted': {
        const routed = routeCommitMessage(from, m, Date.now());
        return routed.role === 'coordinator' ? this.stepC(routed.event) : this.stepP(routed.event);
      }
      case 'ShardGet':
        return void this.track(this.serveShard(from, m.body.reqId, m.body.shardId));
      case 'ShardData': {
        const { reqId, shardId, data, code } = m.body;
        return this.settle(this.reads, reqId, data ?? new BaksaError(code ?? 'SHARD_MISSING', `${from} has no good copy of shard ${shardId.slice(0, 12)} (${code ?? 'no reason'})`, { details: { node: from, shardId } }));
      }
      case 'EdgeStatusGet':
        return void this.sendService(from, { type: 'EdgeStatus', body: this.localStatus(m.body.reqId) });
      case 'EdgeStatus':
        return this.settle(this.statusAsks, m.body.reqId, m.body);
    }
  }

  /**
   * A shard of this member's store: committed, or else staged. Right after a commit the member may
   * hold its new shards staged until it learns the certified block (a restore straight after a
   * rebalance asked for exactly those and was told they were missing); a reader only asks for shards
   * of committed records, and a staged copy is checked against its id like any other.
   */
  private async localShard(shardId: string): Promise<Uint8Array> {
    try {
      return await this.config.store.get(shardId);
    } catch (error) {
      if (!(error instanceof BaksaError) || error.code !== 'SHARD_MISSING') throw error;
      return this.config.store.getStaged(shardId).catch(() => {
        throw error;
      });
    }
  }

  private async serveShard(from: string, reqId: number, shardId: string): Promise<void> {
    try {
      const data = await this.localShard(shardId);
      if (data.length > SHARD_DATA_BYTES_MAX) throw new BaksaError('SHARD_TOO_LARGE', 'too large for one message');
      this.sendService(from, { type: 'ShardData', body: { reqId, shardId, data } });
    } catch (error) {
      const code = error instanceof BaksaError ? error.code : 'SHARD_READ_ERROR';
      this.sendService(from, { type: 'ShardData', body: { reqId, shardId, code: code.slice(0, 64) } });
    }
  }

  private onBlock(block: Block): void {
    for (const record of block.records) {
      if (!isAdmissionRecord(record)) continue;
      const m = this.ledgerStore.admitted.get(record.account);
      if (m && m.height === block.height) this.addMember(m.node, m.publicKey);
    }
    const event = blockCommittedOf(block);
    this.stepC(event);
    this.stepP(event);
    for (const listener of this.blockListeners) listener(block);
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const id of this.liveMembers()) this.lastOnline.set(id, now);
    if (this.isStorageMember && now - this.lastFollowSyncMs >= FOLLOW_SYNC_MS) {
      this.lastFollowSyncMs = now;
      this.ledger.syncNow();
    }
    this.stepC({ kind: 'tick' });
    this.stepP({ kind: 'tick' });
    this.ledger.tick();
  }

  private track(p: Promise<unknown>): void {
    this.work.add(p);
    void p.finally(() => this.work.delete(p));
  }

  private stepC(event: CoordinatorEvent): void {
    if (this.closed) return;
    for (const a of this.coordinator.step(event)) this.execC(a);
  }

  private stepP(event: ParticipantEvent): void {
    if (this.closed) return;
    for (const a of this.participant.step(event)) this.execP(a);
  }

  private execC(a: CoordinatorAction): void {
    switch (a.kind) {
      case 'send':
        this.sendService(a.to, a.message);
        return;
      case 'submitForOrdering':
        this.track(
          this.client
            .submit(encodeLedgerOp({ op: 'commit', request: a.request }))
            .then((bytes) => {
              const result = decodeLedgerResult(bytes);
              if (!result.ok) this.logger.warn({ tx: hex(a.request.txId), reason: result.reason, message: result.message }, 'the ledger refused a commit request');
              else if (this.isStorageMember) this.ledger.syncNow(); // the block is coming: fetch it now, not on the next poll
            })
            .catch((error: Error) => this.logger.warn({ err: error.message }, 'a commit request was not ordered')),
        );
        return;
      case 'respond': {
        if (a.to !== this.self) return; // requesters are this node's own backups
        const key = txKeyOf(a.response.txId);
        const p = this.commits.get(key);
        this.commits.delete(key);
        p?.resolve(a.response);
        return;
      }
      case 'queryLedger':
        this.track(this.ledger.answer(a.txId).then((answer) => this.stepC(answer)));
        return;
      case 'wantLedgerPast':
        this.wantLedgerPast(a.timeMs);
        return;
    }
  }

  private execP(a: ParticipantAction): void {
    const store = this.config.store;
    switch (a.kind) {
      case 'send':
        this.sendService(a.to, a.message);
        return;
      case 'stage':
        this.track(
          (async () => {
            try {
              for (const s of a.shards) await store.putStaged(a.txKey, s.data, hex(s.hash)); // the participant checked each hash
              await store.syncStaged(a.txKey);
              this.stepP({ kind: 'staged', ticket: a.ticket, ok: true });
            } catch (error) {
              const code = error instanceof BaksaError ? error.code : 'STAGE_FAILED';
              this.stepP({ kind: 'staged', ticket: a.ticket, ok: false, reason: `${code}: ${(error as Error).message}`.slice(0, 1000) });
            }
          })(),
        );
        return;
      case 'commitStaged':
        this.track(store.commit(a.txKey).catch((error: Error) => this.logger.error({ tx: a.txKey, err: error.message }, 'committing staged shards failed')));
        return;
      case 'abortStaged':
        this.logger.info({ tx: a.txKey, reason: a.reason }, 'rolling back staged shards');
        this.track(store.abort(a.txKey).catch((error: Error) => this.logger.warn({ tx: a.txKey, err: error.message }, 'rolling back staged shards failed')));
        return;
      case 'queryLedger':
        this.track(this.ledger.answer(a.txId).then((answer) => this.stepP(answer)));
        return;
      case 'wantLedgerPast':
        this.wantLedgerPast(a.timeMs);
        return;
    }
  }

  private wantLedgerPast(timeMs: number): void {
    this.track(this.client.submit(encodeLedgerOp({ op: 'cut', pastMs: timeMs })).catch(() => undefined));
  }
}

function pickLedgerOptions(c: Partial<CommitOptions>): { txLifetimeMs?: number; clockSkewMsMax?: number } {
  return { ...(c.txLifetimeMs !== undefined ? { txLifetimeMs: c.txLifetimeMs } : {}), ...(c.clockSkewMsMax !== undefined ? { clockSkewMsMax: c.clockSkewMsMax } : {}) };
}

/** How long a gateway that joins waits between connection attempts the site broker refused. */
const REFUSED_RETRY_MS = 5000;

/**
 * Connects to the site broker with a birth and a will. A gateway that joins is refused by the embedded
 * broker (mqtts) until a validator admits it, so it tries again every few seconds, saying what to run;
 * any other refusal, or one of a listed member, is final.
 */
/** An mqtt.js client over an in-memory stream (each reconnect asks for a new one), as mqtt.connect makes over TCP. */
function localClient(stream: () => Duplex, options: IClientOptions): MqttClient {
  const client = new MqttClient(() => stream(), { ...options });
  client.on('error', () => {}); // as mqtt.connect does: errors are also reported through the session's events
  return client;
}

async function joinSiteBroker(config: EdgeNodeConfig, logger: Logger): Promise<MembershipClient> {
  let lastLog = 0;
  // A joining storage member lists the validators too, so its digest is theirs.
  const validators = validatorSetDigest(config.site, config.members);
  for (;;) {
    const membership = new MembershipClient({
      site: config.site,
      nodeId: config.self,
      signer: config.signer,
      connect: (o) => (config.localBroker ? localClient(config.localBroker, o) : mqtt.connect(config.broker, o)),
      mqtt: { reconnectPeriod: 1000, connectTimeout: 10_000, ...config.mqtt },
      bdSeq: new FileBdSeqStore(join(config.dir, 'bdseq')),
      details: () => ({ validators }),
      tracker: { goneAfterTicks: 300 },
      logger,
    });
    // Stopped while the broker is out of reach: the wait for it ends (it may never come back).
    if (config.signal?.aborted) throw new BaksaError('EDGE_CLOSED', 'stopped before the site broker was reached', { exitCode: ExitCode.failure });
    const onAbort = () => void membership.close({ orderly: false });
    config.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await membership.start();
      config.signal?.removeEventListener('abort', onAbort); // from here the node leaves in order when closed
      return membership;
    } catch (error) {
      config.signal?.removeEventListener('abort', onAbort);
      if (config.signal?.aborted) throw new BaksaError('EDGE_CLOSED', 'stopped before the site broker was reached', { exitCode: ExitCode.failure });
      const code = (error as BaksaError).details?.connackCode;
      if (!config.join || !(error instanceof BaksaError) || error.code !== 'MEMBERSHIP_REFUSED' || code !== 5) throw error;
      if (config.signal?.aborted) throw new BaksaError('EDGE_CLOSED', 'stopped while waiting to be admitted', { exitCode: ExitCode.failure });
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const command = `2baksa cluster admit ${config.self} --key ${hex(config.signer.publicKey)} --state DIR`;
        logger.info({ command }, 'the site broker does not take this gateway yet: waiting to be admitted (run this on a member of the cluster)');
        config.onWaiting?.([`admission of ${config.self} (${command})`]);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REFUSED_RETRY_MS);
        config.signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (config.signal?.aborted) throw new BaksaError('EDGE_CLOSED', 'stopped while waiting to be admitted', { exitCode: ExitCode.failure });
    }
  }
}

/** Pins (and persists) every member's key: from DIR/members.json, else from its birth (first use). */
async function pinMemberKeys(config: EdgeNodeConfig, members: readonly string[], membership: MembershipClient, logger: Logger): Promise<Map<string, Uint8Array>> {
  const file = join(config.dir, PIN_FILE);
  const pins = new Map<string, Uint8Array>();
  const saved = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { keys?: Record<string, string> }, () => undefined);
  for (const [id, key] of Object.entries(saved?.keys ?? {})) if (/^[0-9a-f]{64}$/.test(key)) pins.set(id, new Uint8Array(Buffer.from(key, 'hex')));
  const own = pins.get(config.self);
  if (own && hex(own) !== hex(config.signer.publicKey)) {
    throw new BaksaError('EDGE_KEY_CHANGED', `this node's key differs from the one its cluster pinned for ${config.self}`, {
      hint: 'the node key in the state directory changed; restore the original state directory',
      exitCode: ExitCode.data,
    });
  }
  pins.set(config.self, config.signer.publicKey);
  const warned = new Set<string>();
  let lastLog = 0;
  for (;;) {
    let changed = false;
    for (const r of membership.members()) {
      if (!members.includes(r.nodeId) || !r.pubkey) continue;
      const pinned = pins.get(r.nodeId);
      if (!pinned) {
        pins.set(r.nodeId, r.pubkey);
        changed = true;
        logger.info({ member: r.nodeId, key: hex(r.pubkey).slice(0, 16) }, 'pinned a member key (first use)');
      } else if (hex(pinned) !== hex(r.pubkey) && !warned.has(r.nodeId)) {
        warned.add(r.nodeId);
        logger.error({ member: r.nodeId }, 'a birth carries another key than the one pinned for this member: refused');
      }
    }
    if (changed || !saved) {
      const keys = Object.fromEntries([...pins].sort(([a], [b]) => a.localeCompare(b)).map(([id, k]) => [id, hex(k)]));
      await writeFileAtomic(file, `${JSON.stringify({ format: 1, keys }, null, 2)}\n`);
    }
    const missing = members.filter((m) => !pins.has(m));
    if (missing.length === 0) return pins;
    if (config.signal?.aborted) throw new BaksaError('EDGE_CLOSED', 'stopped while waiting for the cluster members', { exitCode: ExitCode.failure });
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      logger.info({ missing }, 'waiting for the first birth of these members (their keys)');
      config.onWaiting?.(missing);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
