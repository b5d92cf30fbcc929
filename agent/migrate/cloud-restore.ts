/**
 * Restore from the cloud: for a gateway whose shard store is lost (disk dead, box replaced), the snapshot
 * list and root chunks come from the cluster's records, the chunks from the cluster, and only the keys
 * from the agent's state directory (STATE/keys/root.key: keep a copy of it elsewhere). The local catalog
 * and shard store are not opened at all. The restore itself is the local one (restoreSnapshot), reading
 * through a CloudChunkReader.
 */
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { loadKeyRing, tenantOf, type AgentState } from '../config/index.ts';
import { withOpeners } from '../chunks/open-pool.ts';
import { restoreSnapshot, type RestoreOptions, type RestoreSummary } from '../restore/index.ts';
import { CloudClient, gatewayConnectOptions, type CloudSnapshot, type CloudTarget } from './cloud-client.ts';
import { silentLogger } from '../../shared/log.ts';
import { CloudChunkReader } from './cloud-reader.ts';
import { findByRef } from './plan.ts';

/** A snapshot as the cloud recorded it, in the shape restore and the commands use. */
export interface CloudRestorable {
  id: string;
  rootChunks: string[];
  timeMs: number;
  chunkCount: number;
  recordedMs: number;
}

function restorable(s: CloudSnapshot): CloudRestorable {
  return { id: s.snapshotId, rootChunks: s.rootChunks, timeMs: s.createdMs, chunkCount: s.chunkCount, recordedMs: s.recordedMs };
}

/** The cloud's snapshots of this agent's account, oldest first (by creation time, not by migration order). */
export async function listCloudSnapshots(client: CloudClient): Promise<CloudRestorable[]> {
  return (await client.listSnapshots()).map(restorable).sort((a, b) => a.timeMs - b.timeMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface CloudSource {
  client: CloudClient;
  ring: KeyRing;
  reader: CloudChunkReader;
  snapshot: CloudRestorable;
  close(): void;
}

/** Connects, finds snapshot `ref` (id, prefix or `latest`) in the cloud and opens a reader for its chunks. */
export async function openCloudSource(state: AgentState, ref: string, target: CloudTarget): Promise<CloudSource> {
  const ring = await loadKeyRing(state.paths, state.config);
  const account = tenantOf(state.config);
  const client = await CloudClient.connect(target, account, gatewayConnectOptions(state.paths, silentLogger));
  try {
    const snapshot = findByRef(await listCloudSnapshots(client), ref, `of account ${account} in the cloud`);
    return { client, ring, reader: new CloudChunkReader(client, ring), snapshot, close: () => client.close() };
  } catch (error) {
    client.close();
    throw error;
  }
}

export async function runCloudRestore(state: AgentState, ref: string, target: CloudTarget, options: RestoreOptions): Promise<RestoreSummary<CloudRestorable>> {
  const started = Date.now();
  const source = await openCloudSource(state, ref, target);
  try {
    return await withOpeners(source.ring, state.profile, async (open) => {
      if (open) source.reader.open = open;
      return restoreSnapshot(source.reader, source.snapshot, { ...options, memoryBudgetBytes: options.memoryBudgetBytes ?? state.profile.memoryBudgetBytes }, started);
    });
  } finally {
    source.close();
  }
}
