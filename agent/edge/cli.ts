/**
 * The CLI's side of cluster mode: commands that need the shard store or the peers ask the running
 * daemon over its control socket (agent/edge/control.ts) instead of opening the store themselves.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { BackupEvent, BackupListener } from '../backup/events.ts';
import type { BackupSummary } from '../backup/run.ts';
import type { CheckReport } from '../check/index.ts';
import { Catalog } from '../catalog/index.ts';
import { ChunkReader, type ShardFetch } from '../chunks/index.ts';
import { loadKeyRing, type AgentState } from '../config/index.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import type { ShardStore } from '../../shared/storage/index.ts';
import type { EdgeJoining } from './runtime.ts';
import { ControlClient, controlSocketPath } from './control.ts';
import type { EdgeMemberStatus } from './node.ts';
import type { RepairProgress, RepairReport } from './repair.ts';
import type { ClusterForgetResult, RetentionPolicy } from '../retention/index.ts';

/** One request to the daemon on its control socket; `onEvent` gets what it streams before the answer. */
async function callDaemon<T>(state: AgentState, op: string, args?: unknown, onEvent?: (event: unknown) => void): Promise<T> {
  const client = await ControlClient.connect(controlSocketPath(state.paths.root));
  try {
    return await client.call<T>(op, args, onEvent);
  } finally {
    await client.close();
  }
}

export function backupThroughDaemon(state: AgentState, type: 'snapshot' | 'lazy', listener: BackupListener, force = false): Promise<BackupSummary> {
  return callDaemon(state, 'backup', { type, force }, (event) => listener(event as BackupEvent));
}

export function checkThroughDaemon(state: AgentState, options: { readData: boolean; repair: boolean }): Promise<CheckReport> {
  return callDaemon(state, 'check', options);
}

export function relayoutThroughDaemon(state: AgentState, op: 'repair' | 'rebalance', onProgress: (p: RepairProgress) => void): Promise<RepairReport> {
  return callDaemon(state, op, {}, (event) => onProgress(event as RepairProgress));
}

/** forget in an edge cluster: the daemon forgets and releases the shards on every member (agent/edge/release.ts). */
export function forgetThroughDaemon(state: AgentState, args: { policy?: RetentionPolicy; dryRun: boolean; utc: boolean }): Promise<ClusterForgetResult> {
  return callDaemon(state, 'forget', args);
}

export interface ClusterStatusReply {
  self: string;
  site: string;
  joined: boolean;
  quorum?: number;
  members: EdgeMemberStatus[];
  /** The site broker this gateway is cut off from, when it is: the others' state is then unknown. */
  cutOff?: string;
  /** Not joined yet: what the daemon waits for. */
  joining?: EdgeJoining;
}

/** Records a cloud receipt in the site ledger, through the daemon (agent/edge/descriptor.ts). */
export async function recordReceiptThroughDaemon(state: AgentState, account: string, snapshotId: string, receipt: unknown): Promise<void> {
  await callDaemon(state, 'recordReceipt', { account, snapshotId, receipt: new TextEncoder().encode(JSON.stringify(receipt)) });
}

/** Admits a gateway as a storage member (the daemon must be a validator's). */
export function admitThroughDaemon(state: AgentState, node: string, key: string): Promise<{ node: string; key: string; height: number; members: string[] }> {
  return callDaemon(state, 'admit', { node, key });
}

export function clusterStatusThroughDaemon(state: AgentState): Promise<ClusterStatusReply> {
  return callDaemon(state, 'clusterStatus');
}

/** The store methods a cluster-mode reader may not use: every read goes by location (ShardFetch). */
const noLocalStore = new Proxy({} as ShardStore, {
  get() {
    throw new BaksaError('EDGE_DAEMON_OWNS_STORE', 'in an edge cluster only the agent daemon opens the shard store', { exitCode: ExitCode.usage });
  },
});

export interface ClusterRepo {
  catalog: Catalog;
  ring: KeyRing;
  reader: ChunkReader;
  close(): Promise<void>;
}

/** The catalog and key ring here, and a chunk reader whose shards come through the daemon. */
export async function openClusterRepo(state: AgentState): Promise<ClusterRepo> {
  const ring = await loadKeyRing(state.paths, state.config);
  const client = await ControlClient.connect(controlSocketPath(state.paths.root));
  let catalog: Catalog;
  try {
    catalog = await Catalog.open(state.paths.catalog);
  } catch (error) {
    await client.close();
    throw error;
  }
  const fetch: ShardFetch = async (shard, target) => {
    const data = await client.call<Uint8Array>('readShard', { node: shard.location, shardId: shard.shardId });
    if (!(data instanceof Uint8Array) || data.length !== target.length) {
      throw new BaksaError('SHARD_CORRUPT', `shard ${shard.shardId.slice(0, 12)} from ${shard.location} has ${data?.length ?? 0} bytes, expected ${target.length}`, { exitCode: ExitCode.data });
    }
    target.set(data);
  };
  return {
    catalog,
    ring,
    reader: new ChunkReader(noLocalStore, catalog, ring, fetch),
    async close() {
      await catalog.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}
