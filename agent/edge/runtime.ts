/**
 * The edge part of `agent run` in cluster mode: the daemon owns the gateway's shard store (one process
 * per volume) and its MQTT session, so it also serves the CLI (agent/edge/control.ts): backups run
 * here, and restores, compares and checks read shards through here.
 *
 *   --broker-listen PORT   embeds the site broker (agent/broker): mqtts with the cluster's PKI
 *                          directory, else plain mqtt (trusted links only; every message is still signed)
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import { loadTlsMaterial, tlsClientOptions } from '../../shared/crypto/pki.ts';
import type { SigningKeyPair } from '../../shared/crypto/sign.ts';
import { BaksaError, ExitCode, listening } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import { FsShardStore } from '../../shared/storage/index.ts';
import { startSiteBroker, type SiteBroker } from '../broker/index.ts';
import { RevocationWatch } from '../../shared/crypto/revocation-watch.ts';
import type { AgentState } from '../config/index.ts';
import { EdgeNode } from './node.ts';

export interface EdgeRuntimeOptions {
  brokerListen?: { port: number; host: string };
  signal?: AbortSignal;
}

export interface EdgeRuntime {
  readonly store: FsShardStore;
  /** The node key the gateway signs with (its messages, its release notices). */
  readonly signer: SigningKeyPair;
  readonly broker: SiteBroker | undefined;
  /** Resolves once the node has joined (every member's key pinned); rejects if it could not. */
  readonly ready: Promise<EdgeNode>;
  /** The node once joined, else undefined. */
  node(): EdgeNode | undefined;
  /** Until joined, what the node waits for: the site broker, or members that have not come online once. */
  joining(): EdgeJoining | undefined;
  /** A committed shard at `location` (a member, or 'local' for this one), checked against its id (SHA-256). */
  readShard(location: string, shardId: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type EdgeJoining = { phase: 'broker'; broker: string } | { phase: 'members'; missing: string[] };

export function isClusterMode(state: AgentState): boolean {
  return state.config.cluster !== undefined;
}

export async function startEdgeRuntime(state: AgentState, signer: SigningKeyPair, logger: Logger, options: EdgeRuntimeOptions = {}): Promise<EdgeRuntime> {
  const cluster = state.config.cluster;
  if (!cluster) throw new Error('invariant violated: startEdgeRuntime without cluster config');
  const { name, site } = state.config;
  const tls = cluster.tlsDir ? loadTlsMaterial(cluster.tlsDir, name) : undefined;
  let broker: SiteBroker | undefined;
  const listen = options.brokerListen;
  if (listen) {
    broker = await listening('--broker-listen', listen.host, listen.port, () => startSiteBroker({
      site,
      tls: tls ?? false,
      port: listen.port,
      host: listen.host,
      allowAnonymous: !tls,
      // An agent certificate from the deployment's CA is a node of this site only if it is a member (or
      // one admitted later): a gateway of another site (same CA) must not act as one of ours.
      nodeOf: (identity) => (cluster.members.includes(identity) || joined?.members.includes(identity) ? identity : undefined),
      logger,
    }));
    if (!tls) logger.warn({ url: broker.url }, 'the site broker speaks plain MQTT: use it on trusted links only (give the cluster a --tls-dir for mqtts)');
    else logger.info({ url: broker.url }, 'site broker listening');
  }
  // A gateway revoked by the CA (lost or stolen: `pki revoke`, its ca.crl copied into the TLS directory)
  // is refused at its next handshake and cut off from the site broker within seconds.
  const siteBroker = broker;
  const revocations = cluster.tlsDir && siteBroker
    ? new RevocationWatch({ dir: cluster.tlsDir, targets: [(crl, revoked) => siteBroker.revocationsChanged(crl, revoked)], logger })
    : undefined;
  const reserve = state.config.storage?.reserveBytes;
  const store = await FsShardStore.open({ volumes: [state.paths.shards], ...(reserve !== undefined ? { volumeReserveBytes: reserve } : {}) });
  const mqtt: IClientOptions = tls ? (tlsClientOptions(tls) as IClientOptions) : {};
  let joined: EdgeNode | undefined;
  let joining: EdgeJoining = { phase: 'broker', broker: cluster.broker };
  const stop = new AbortController();
  options.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const ready = EdgeNode.start({
    self: name,
    site,
    members: cluster.members,
    ...(cluster.join ? { join: true } : {}),
    broker: cluster.broker,
    mqtt,
    ...(broker ? { localBroker: () => broker!.connectLocal(name) } : {}),
    signer,
    dir: join(state.paths.root, 'edge'),
    store,
    logger,
    onWaiting: (missing) => {
      joining = { phase: 'members', missing: [...missing] };
      logger.info({ missing }, 'waiting for every member gateway to come online once');
    },
    signal: stop.signal,
  }).then((node) => (joined = node));
  ready.catch((error: Error) => {
    if ((error as BaksaError).code === 'EDGE_CLOSED') logger.info({ reason: error.message }, 'stopped before joining the edge cluster');
    else logger.error({ err: error.message }, 'could not join the edge cluster');
  });
  return {
    store,
    signer,
    broker,
    ready,
    node: () => joined,
    joining: () => (joined ? undefined : joining),
    async readShard(location, shardId) {
      const edge = joined ?? (await ready);
      // Shards from before the cluster are recorded as 'local'.
      const node = location === 'local' ? name : location;
      const data = await edge.readShard(node, shardId);
      // The local store checks its own reads; a peer's answer crossed the broker.
      if (node !== name && createHash('sha256').update(data).digest('hex') !== shardId) {
        throw new BaksaError('SHARD_CORRUPT', `shard ${shardId.slice(0, 12)} from ${node} does not match its hash`, { exitCode: ExitCode.data, details: { node, shardId } });
      }
      return data;
    },
    async close() {
      revocations?.close();
      stop.abort();
      const node = joined ?? (await ready.catch(() => undefined));
      await node?.close({ orderly: true });
      await store.close();
      await broker?.close();
    },
  };
}
