import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { formatOf, printRecord } from '../../shared/output.ts';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
export const VERSION: string = pkg.version;

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the version of 2baksa and of the runtime')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      printRecord(
        { version: VERSION, node: process.versions.node, platform: `${process.platform}-${process.arch}` },
        formatOf(opts),
      );
    });
}
