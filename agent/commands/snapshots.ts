/**
 * `2baksa snapshots --state DIR [--json|--tsv]`: the snapshots in the catalog, oldest first.
 * `2baksa snapshots --state DIR --from cloud --server URL --tls-dir DIR --cert-name NAME [--json|--tsv]`:
 * the snapshots migrated to the cloud for this agent's account (what `restore --from cloud` can restore).
 */
import type { Command } from 'commander';
import { formatBytes, formatOf, printRows, type Column } from '../../shared/output.ts';
import type { SnapshotRecord } from '../catalog/index.ts';
import type { CloudRestorable } from '../migrate/index.ts';
import { cloudTargetOf, fromFlag, stateDirOf, type CloudFlags } from './common.ts';

const columns: Column<SnapshotRecord>[] = [
  { header: 'ID', value: (s) => s.id.slice(0, 8) },
  { header: 'Time', value: (s) => new Date(s.timeMs).toISOString().replace('T', ' ').slice(0, 19) },
  { header: 'Type', value: (s) => s.type },
  { header: 'Host', value: (s) => s.host },
  { header: 'Files', value: (s) => s.fileCount, align: 'right' },
  { header: 'Size', value: (s) => formatBytes(s.bytes), align: 'right' },
  { header: 'Added', value: (s) => formatBytes(s.storedNew), align: 'right' },
  { header: 'Paths', value: (s) => s.paths.join(' ') },
];

const cloudColumns: Column<CloudRestorable>[] = [
  { header: 'ID', value: (s) => s.id.slice(0, 8) },
  { header: 'Time', value: (s) => new Date(s.timeMs).toISOString().replace('T', ' ').slice(0, 19) },
  { header: 'Chunks', value: (s) => s.chunkCount, align: 'right' },
  { header: 'Migrated', value: (s) => new Date(s.recordedMs).toISOString().replace('T', ' ').slice(0, 19) },
];

export function registerSnapshotsCommand(program: Command): void {
  program
    .command('snapshots')
    .description('list the snapshots')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON (each snapshot with its full id)')
    .option('--tsv', 'print tab-separated values')
    .option('--from <where>', 'local (the catalog here) or cloud (the snapshots migrated to the aggregator cluster)', 'local')
    .option('--server <urls>', 'with --from cloud: an aggregator node (https://HOST:PORT), or several, comma-separated: tried in turn')
    .option('--tls-dir <dir>', 'with --from cloud: PKI directory holding ca.crt and the agent certificate')
    .option('--cert-name <name>', "with --from cloud: the agent certificate's name in --tls-dir (the account name)")
    .action(async (opts: CloudFlags & { state?: string; json?: boolean; tsv?: boolean; from?: string }) => {
      const { loadState } = await import('../config/index.ts');
      if (fromFlag(opts.from) === 'cloud') {
        const target = await cloudTargetOf(opts, 'snapshots --from cloud');
        const { tenantOf } = await import('../config/index.ts');
        const { CloudClient, listCloudSnapshots } = await import('../migrate/index.ts');
        const state = await loadState(stateDirOf(opts));
        const client = await CloudClient.connect(target, tenantOf(state.config));
        try {
          const list = await listCloudSnapshots(client);
          printRows(list, cloudColumns, formatOf(opts), (rows) =>
            rows.map((s) => ({
              id: s.id,
              short_id: s.id.slice(0, 8),
              time: new Date(s.timeMs).toISOString(),
              chunk_count: s.chunkCount,
              migrated: new Date(s.recordedMs).toISOString(),
              root_chunks: s.rootChunks,
            })),
          );
        } finally {
          client.close();
        }
        return;
      }
      const { Catalog } = await import('../catalog/index.ts');
      const state = await loadState(stateDirOf(opts));
      const catalog = await Catalog.open(state.paths.catalog);
      try {
        const list = await catalog.listSnapshots();
        printRows(list, columns, formatOf(opts), (rows) =>
          rows.map((s) => ({
            id: s.id,
            short_id: s.id.slice(0, 8),
            time: new Date(s.timeMs).toISOString(),
            type: s.type,
            host: s.host,
            paths: s.paths,
            file_count: s.fileCount,
            bytes: s.bytes,
            bytes_new: s.bytesNew,
            stored_new: s.storedNew,
            skipped: s.skipped,
            duration_ms: s.durationMs,
            root_chunks: s.rootChunks,
          })),
        );
      } finally {
        await catalog.close();
      }
    });
}
