/**
 * One aggregator node (`2baksa aggregator run --config FILE`), the composition of parts built elsewhere:
 *
 *   PBFT replica over mutual TLS 1.3 (shared/replica-node) ── AccountsApp: the ordered account command log
 *        │ execute                                                │
 *        ▼                                                        ▼
 *   AccountsMaterializer ── applies it, in order, to accounts.db (sqlite, WAL, synchronous=FULL)
 *        ▲ waitFor(position)
 *   submit(command) ── ClientNode over this node's own client link (a certificate and Ed25519 key of
 *        ▲              its own, listed in every node's `submitters`) ── replies from f+1 replicas
 *        │
 *   REST API (fastify, mTLS, RBAC) and the CLI's `--server`: every account, group and quota change
 *   becomes a consensus request, so every replica's database is identical (`accounts check`
 *   digests match); reads are local.
 *
 *   MonitorService (heartbeats, registrations, alerts) on the cluster's MQTT endpoints, `mqtt.url` (one
 *   on each node as `aggregator init` writes it: `mqtt.embedded`, broker.ts); agents heartbeat through
 *   any of them. Every node's monitor sees every heartbeat; an alert is
 *   sent by one owner among the live nodes (rendezvous on the alert id over this node and the replicas
 *   its links reach), so one event gives one alert, not one per replica.
 *
 * Registrations pin an agent's key in each node's own database on first use (every node sees the same
 * Register), not through consensus: a key reset is an admin command on each node's API for now.
 */
import type { IClientOptions } from 'mqtt';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Registry, Gauge } from 'prom-client';
import { loadTlsMaterial, readCrl, roleOf, identityOf, tlsClientOptions } from '../../shared/crypto/pki.ts';
import { readKeyFile } from '../../shared/crypto/key-file.ts';
import { signingKeyFromSeed } from '../../shared/crypto/sign.ts';
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode, listening } from '../../shared/errors.ts';
import { createLogger } from '../../shared/log.ts';
import { ClientNode, ReplicaNode, linkKeyResolver, type ReplicaNodeOptions } from '../../shared/replica-node/index.ts';
import { TlsTransport } from '../../shared/transport/index.ts';
import { stateDigest } from '../accounts/digest.ts';
import { openAccountDb } from '../accounts/schema.ts';
import { findAccountByName } from '../accounts/queries.ts';
import type { AccountCommand, ApplyResult } from '../accounts/types.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import { volumeList, type VolumeUsage } from '../reports/space.ts';
import { ApiClient } from '../../shared/http/api-client.ts';
import { LocalCasSink, type ObjectSink } from '../api/object-sink.ts';
import type { RouteSpec } from '../api/route.ts';
import { internalRoutes } from '../api/routes-internal.ts';
import { defaultMigrationOptions, flushPendingRecords, migrationRoutes, queuedShardIds, type OrderedResult } from '../api/routes-migration.ts';
import { ClusterStore, HttpShardPeer, LocalShardPeer, type ShardPeer } from '../storage/index.ts';
import { ReedSolomon } from '../../shared/erasure/index.ts';
import { FsShardStore } from '../../shared/storage/index.ts';
import { ClusterObjectSink } from './cluster-sink.ts';
import { Scrubber } from './scrub.ts';
import { ReceiptCertifier } from './receipts.ts';
import type { ReceiptFacts } from '../../shared/crypto/receipt.ts';
import { MonitorService } from '../monitoring/service.ts';
import { AccountsApp, decodeAccountsResult, encodeAccountOp } from './accounts-app.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.ts';
import { RevocationWatch } from '../../shared/crypto/revocation-watch.ts';
import { RevocationSync } from './revocation-sync.ts';
import { KEY_KINDS, peerApiUrl, type LoadedNodeConfig } from './config.ts';
import { AccountsMaterializer } from './materializer.ts';
import { awaitCommit } from './commit-wait.ts';
import { Housekeeper } from './housekeeper.ts';
import { defaultSweepGraceMs, sweepShards } from './sweep.ts';

/** Most shard ids a node may answer a sweep with for its queue (a queue is normally a few hundred chunks). */
const QUEUED_SHARDS_MAX = 4_000_000;

export interface AggregatorNodeOptions {
  logger?: Logger;
  /** Called when the node must stop (a broken invariant, a database that fails); default: log and exit 70. */
  onFatal?: (error: Error) => void;
  /** How often the CA's revocation list is looked at: pkiDir/ca.crl (default 2 s) and the other nodes' (default 60 s). */
  revocationPollMs?: number;
}

export interface AggregatorNodeStatus {
  cluster: string;
  /** Where the cluster keeps its data (data residency); null: it names no region. */
  region: string | null;
  node: string;
  id: number;
  view: number;
  primary: number;
  viewChanging: boolean;
  lastExecuted: number;
  stableSeq: number;
  accountCommands: number;
  accountCommandsApplied: number;
  /** SHA-256 of the replicated account tables: equal on every node that applied the same commands. */
  accountsDigest: string;
  lastScrub: { startedMs: number; objects: number; shardsChecked: number; shardsHealed: number; failed: number } | null;
  peersConnected: string[];
  /** Every replica of the cluster, in id order. */
  replicas: string[];
  apiUrl: string;
  mqttUrl: string;
  /** Whether this node's monitor hears heartbeats (its broker connection is up): no silence is judged while not. */
  monitorListening: boolean;
}

export class AggregatorNode {
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly config: LoadedNodeConfig,
    readonly db: Database,
    readonly app: AccountsApp,
    readonly materializer: AccountsMaterializer,
    readonly replica: ReplicaNode,
    private readonly replicaTransport: TlsTransport,
    private readonly client: ClientNode,
    private readonly clientTransport: TlsTransport,
    readonly api: ApiServer,
    readonly apiUrl: string,
    readonly monitor: MonitorService,
    private readonly broker: EmbeddedBroker | undefined,
    readonly storage: { local: FsShardStore; store: ClusterStore; scrubber: Scrubber } | undefined,
    private readonly logger: Logger,
  ) {}

  scrubTask: { stop(): void | Promise<void>; destroy(): void | Promise<void> } | undefined;
  /** Hands every TLS server and link of this node a changed revocation list (`pki revoke`). */
  revocations: RevocationWatch | undefined;
  /** Takes a newer revocation list from the other nodes into this node's PKI directory. */
  revocationSync: RevocationSync | undefined;
  pendingTimer: NodeJS.Timeout | undefined;
  housekeeper: Housekeeper | undefined;

  static async start(config: LoadedNodeConfig, options: AggregatorNodeOptions = {}): Promise<AggregatorNode> {
    const logger = options.logger ?? createLogger(`aggregator-${config.id}`);
    const onFatal =
      options.onFatal ??
      ((error: Error) => {
        logger.fatal({ err: error.message }, 'aggregator node stopped');
        process.exit(70);
      });
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const replicaKey = signingKeyFromSeed(await readKeyFile(config.keys.replica, KEY_KINDS.replica, 32));
    const submitterKey = signingKeyFromSeed(await readKeyFile(config.keys.submitter, KEY_KINDS.submitter, 32));
    const monitorKey = signingKeyFromSeed(await readKeyFile(config.keys.monitor, KEY_KINDS.monitor, 32));
    const replicaNames = config.replicas.map((r) => r.name);
    const replicaKeys = config.replicas.map((r) => new Uint8Array(Buffer.from(r.publicKey, 'hex')));
    if (Buffer.compare(Buffer.from(replicaKeys[config.id]!), Buffer.from(replicaKey.publicKey)) !== 0) {
      throw new BaksaError('CONFIG_INVALID', `keys.replica: the key in ${config.keys.replica} is not replicas[${config.id}].publicKey`, {
        hint: 'the key file and the cluster list come from the same `aggregator init`; copy the right key file',
        exitCode: ExitCode.config,
        details: { field: 'keys.replica' },
      });
    }
    const submitters = new Map(config.submitters.map((s) => [s.name, new Uint8Array(Buffer.from(s.publicKey, 'hex'))]));

    // What is open so far, closed in reverse if the start fails halfway (a port in use, a bad
    // cron): a node that cannot start must exit, not linger with a broker and timers but no API.
    const opened: Array<() => unknown> = [];
    try {
      const db = await openAccountDb(join(config.dataDir, 'accounts.db'), { durable: true });
      opened.push(() => db.close());
      const app = new AccountsApp();
      const materializer = new AccountsMaterializer(db, app, { resultsKept: 4096, logger, onFatal });
      await materializer.start();
      opened.push(() => materializer.stop());

      const embedded = config.mqtt.embedded;
      const broker = embedded
        ? await listening('mqtt.embedded.port', embedded.host, embedded.port, () =>
            startEmbeddedBroker({
              host: embedded.host,
              port: embedded.port,
              logger,
              cluster: config.cluster,
              ...(embedded.tls ? { tls: loadTlsMaterial(config.pkiDir, config.node) } : {}),
              accountOf: async (name) => {
                const account = await findAccountByName(db, name);
                return account && { name: account.name, number: account.number };
              },
            }),
          )
        : undefined;
      if (broker) opened.push(() => broker.stop());

      const replicaTransport = new TlsTransport({
        self: config.node,
        listenHost: '0.0.0.0',
        listenPort: config.replicas[config.id]!.port,
        peers: config.replicas.map((r) => ({ id: r.name, host: r.host, port: r.port })),
        tls: loadTlsMaterial(config.pkiDir, config.node),
        reconnectDelayMsMax: 1000,
        acceptClient: (cert) => {
          const name = identityOf(cert);
          return roleOf(cert) !== 'replica' && name !== undefined && submitters.has(name) ? name : undefined;
        },
        logger,
      });
      const replica = await ReplicaNode.start({
        n: config.replicas.length,
        id: config.id,
        replicaNames,
        transport: replicaTransport,
        app,
        dataDir: join(config.dataDir, 'pbft'),
        options: withUnsignedReplies(config.replicaNode as Partial<ReplicaNodeOptions>),
        logger,
        keys: { self: replicaKey, replicas: replicaKeys, clients: linkKeyResolver(submitters) },
        observe: (action) => {
          if (action.type === 'new-view') logger.info({ view: action.view, primary: action.primary }, 'new view');
          if (action.type === 'state-transferred') logger.info({ seq: action.seq }, 'state transferred');
        },
        onFatal,
      });
      opened.push(() => replicaTransport.close(), () => replica.close());
      await listening(`replicas[${config.id}].port`, '0.0.0.0', config.replicas[config.id]!.port, () => replicaTransport.start());

      const clientTransport = new TlsTransport({
        self: config.submitter,
        listen: false,
        peers: config.replicas.map((r) => ({ id: r.name, host: r.host, port: r.port })),
        tls: loadTlsMaterial(config.pkiDir, config.submitter),
        reconnectDelayMsMax: 1000,
        logger,
      });
      const client = new ClientNode({
        id: config.submitter,
        n: config.replicas.length,
        replicaNames,
        transport: clientTransport,
        keys: { self: submitterKey, replicas: replicaKeys },
        options: { logicalClients: 4, replyAuth: 'channel' },
      });
      client.start();
      opened.push(() => clientTransport.close(), () => client.close());
      await clientTransport.start();

      const submitOrdered = async (command: AccountCommand): Promise<OrderedResult> => {
        const { position, chain } = decodeAccountsResult(await client.submit(encodeAccountOp(command)));
        return { result: await materializer.waitFor(position), position, chain: Buffer.from(chain).toString('hex') };
      };
      const submit = async (command: AccountCommand): Promise<ApplyResult> => (await submitOrdered(command)).result;

      const registry = new Registry();
      const mqttUrl = config.mqtt.url;
      const liveNodes = () => [config.node, ...replicaTransport.connectedPeers()].sort();
      // An API call answers COMMIT_TIMEOUT instead of waiting on a cluster without a quorum (commit-wait.ts).
      const apiSubmit = (command: AccountCommand): Promise<ApplyResult> => awaitCommit(submit(command), { nodes: replicaNames, reachable: liveNodes });
      const monitor = await MonitorService.start({
        db,
        mqttUrl,
        // An mqtts endpoint (the cluster's own, or another) is shown this node's certificate.
        ...(/(^|,)\s*(mqtts|tls):/.test(mqttUrl) ? { mqttOptions: tlsClientOptions(loadTlsMaterial(config.pkiDir, config.node)) as IClientOptions } : {}),
        cluster: config.cluster,
        nodeId: config.node,
        signer: monitorKey,
        adminContact: config.monitor.adminContact,
        ...(config.monitor.hookPath ? { hookPath: config.monitor.hookPath } : {}),
        silenceFactor: config.monitor.silenceFactor,
        verifyWorkers: config.monitor.verifyWorkers,
        liveNodes,
        waitForBroker: false,
        registry,
        logger,
      });
      opened.push(() => monitor.stop());

      let nodeRef: AggregatorNode | undefined;
      const getNode = () => nodeRef;
      // Storage: objects erasure-coded over the nodes (rack-aware), shards exchanged through the API's
      // internal routes with the nodes' own certificates; without a storage section, one local directory.
      let sink: ObjectSink;
      let extraRoutes: RouteSpec[] = [];
      let storage: { local: FsShardStore; store: ClusterStore; scrubber: Scrubber } | undefined;
      let pendingTimer: NodeJS.Timeout | undefined;
      let peerVolumes: (() => Promise<VolumeUsage[]>) | undefined;
      if (config.storage) {
        const local = await FsShardStore.open({ volumes: config.storage.volumes });
        opened.push(() => local.close());
        const nodeTls = loadTlsMaterial(config.pkiDir, config.node);
        const peers = new Map<string, ShardPeer>();
        const peerApis = new Map<string, ApiClient>();
        for (const r of config.replicas) {
          if (r.name !== config.node) peerApis.set(r.name, new ApiClient(peerApiUrl(r)!, nodeTls, { timeoutMs: 10_000 }));
          peers.set(r.name, r.name === config.node ? new LocalShardPeer(r.name, local, { logger }) : new HttpShardPeer(r.name, peerApis.get(r.name)!, { logger }));
        }
        const receipts = new ReceiptCertifier({ db, app, cluster: config.cluster, node: config.node, replicas: config.replicas.length, tls: nodeTls, peers: peerApis });
        const rs = await ReedSolomon.create(config.storage.dataShards, config.storage.parityShards);
        const members = config.replicas.map((r) => ({ id: r.name, rack: r.rack ?? r.name }));
        const store = new ClusterStore({ self: config.node, members, peers, rs, segmentBytes: config.storage.segmentBytes, logger });
        sink = new ClusterObjectSink(db, store, local, { cluster: config.cluster, node: config.node, logger });
        extraRoutes = internalRoutes(local);
        const scrubber = new Scrubber(db, store, local, { node: config.node, members: replicaNames, share: config.storage.scrubShare, logger });
        storage = { local, store, scrubber };
        opened.push(() => scrubber.idle());
        const migration = {
          db, store, submitOrdered, cluster: config.cluster, ...(config.region ? { region: config.region } : {}), now: Date.now, ...defaultMigrationOptions,
          receipts: { replicas: config.replicas.length, collect: (f: ReceiptFacts) => receipts.collect(f), positionOf: (a: number, s: string) => receipts.positionOf(a, s) },
        };
        extraRoutes.push(...migrationRoutes(migration));
        const ownSink = sink;
        extraRoutes.push({
          method: 'GET', url: '/v1/internal/volumes', tag: 'internal', roles: ['replica'],
          summary: "this node's volumes (node to node: a space report through any node covers every node)",
          handler: async () => ({ volumes: await ownSink.volumes() }),
        });
        peerVolumes = async () => {
          const answers = await Promise.all(
            [...peerApis].map(([name, api]) =>
              // A report waits for no node longer than this: one that is down shows its last figures.
              api.request<{ volumes?: unknown }>('GET', '/v1/internal/volumes', undefined, { timeoutMs: 3000 }).then(
                (r) => volumeList(r.body.volumes, config.cluster).filter((v) => v.node === name),
                () => [],
              ),
            ),
          );
          return answers.flat();
        };
        extraRoutes.push({
          method: 'POST', url: '/v1/internal/receipts', tag: 'internal', roles: ['replica'],
          summary: "sign a migration receipt once this node's ordered log shows it (position, chain, the snapshot's record)",
          schema: {
            body: {
              type: 'object', additionalProperties: false, required: ['cluster', 'account', 'snapshotId', 'position', 'chain', 'chunks', 'replicas'],
              properties: {
                cluster: { type: 'string', maxLength: 255 }, account: { type: 'string', maxLength: 255 }, snapshotId: { type: 'string', maxLength: 128 },
                position: { type: 'integer', minimum: 1 }, chain: { type: 'string', pattern: '^[0-9a-f]{64}$' },
                chunks: { type: 'integer', minimum: 0 }, replicas: { type: 'integer', minimum: 1 },
              },
            },
          },
          handler: async ({ request }) => ({ ...(await receipts.certify(request.body as ReceiptFacts)) }),
        });
        // Uploads whose snapshot never came (or came to another node) are recorded in the background.
        let flushing = false;
        pendingTimer = setInterval(() => {
          if (flushing) return;
          flushing = true;
          void flushPendingRecords(migration)
            .catch((err: Error) => logger.warn({ err: err.message }, 'queued chunk records not flushed yet'))
            .finally(() => (flushing = false));
        }, 15_000);
        pendingTimer.unref();
        opened.push(() => clearInterval(pendingTimer));
        const peersQueued = async (): Promise<string[]> => {
          const lists = await Promise.all(
            [...peerApis].map(async ([name, api]) => {
              let body: { shards?: unknown };
              try {
                body = (await api.request<{ shards?: unknown }>('GET', '/v1/internal/queued-shards', undefined, { timeoutMs: 30_000 })).body;
              } catch (error) {
                throw new Error(`node ${name} did not say which chunks it has queued (${(error as Error).message})`);
              }
              if (!Array.isArray(body.shards) || body.shards.length > QUEUED_SHARDS_MAX || !body.shards.every((id) => typeof id === 'string' && /^[0-9a-f]{64}$/.test(id))) {
                throw new Error(`node ${name} answered with something other than a list of shard ids`);
              }
              return body.shards as string[];
            }),
          );
          return lists.flat();
        };
        extraRoutes.push(
          {
            method: 'GET', url: '/v1/internal/queued-shards', tag: 'internal', roles: ['replica'],
            summary: "the shard ids of the chunks this node has queued for their records (node to node, for a sweep)",
            handler: async () => ({ shards: await queuedShardIds(db) }),
          },
          {
            method: 'POST', url: '/v1/node/sweep', tag: 'meta', roles: ['admin'],
            summary: "count (or, with delete, free) the shards on this node that no stored object or queued chunk names and that are older than graceS",
            schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { delete: { type: 'boolean' }, graceS: { type: 'integer', minimum: 0, maximum: 365 * 86_400 } } } },
            handler: async ({ request }) => {
              const b = (request.body ?? {}) as { delete?: boolean; graceS?: number };
              return { ...(await sweepShards({ db, store, local, node: config.node, peersQueued, now: Date.now }, { delete: b.delete === true, graceMs: b.graceS !== undefined ? b.graceS * 1000 : defaultSweepGraceMs })) };
            },
          },
        );
        extraRoutes.push({
          method: 'POST', url: '/v1/node/scrub', tag: 'meta', roles: ['admin'],
          summary: "run a scrub of this node's share of objects now (reads every shard, heals), and return its report",
          handler: async () => ({ ...(await scrubber.run()) }),
        });
      } else {
        sink = new LocalCasSink(join(config.dataDir, 'objects'), { cluster: config.cluster, node: config.node });
      }
      // The cluster's nodes as an agent reaches them: one given a single node goes on through another
      // when that one dies (agent/migrate/cloud-client.ts), and remembers them.
      extraRoutes.push({
        method: 'GET', url: '/v1/cluster/nodes', tag: 'meta', roles: ['agent', 'operator', 'auditor', 'admin'],
        summary: "the cluster's nodes and their API URLs",
        handler: async () => ({
          cluster: config.cluster,
          nodes: config.replicas.flatMap((r) => {
            const apiUrl = r.agentUrl ?? peerApiUrl(r);
            return apiUrl === undefined ? [] : [{ name: r.name, apiUrl }];
          }),
        }),
      });
      // The CA's revocation list as this node holds it: gateways install it in their TLS directories on
      // each cloud turn (agent/migrate/revocations.ts), and the nodes take a newer one from each other.
      extraRoutes.push({
        method: 'GET', url: '/v1/pki/crl', tag: 'meta', roles: ['agent', 'operator', 'auditor', 'admin', 'replica'],
        summary: "the CA's certificate revocation list (PEM); null when the CA has revoked nothing",
        handler: async () => ({ crl: readCrl(config.pkiDir) ?? null }),
      });
      const api = await createApiServer({
        db,
        tls: loadTlsMaterial(config.pkiDir, config.node),
        sink,
        submit: apiSubmit,
        registry,
        logger,
        defaultCluster: config.cluster,
        ...(config.region ? { region: config.region } : {}),
        ...(peerVolumes ? { peerVolumes, storageNodes: { cluster: config.cluster, nodes: config.replicas.map((r) => r.name) } } : {}),
        nodeStatus: async () => ({ ...(await getNode()?.status()) }),
        extraRoutes,
      });
      opened.push(() => api.close());
      const apiUrl = await listening('api.port', config.api.host, config.api.port, () => api.listen(config.api.port, config.api.host));

      const node = new AggregatorNode(config, db, app, materializer, replica, replicaTransport, client, clientTransport, api, apiUrl, monitor, broker, storage, logger);
      if (storage && config.storage?.scrubCron) {
        const cron = (await import('node-cron')).default;
        if (!cron.validate(config.storage.scrubCron)) {
          throw new BaksaError('CONFIG_INVALID', `storage.scrubCron: "${config.storage.scrubCron}" is not a cron expression`, { exitCode: ExitCode.config, hint: 'use five fields, e.g. "*/10 * * * *", or null for no scheduled scrub', details: { field: 'storage.scrubCron' } });
        }
        node.scrubTask = cron.schedule(config.storage.scrubCron, () => void storage.scrubber.run().catch((err: Error) => logger.error({ err: err.message }, 'scrub failed')), { name: 'scrub', noOverlap: true });
      }
      nodeRef = node;
      node.revocations = new RevocationWatch({
        dir: config.pkiDir,
        targets: [
          (crl, revoked) => replicaTransport.revocationsChanged(crl, revoked),
          (crl, revoked) => clientTransport.revocationsChanged(crl, revoked),
          (crl, revoked) => api.revocationsChanged(crl, revoked),
          ...(broker ? [(crl: string | undefined, revoked: ReadonlySet<string>) => broker.revocationsChanged(crl, revoked)] : []),
        ],
        logger,
        ...(options.revocationPollMs !== undefined ? { intervalMs: options.revocationPollMs } : {}),
      });
      const ownTls = loadTlsMaterial(config.pkiDir, config.node);
      node.revocationSync = new RevocationSync({
        dir: config.pkiDir,
        peers: config.replicas.filter((r) => r.name !== config.node).flatMap((r) => {
          const url = peerApiUrl(r);
          return url === undefined ? [] : [new ApiClient(url, ownTls, { timeoutMs: 10_000 })];
        }),
        logger,
        ...(options.revocationPollMs !== undefined ? { intervalMs: options.revocationPollMs } : {}),
      });
      node.pendingTimer = pendingTimer;
      node.housekeeper = new Housekeeper({ db, submit, sink, self: config.node, liveNodes, now: Date.now, logger });
      node.housekeeper.start(config.housekeepingIntervalS * 1000);
      const gauge = (name: string, help: string, value: () => number) =>
        new Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
      gauge('baksa_pbft_view', 'current PBFT view', () => replica.status.view);
      gauge('baksa_pbft_last_executed', 'last executed sequence number', () => replica.status.lastExecuted);
      gauge('baksa_account_commands', 'account commands ordered', () => app.position);
      gauge('baksa_account_commands_applied', 'account commands applied to this node\'s database', () => materializer.position);
      gauge('baksa_replica_peers_connected', 'replicas this node\'s links reach', () => replicaTransport.connectedPeers().length);
      logger.info({ node: config.node, id: config.id, api: apiUrl, mqtt: mqttUrl, replicas: replicaNames.length }, 'aggregator node running');
      return node;
    } catch (error) {
      for (const close of opened.reverse()) await Promise.resolve().then(close).catch(() => undefined);
      throw error;
    }
  }

  get mqttUrl(): string {
    return this.broker?.url ?? this.config.mqtt.url;
  }

  async status(): Promise<AggregatorNodeStatus> {
    const s = this.replica.status;
    const accountsDigest = await stateDigest(this.db);
    return {
      cluster: this.config.cluster,
      region: this.config.region ?? null,
      node: this.config.node,
      id: this.config.id,
      view: s.view,
      primary: s.primary,
      viewChanging: s.viewChanging,
      lastExecuted: s.lastExecuted,
      stableSeq: s.stableSeq,
      accountCommands: this.app.position,
      accountCommandsApplied: this.materializer.position,
      accountsDigest,
      lastScrub: (() => {
        const r = this.storage?.scrubber.last;
        return r ? { startedMs: r.startedMs, objects: r.objects, shardsChecked: r.shardsChecked, shardsHealed: r.shardsHealed, failed: r.failed.length } : null;
      })(),
      peersConnected: this.replicaTransport.connectedPeers(),
      replicas: this.config.replicas.map((r) => r.name),
      apiUrl: this.apiUrl,
      mqttUrl: this.mqttUrl,
      monitorListening: this.monitor.listening,
    };
  }

  /** Stops taking work, finishes what is in flight, and closes everything (SIGTERM). */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('aggregator node stopping');
      this.revocations?.close();
      this.revocationSync?.close();
      if (this.pendingTimer) clearInterval(this.pendingTimer);
      await this.housekeeper?.stop();
      await this.scrubTask?.stop();
      await this.scrubTask?.destroy();
      await this.api.close().catch(() => undefined);
      this.client.close();
      await this.clientTransport.close();
      await this.monitor.stop().catch(() => undefined);
      await this.replica.close();
      await this.replicaTransport.close();
      await this.materializer.stop();
      await this.broker?.stop();
      await this.storage?.scrubber.idle();
      await this.storage?.local.close();
      await this.db.close();
      this.logger.info('aggregator node stopped');
    })();
    return this.stopping;
  }
}

/**
 * The replicas' only clients are the nodes' submitters, which take a reply by the mutual-TLS link it
 * came on (`replyAuth: 'channel'` above), so replies go unsigned unless the config says otherwise: no
 * Merkle tree, signature or path per executed batch (measured: 3,510-3,960 against 2,993-3,672
 * requests/s with the PBFT bench's cluster and client, six alternating pairs).
 */
function withUnsignedReplies(options: Partial<ReplicaNodeOptions>): Partial<ReplicaNodeOptions> {
  return { ...options, replica: { replySignatures: false, ...options.replica } };
}
