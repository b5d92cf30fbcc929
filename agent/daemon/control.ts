/**
 * What the daemon answers on its control socket (agent/edge/control.ts) in edge cluster mode:
 *
 *   backup {type?}          run a backup now (after the one in progress); events stream, the summary returns
 *   readShard {node, shardId}  one committed shard, from this gateway's store or the member holding it
 *   clusterStatus           every member: online state, ledger height, view, staged transactions
 *   admit                   a validator commits a storage member's admission (name and key) to the ledger
 *   check {readData, repair}   `check` over this gateway's catalog, reading shards where they are
 *   repair                  rebuild this gateway's shards held by members that are not online onto the others
 *   recordReceipt {account, snapshotId, receipt}   a cloud receipt into the site ledger (agent/edge/descriptor.ts)
 *   rebalance               every member up: chunks back to the full geometry, one shard per member
 *   forget {policy?, dryRun?, utc?}   retention (the profile's without a policy), and the release of the
 *                           forgotten snapshots' shards on every member (agent/edge/release.ts)
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { isValidSegment } from '../../shared/protocol/topics.ts';
import type { SnapshotType } from '../catalog/index.ts';
import { tenantOf, type AgentState } from '../config/index.ts';
import type { ControlHandler } from '../edge/control.ts';
import type { EdgeRuntime } from '../edge/runtime.ts';
import type { BackupJob } from './jobs.ts';
import { openRepo } from '../backup/open.ts';
import { edgeProfile } from '../backup/run.ts';
import { RECEIPT_BYTES_MAX, RECEIPT_RECORD_PREFIX, commitObject } from '../edge/descriptor.ts';
import { runCheck } from '../check/index.ts';
import { ChunkReader, type ShardFetch } from '../chunks/index.ts';
import { withOpeners } from '../chunks/open-pool.ts';
import { rebalance, repairAroundGone, type RepairProgress, type RepairReport } from '../edge/repair.ts';
import type { Catalog } from '../catalog/index.ts';
import type { EdgeNode } from '../edge/node.ts';
import { acquireLock } from '../../shared/process-lock.ts';
import { commitRelayoutRelease, commitRelease } from '../edge/release.ts';
import { forgetInCluster, migrationGate, type ClusterForgetResult, type ForgetOptions, type RetentionPolicy } from '../retention/index.ts';

function badArgs(op: string, what: string): BaksaError {
  return new BaksaError('CONTROL_BAD_ARGS', `${op}: ${what}`, { exitCode: ExitCode.usage });
}

/** Reads a shard where its location says, through the edge node (this gateway's store or a peer). */
export function edgeShardFetch(edge: EdgeRuntime): ShardFetch {
  return async (shard, target) => {
    const data = await edge.readShard(shard.location, shard.shardId);
    if (data.length !== target.length) throw new BaksaError('SHARD_CORRUPT', `shard ${shard.shardId.slice(0, 12)} has ${data.length} bytes, expected ${target.length}`);
    target.set(data);
  };
}

let relaying: Promise<unknown> = Promise.resolve();

/** Rebuilds this gateway's shards that `gone` members held onto the members that are up (one at a time). */
export function repairNow(
  state: AgentState,
  edge: EdgeRuntime,
  node: EdgeNode,
  gone: string[],
  onProgress?: (p: RepairProgress) => void,
  signal?: AbortSignal,
): Promise<RepairReport> {
  return relayoutNow(state, edge, (repo) => repairAroundGone({ ...repo, node, gone, ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) }));
}

/**
 * Runs a repair or a rebalance over this gateway's catalog, one at a time; then frees the chunks' old
 * layouts on every member through the site ledger (agent/edge/release.ts).
 */
function relayoutNow(
  state: AgentState,
  edge: EdgeRuntime,
  work: (repo: { catalog: Catalog; reader: ChunkReader; account: string; onRelaid: (ids: string[], localShards: string[]) => void }) => Promise<RepairReport>,
): Promise<RepairReport> {
  const run = relaying.then(async () => {
    const repo = await openRepo(state, edge.store);
    try {
      const reader = new ChunkReader(edge.store, repo.catalog, repo.ring, edgeShardFetch(edge));
      const account = tenantOf(state.config);
      const relaid: string[] = [];
      const oldLocal: string[] = [];
      const report = await work({ catalog: repo.catalog, reader, account, onRelaid: (ids, local) => void (relaid.push(...ids), oldLocal.push(...local)) });
      if (relaid.length > 0 && account === state.config.name) {
        const node = await edge.ready;
        await commitRelayoutRelease(node, edge.signer, edgeProfile(state.profile, node.members.length).erasure, account, relaid);
        await edge.store.deleteMany(await repo.catalog.unreferencedShards(oldLocal));
      }
      return report;
    } finally {
      await repo.close();
    }
  });
  relaying = run.catch(() => undefined);
  return run;
}

/**
 * Retention in an edge cluster, holding the backup lock: forget, and release the forgotten snapshots'
 * shards through the site ledger (agent/retention/forget.ts, agent/edge/release.ts). On a gateway that
 * migrates, only snapshots whose receipt is kept are forgotten.
 */
export async function forgetNow(state: AgentState, edge: EdgeRuntime, policy: RetentionPolicy, options: Omit<ForgetOptions, 'migrated'> = {}): Promise<ClusterForgetResult> {
  const account = tenantOf(state.config);
  if (account !== state.config.name) {
    throw new BaksaError('EDGE_RELEASE_ACCOUNT', `this gateway's account (${account}) is not its node name (${state.config.name}): the other members could not tell its release notices from a forgery, so its snapshots are kept`, {
      hint: 'edge retention needs the account `agent init` sets (the node name)',
      exitCode: ExitCode.config,
    });
  }
  const node = await edge.ready;
  const lock = options.dryRun ? undefined : await acquireLock(state.paths.lock, 'forget');
  try {
    const repo = await openRepo(state, edge.store);
    try {
      const { erasure } = edgeProfile(state.profile, node.members.length);
      return await forgetInCluster(
        {
          catalog: repo.catalog,
          reader: new ChunkReader(edge.store, repo.catalog, repo.ring, edgeShardFetch(edge)),
          stateRoot: state.paths.root,
          account,
          commit: (release) => commitRelease(node, edge.signer, erasure, release),
          deleteLocal: (shardIds) => edge.store.deleteMany(shardIds),
        },
        policy,
        { ...options, ...(await migrationGate(repo.catalog, state.config.cloud !== undefined)) },
      );
    } finally {
      await repo.close();
    }
  } finally {
    await lock?.release();
  }
}

const policyKeys = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

function policyOf(value: unknown): RetentionPolicy | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') throw badArgs('forget', 'policy must be an object of keep rules');
  const policy: RetentionPolicy = {};
  for (const [key, n] of Object.entries(value)) {
    if (!(policyKeys as readonly string[]).includes(key) || !Number.isSafeInteger(n) || (n as number) < -1) throw badArgs('forget', `policy.${key}: a keep rule (${policyKeys.join(', ')}) of -1 or more`);
    policy[key as (typeof policyKeys)[number]] = n as number;
  }
  return policy;
}

export function daemonControlHandlers(state: AgentState, job: BackupJob, edge: EdgeRuntime): Record<string, ControlHandler> {
  return {
    async backup(args, { emit }) {
      const { type = 'snapshot', force = false } = (args ?? {}) as { type?: unknown; force?: unknown };
      if (type !== 'snapshot' && type !== 'lazy') throw badArgs('backup', 'type must be snapshot or lazy');
      if (typeof force !== 'boolean') throw badArgs('backup', 'force must be true or false');
      return job.request(type as SnapshotType, (event) => emit(event), force);
    },
    async readShard(args) {
      const { node, shardId } = (args ?? {}) as { node?: unknown; shardId?: unknown };
      if (typeof node !== 'string' || typeof shardId !== 'string' || !/^[0-9a-f]{64}$/.test(shardId)) throw badArgs('readShard', 'needs {node, shardId}');
      return edge.readShard(node, shardId);
    },
    async check(args) {
      const { readData, repair } = (args ?? {}) as { readData?: unknown; repair?: unknown };
      await edge.ready;
      const repo = await openRepo(state, edge.store);
      try {
        const options = { readData: readData === true, repair: repair === true, edge: { self: state.config.name, fetch: edgeShardFetch(edge) } };
        if (!options.readData) return await runCheck(repo.catalog, edge.store, repo.ring, options);
        return await withOpeners(repo.ring, state.profile, (open) => runCheck(repo.catalog, edge.store, repo.ring, { ...options, ...(open ? { open } : {}) }));
      } finally {
        await repo.close();
      }
    },
    async repair(_args, { emit, signal }) {
      const node = await edge.ready;
      const gone = node.members.filter((m) => m !== node.self && !node.liveMembers().includes(m));
      return repairNow(state, edge, node, gone, (p) => emit(p), signal);
    },
    async rebalance(_args, { emit, signal }) {
      const node = await edge.ready;
      const down = node.members.filter((m) => !node.liveMembers().includes(m));
      if (down.length > 0) {
        throw new BaksaError('REBALANCE_MEMBERS_DOWN', `rebalance spreads chunks over every member, and ${down.join(', ')} ${down.length === 1 ? 'is' : 'are'} not online`, {
          hint: 'run it when every member is back (`2baksa cluster status`); to rebuild around a member gone for good, run `2baksa cluster repair`',
          exitCode: ExitCode.unavailable,
          details: { down },
        });
      }
      return relayoutNow(state, edge, (repo) => rebalance({ ...repo, node, members: node.members, onProgress: (p) => emit(p), signal }));
    },
    async recordReceipt(args) {
      const { account, snapshotId, receipt } = (args ?? {}) as { account?: unknown; snapshotId?: unknown; receipt?: unknown };
      if (typeof account !== 'string' || typeof snapshotId !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(snapshotId) || !(receipt instanceof Uint8Array) || receipt.length > RECEIPT_BYTES_MAX) {
        throw badArgs('recordReceipt', `needs {account, snapshotId, receipt: at most ${RECEIPT_BYTES_MAX} bytes}`);
      }
      const node = await edge.ready;
      const { erasure } = edgeProfile(state.profile, node.members.length);
      await commitObject(node, account, RECEIPT_RECORD_PREFIX + snapshotId, erasure, receipt);
      return { recorded: true };
    },
    async forget(args) {
      const { policy, dryRun, utc } = (args ?? {}) as { policy?: unknown; dryRun?: unknown; utc?: unknown };
      return forgetNow(state, edge, policyOf(policy) ?? state.profile.retention, { dryRun: dryRun === true, utc: utc === true });
    },
    async admit(args) {
      const { node: name, key } = (args ?? {}) as { node?: unknown; key?: unknown };
      if (typeof name !== 'string' || !isValidSegment(name) || typeof key !== 'string' || !/^[0-9a-f]{64}$/.test(key)) {
        throw badArgs('admit', 'needs {node: a node name, key: 64 hex digits}');
      }
      const node = await edge.ready;
      const { height } = await node.admit(name, new Uint8Array(Buffer.from(key, 'hex')));
      return { node: name, key, height, members: node.members };
    },
    async clusterStatus() {
      const node = edge.node();
      if (!node) {
        const joining = edge.joining();
        return {
          self: state.config.name,
          site: state.config.site,
          joined: false,
          ...(joining ? { joining } : {}),
          members: [
            ...state.config.cluster!.members.map((id) => ({ id, status: 'unknown', self: id === state.config.name, role: 'validator' })),
            // A gateway that joins waits for a validator to admit it (`cluster admit`).
            ...(state.config.cluster!.join ? [{ id: state.config.name, status: 'unknown', self: true, role: 'storage' }] : []),
          ],
        };
      }
      return {
        self: node.self, site: state.config.site, joined: true, quorum: node.quorum(), members: await node.clusterStatus(),
        ...(node.connected() ? {} : { cutOff: state.config.cluster!.broker }),
      };
    },
  };
}
