/**
 * Migrating a dead gateway's snapshots from the shards its peers hold (DESIGN §6).
 *
 * The edge leader for a gone member is the first live member in the rendezvous order of its name
 * (shared/placement coordinatorOrder), so one gateway takes it on, and the next one if that dies too.
 * It reads the site ledger it keeps for the gone gateway's account: the snapshot descriptors
 * (agent/edge/descriptor.ts) name each snapshot's chunks, their lengths and its root chunks, and the
 * records say where every shard is. Per snapshot, oldest first: offer the chunks under the gone
 * gateway's account, prove the needed ones with the blocks that committed them (the cloud lets a gateway
 * act for another account of its site only so), rebuild each needed sealed object from any k shards on
 * the live members (read through the daemon, hash-checked), upload it (several to a request), and record
 * the snapshot.
 *
 * Nothing here needs the gone gateway's keys: what travels is ciphertext, and its owner restores it with
 * its keys (`restore --from cloud`). Each quorum-signed receipt is recorded in the site ledger, and a
 * snapshot whose receipt the ledger already holds is skipped. A run that stops is run again: the cloud
 * answers what it still lacks.
 */
import { createHash } from 'node:crypto';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { encodeEdgeProof } from '../../shared/ledger/edge-proof.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { coordinatorOrder } from '../../shared/placement/index.ts';
import { loadState } from '../config/index.ts';
import { decodeDescriptor, type SnapshotDescriptor } from '../edge/descriptor.ts';
import { ControlClient, controlSocketPath } from '../edge/control.ts';
import { ObjectReader } from '../edge/objects.ts';
import { clusterStatusThroughDaemon } from '../edge/cli.ts';
import { Limiter } from '../util/limiter.ts';
import {
  CLOUD_BATCH_MAX,
  CloudClient,
  gatewayConnectOptions,
  UPLOAD_BATCH_BYTES_MAX,
  UPLOAD_BATCH_CHUNKS_MAX,
  batches,
  checkReceiptSignatures,
  sizedGroups,
  type ChunkOffer,
  type CloudTarget,
  type SnapshotReceipt,
} from './cloud-client.ts';
import { loadTlsMaterial } from '../../shared/crypto/pki-read.ts';
import { EdgeProver } from './edge-proofs.ts';
import { megabytesPerSecond } from './plan.ts';

export interface MigrateGoneOptions extends CloudTarget {
  /** The gone member (its node name). */
  node: string;
  /** Its account (default: the node name, as `agent init` sets it). */
  account?: string;
  logger?: Logger;
  onProgress?: (p: GoneProgress) => void;
  /** Uploads in flight (default 4). */
  concurrency?: number;
}

export interface GoneProgress {
  snapshotId: string;
  snapshotIndex: number;
  snapshotCount: number;
  chunks: number;
  chunksDone: number;
  bytesSent: number;
}

export interface GoneSnapshot {
  snapshotId: string;
  timeMs: number;
  chunks: number;
  chunksSent: number;
  receipt: SnapshotReceipt;
}

export interface GoneSummary {
  node: string;
  account: string;
  /** This gateway: the leader for `node`. */
  leader: string;
  server: string;
  snapshotsMigrated: number;
  /** Snapshots whose cloud receipt the site ledger already records: not offered again. */
  snapshotsSkipped: number;
  /** Snapshots whose descriptor cannot be read whole (a part unreadable or missing): not migrated. */
  snapshotsIncomplete: string[];
  chunksOffered: number;
  chunksSent: number;
  chunksProven: number;
  bytesSent: number;
  seconds: number;
  megabytesPerSecond: number;
  snapshots: GoneSnapshot[];
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/**
 * The gone members whose leader `self` is: each member in `gone` that is not live, whose rendezvous order
 * among the live members starts with `self`. (The daemon asks this each turn; `migrateGone` checks it again.)
 */
export function goneLedBy(self: string, gone: readonly string[], live: readonly string[]): string[] {
  return gone.filter((node) => !live.includes(node) && leaderOf(node, live) === self);
}

/** The leader for a gone member: the first live member in the rendezvous order of its name. */
function leaderOf(gone: string, live: readonly string[]): string | undefined {
  return coordinatorOrder(gone, live.map((id) => ({ id })))[0];
}
const PROOF_IDS_PER_CALL = 512;

/** Reads the gone gateway's objects (chunks, descriptors) from their shards on the live members. */
class ShardSource {
  private readonly objects: ObjectReader;

  constructor(
    control: ControlClient,
    private readonly prover: EdgeProver,
    private readonly gone: string,
  ) {
    this.objects = new ObjectReader((node, shardId) => control.call<Uint8Array>('readShard', { node, shardId }));
  }

  /** Object `id` (`length` bytes; undefined: the whole zero-padded data shards), from the newest record whose shards can be read. */
  async read(id: string, length?: number): Promise<Uint8Array> {
    const problems: string[] = [];
    for (const record of this.prover.versions(id)) {
      try {
        return await this.objects.fromRecord(record, id, length, this.gone);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    throw new BaksaError('GONE_OBJECT_UNREADABLE', `object ${id.slice(0, 12)} of ${this.gone}: ${problems.length > 0 ? problems.join('; ') : 'no block of the site ledger holds it'}`, {
      exitCode: ExitCode.data,
      hint: "bring more of the site's gateways back up (any k of an object's shards are needed), then run it again",
      details: { id },
    });
  }
}

/** The gone gateway's snapshots from their descriptors, parts assembled, oldest first; and those that cannot be. */
async function snapshotsOf(prover: EdgeProver, source: ShardSource, logger: Logger): Promise<{ complete: SnapshotDescriptor[]; incomplete: string[] }> {
  const parts = new Map<string, Map<number, SnapshotDescriptor>>();
  const incomplete = new Set<string>();
  const released = prover.released();
  for (const d of prover.descriptors()) {
    if (released.has(d.snapshotId)) continue; // forgotten by its gateway: its chunks are freed
    try {
      const padded = await source.read(d.id);
      const descriptor = decodeDescriptor(padded);
      const length = new DataView(padded.buffer, padded.byteOffset, 4).getUint32(0) + 4;
      if (!sha256(padded.subarray(0, length)).equals(Buffer.from(d.id, 'hex')) || descriptor.snapshotId !== d.snapshotId) {
        throw new Error('its bytes are not the ones the ledger committed');
      }
      let byPart = parts.get(descriptor.snapshotId);
      if (!byPart) parts.set(descriptor.snapshotId, (byPart = new Map()));
      byPart.set(descriptor.part, descriptor);
    } catch (error) {
      logger.warn({ snapshotId: d.snapshotId, error: (error as Error).message }, 'a snapshot descriptor cannot be read');
      incomplete.add(d.snapshotId);
    }
  }
  const complete: SnapshotDescriptor[] = [];
  for (const [snapshotId, byPart] of parts) {
    const first = byPart.get(0);
    if (!first || byPart.size !== first.parts || incomplete.has(snapshotId)) {
      incomplete.add(snapshotId);
      continue;
    }
    const chunks = [...byPart.values()].sort((a, b) => a.part - b.part).flatMap((p) => p.chunks);
    complete.push({ ...first, chunks, part: 0, parts: 1 });
  }
  complete.sort((a, b) => a.timeMs - b.timeMs || (a.snapshotId < b.snapshotId ? -1 : 1));
  return { complete, incomplete: [...incomplete] };
}

/** Migrates the snapshots of the gone member `options.node` from this gateway (its leader) to the cloud. */
export async function migrateGone(stateDir: string, options: MigrateGoneOptions): Promise<GoneSummary> {
  const started = performance.now();
  const logger = options.logger ?? silentLogger;
  const state = await loadState(stateDir);
  const cluster = state.config.cluster;
  const self = state.config.name;
  const gone = options.node;
  if (!cluster) {
    throw new BaksaError('EDGE_NOT_CLUSTER', `${self} is not in an edge cluster: there are no peers' snapshots to migrate`, { exitCode: ExitCode.usage, hint: 'migrate --gone runs on a gateway of the dead one\'s site' });
  }
  if (!cluster.members.includes(gone) || gone === self) {
    throw new BaksaError('USAGE', `--gone ${gone}: not another member of site ${state.config.site} (${cluster.members.join(', ')})`, { exitCode: ExitCode.usage, hint: 'name a member of this cluster other than this gateway' });
  }
  const status = await clusterStatusThroughDaemon(state);
  const live = status.members.filter((m) => m.status === 'online').map((m) => m.id);
  if (live.includes(gone)) {
    throw new BaksaError('GONE_IS_ONLINE', `${gone} is online: it migrates its own snapshots`, { exitCode: ExitCode.usage, hint: 'migrate --gone is for a gateway that is down for good' });
  }
  const leader = leaderOf(gone, live);
  if (leader !== self) {
    throw new BaksaError('NOT_EDGE_LEADER', `${leader ?? 'no live gateway'} is the leader for ${gone}'s snapshots, not ${self}`, {
      exitCode: ExitCode.usage,
      hint: leader ? `run it on ${leader}` : 'bring the cluster up first',
      details: { leader },
    });
  }
  const account = options.account ?? gone;
  const prover = await EdgeProver.open(state.paths.root, state.config.site, account, logger);
  const control = await ControlClient.connect(controlSocketPath(state.paths.root));
  let client: CloudClient | undefined;
  try {
    const source = new ShardSource(control, prover, gone);
    const { complete, incomplete } = await snapshotsOf(prover, source, logger);
    client = await CloudClient.connect(options, account, gatewayConnectOptions(state.paths, logger));
    const caPem = loadTlsMaterial(options.tlsDir, options.certName).ca;
    const totals = { chunksOffered: 0, chunksSent: 0, chunksProven: 0, bytesSent: 0 };
    const uploads = new Limiter(options.concurrency ?? 4);
    const inCloud = new Set<string>();
    const snapshots: GoneSnapshot[] = [];
    const receipted = prover.receipts();
    const todo = complete.filter((d) => !receipted.has(d.snapshotId));
    for (const [i, d] of todo.entries()) {
      const before = totals.chunksSent;
      const progress = { snapshotId: d.snapshotId, snapshotIndex: i + 1, snapshotCount: todo.length, chunks: d.chunks.length, chunksDone: 0, bytesSent: totals.bytesSent };
      options.onProgress?.({ ...progress });
      for (const batch of batches(d.chunks.filter((c) => !inCloud.has(c.id)), CLOUD_BATCH_MAX)) {
        const answer = await client.offer(batch.map((c) => ({ id: c.id, length: c.length, sealedLength: c.sealedLength })));
        totals.chunksOffered += batch.length;
        const need = new Set(answer.need);
        for (const c of batch) if (!need.has(c.id)) inCloud.add(c.id);
        if (answer.site !== state.config.site) {
          throw new BaksaError('EDGE_SITE_UNKNOWN', `the cloud does not bind account ${account} to site ${state.config.site} (${answer.site ?? 'to no site'}): a peer may migrate it only then`, {
            exitCode: ExitCode.config,
            hint: `an administrator registers the site: 2baksa sites register ${state.config.site} --validators STATE/edge/ledger/validators.json`,
          });
        }
        for (const ids of batches([...need], PROOF_IDS_PER_CALL)) {
          const { proof } = prover.prove(ids);
          if (proof) totals.chunksProven += await client.proveEdge(encodeEdgeProof(proof));
        }
        // Several chunks a request (the cloud checks and refuses each on its own); a refusal fails the run,
        // which is run again.
        await Promise.all(
          sizedGroups(batch.filter((c) => need.has(c.id)), UPLOAD_BATCH_CHUNKS_MAX, UPLOAD_BATCH_BYTES_MAX).map((group) =>
            uploads.run(async () => {
              // A group's chunks are rebuilt side by side (each a round trip to the peers through the daemon).
              const items: Array<{ offer: ChunkOffer; sealed: Uint8Array }> = await Promise.all(group.map(async (c) => {
                const sealed = await source.read(c.id, c.sealedLength);
                return { offer: { id: c.id, length: c.length, sealedLength: c.sealedLength, sha256: sha256(sealed).toString('hex') }, sealed };
              }));
              const outcomes = await client!.putChunks(items);
              outcomes.forEach((outcome, i) => {
                if (outcome instanceof BaksaError) throw outcome;
                inCloud.add(items[i]!.offer.id);
                totals.chunksSent++;
                totals.bytesSent += items[i]!.sealed.length;
              });
              options.onProgress?.({ ...progress, chunksDone: (progress.chunksDone += items.length), bytesSent: totals.bytesSent });
            }),
          ),
        );
      }
      const receipt = await client.putSnapshot(d.snapshotId, { createdMs: d.timeMs, rootChunks: d.rootChunks, chunks: d.chunks.map((c) => c.id) });
      await checkReceiptSignatures(receipt, caPem);
      await control.call('recordReceipt', { account, snapshotId: d.snapshotId, receipt: new TextEncoder().encode(JSON.stringify(receipt)) });
      logger.info({ node: gone, snapshotId: d.snapshotId, chunks: d.chunks.length, chunksSent: totals.chunksSent - before }, "a gone gateway's snapshot migrated");
      snapshots.push({ snapshotId: d.snapshotId, timeMs: d.timeMs, chunks: d.chunks.length, chunksSent: totals.chunksSent - before, receipt });
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      node: gone,
      account,
      leader: self,
      server: options.server,
      snapshotsMigrated: snapshots.length,
      snapshotsSkipped: complete.length - todo.length,
      snapshotsIncomplete: incomplete,
      ...totals,
      seconds,
      megabytesPerSecond: megabytesPerSecond(totals.bytesSent, seconds),
      snapshots,
    };
  } finally {
    client?.close();
    await control.close();
  }
}
