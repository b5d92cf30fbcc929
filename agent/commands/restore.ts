/**
 * `2baksa restore SNAPSHOT|latest --state DIR --target DIR [--path P] [--verify] [--json]`
 * `2baksa compare SNAPSHOT|latest --state DIR [--target DIR] [--path P] [--json]`
 * Verify/compare exit codes follow `bbackupquery compare`: 0 same, 1 different (listed), 2 error.
 */
import type { Command } from 'commander';
import { BaksaError } from '../../shared/errors.ts';
import { formatBytes, printJsonLine, printRecord } from '../../shared/output.ts';
import type { AgentState } from '../config/index.ts';
import type { CompareResult } from '../restore/index.ts';
import { stateDirOf } from './common.ts';

interface RestoreFlags {
  state?: string;
  target?: string;
  path?: string;
  verify?: boolean;
  json?: boolean;
}

/** Runs a comparison; returns its exit code (errors become 2). */
async function compare(state: AgentState, ref: string, root: string, path: string | undefined, json: boolean): Promise<number> {
  let result: CompareResult;
  try {
    const { openRepo } = await import('../backup/open.ts');
    const { ChunkReader } = await import('../chunks/index.ts');
    const { openManifest } = await import('../manifest/index.ts');
    const { compareTree, normalizeSelector } = await import('../restore/index.ts');
    const { Excluder } = await import('../sources/glob.ts');
    const repo = await openRepo(state);
    try {
      const snapshot = await repo.catalog.findSnapshot(ref);
      const reader = new ChunkReader(repo.store, repo.catalog, repo.ring);
      const manifest = await openManifest(reader, snapshot.rootChunks);
      const excluder = new Excluder(state.config.excludes);
      result = await compareTree(manifest.entries, repo.ring, reader, {
        root,
        selector: normalizeSelector(path),
        isExcluded: root === '/' ? (p) => excluder.excludes(p) : undefined,
      });
    } finally {
      await repo.close();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (json) printJsonLine({ message_type: 'verify', ok: false, error: message, code: error instanceof BaksaError ? error.code : 'INTERNAL' });
    process.stderr.write(`2baksa: compare failed: ${message}\n`);
    return 2;
  }
  if (json) {
    printJsonLine({ message_type: 'verify', ok: result.differences.length === 0, compared: result.compared, differences: result.differences });
  } else {
    for (const d of result.differences) process.stdout.write(`${d.what.padEnd(10)} ${d.path}${d.detail ? `  (${d.detail})` : ''}\n`);
    process.stdout.write(
      result.differences.length === 0
        ? `compare: ${result.compared} entries, no differences\n`
        : `compare: ${result.compared} entries, ${result.differences.length} differences\n`,
    );
  }
  return result.differences.length === 0 ? 0 : 1;
}

/** A progress bar on a TTY (files and bytes written so far). */
async function restoreBar(): Promise<{ update: (p: { files: number; bytes: number }) => void; stop: () => void }> {
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    { format: ' restoring {files} files, {done} written', stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1, 0, { files: 0, done: '0 B' });
  return { update: (p) => bar.update(0, { files: p.files, done: formatBytes(p.bytes) }), stop: () => bar.stop() };
}

export function registerRestoreCommands(program: Command): void {
  program
    .command('restore <snapshot>')
    .description('restore a snapshot (or --path P of it) into --target, byte-identical with modes and mtimes')
    .option('--state <dir>', 'agent state directory')
    .option('--target <dir>', 'directory to restore into (paths keep their absolute form below it)')
    .option('--path <path>', 'restore only this file or directory of the snapshot')
    .option('--verify', 'compare the restored tree with the snapshot afterwards (exit 1 when different)')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: RestoreFlags) => {
      if (!opts.target) throw new BaksaError('USAGE', 'restore needs --target DIR', { hint: 'add --target DIR', exitCode: 2 });
      const { loadState } = await import('../config/index.ts');
      const { runRestore } = await import('../restore/index.ts');
      const { recordRestore } = await import('../status/record.ts');
      const state = await loadState(stateDirOf(opts));
      const bar = !opts.json && process.stderr.isTTY ? await restoreBar() : undefined;
      let summary;
      try {
        summary = await runRestore(state, ref, {
          target: opts.target,
          ...(opts.path ? { path: opts.path } : {}),
          onProgress: opts.json ? (p) => printJsonLine({ message_type: 'status', ...p }) : bar?.update,
        });
      } finally {
        bar?.stop();
      }
      await recordRestore(state.paths, summary.bytes).catch(() => undefined);
      const record = {
        snapshot: summary.snapshot.id,
        files: summary.files,
        dirs: summary.dirs,
        symlinks: summary.symlinks,
        bytes: summary.bytes,
        duration_s: summary.durationMs / 1000,
      };
      if (opts.json) printJsonLine({ message_type: 'summary', ...record });
      else printRecord({ ...record, bytes: formatBytes(summary.bytes) }, 'table');
      if (opts.verify) process.exitCode = await compare(state, summary.snapshot.id, opts.target, opts.path, opts.json === true);
    });

  program
    .command('compare <snapshot>')
    .description('compare a tree with a snapshot (default: the live sources); exit 0 same, 1 different, 2 error')
    .option('--state <dir>', 'agent state directory')
    .option('--target <dir>', 'a restore target to compare (default: the live source paths)')
    .option('--path <path>', 'compare only this file or directory of the snapshot')
    .option('--json', 'print JSON')
    .action(async (ref: string, opts: RestoreFlags) => {
      const { loadState } = await import('../config/index.ts');
      let state: AgentState;
      try {
        state = await loadState(stateDirOf(opts));
      } catch (error) {
        process.stderr.write(`2baksa: ${(error as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await compare(state, ref, opts.target ?? '/', opts.path, opts.json === true);
    });
}
