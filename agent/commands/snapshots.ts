/** `2baksa snapshots --state DIR [--json|--tsv]`: the snapshots in the catalog, oldest first. */
import type { Command } from 'commander';
import { formatBytes, formatOf, printRows, type Column } from '../../shared/output.ts';
import type { SnapshotRecord } from '../catalog/index.ts';
import { stateDirOf } from './common.ts';

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

export function registerSnapshotsCommand(program: Command): void {
  program
    .command('snapshots')
    .description('list the snapshots')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON (each snapshot with its full id)')
    .option('--tsv', 'print tab-separated values')
    .action(async (opts: { state?: string; json?: boolean; tsv?: boolean }) => {
      const { loadState } = await import('../config/index.ts');
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
