/** What every route handler works with: the node's account database, operations, sinks and readers. */
import type { Registry } from 'prom-client';
import type { Database } from '../../shared/db/index.ts';
import type { AccountOps } from '../accounts/ops.ts';
import type { StorageNodes, VolumeUsage } from '../reports/space.ts';
import type { LedgerReader } from './ledger-reader.ts';
import type { ObjectSink } from './object-sink.ts';

export interface ApiContext {
  db: Database;
  ops: AccountOps;
  sink: ObjectSink;
  ledger: LedgerReader | undefined;
  now: () => number;
  backupBytesMax: number;
  defaultCluster: string | undefined;
  /** The region this cluster keeps its data in (data residency); undefined: it names none. */
  region: string | undefined;
  /** Physical volume usage for space reports: the sink's, plus what the database records. */
  volumes: () => Promise<VolumeUsage[]>;
  /** Every node of this cluster that keeps volumes (a space report by node lists each one). */
  storageNodes?: StorageNodes;
  registry: Registry;
}
