/**
 * `2baksa restore SNAPSHOT|latest --state DIR --target DIR [--path P] [--verify] [--no-sparse] [--json]
 *                [--from local|cloud] [--server URL --tls-dir DIR --cert-name NAME]`
 * `2baksa compare SNAPSHOT|latest --state DIR [--target DIR] [--path P] [--json] [--from local|cloud] [cloud flags]`
 * Verify/compare exit codes follow `bbackupquery compare`: 0 same, 1 different (listed), 2 error.
 * `--from cloud` reads the snapshot list and the chunks from the aggregator cluster (migrated snapshots);
 * only the keys come from the state directory, so it works when the local shard store is gone.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { BaksaError } from '../../shared/errors.ts';
import { formatBytes, printJsonLine, printRecord } from '../../shared/output.ts';
import type { AgentState } from '../config/index.ts';
import type { CloudTarget } from '../migrate/index.ts';
import type { CompareResult, RestoreProgress } from '../restore/index.ts';
import { cloudTargetOf, fromFlag, stateDirOf, type CloudFlags } from './common.ts';
import { shownPath } from '../sources/names.ts';

interface RestoreFlags extends CloudFlags {
  from?: string;
  state?: string;
  target?: string;
  path?: string;
  verify?: boolean;
  /** false with --no-sparse. */
  sparse?: boolean;
  json?: boolean;
}

/** Where the snapshot is read from: the local shard store, or the cloud (`--from cloud`). */
async function sourceOf(opts: RestoreFlags, command: string): Promise<CloudTarget | undefined> {
  if (fromFlag(opts.from) === 'cloud') return cloudTargetOf(opts, `${command} --from cloud`);
  const stray = opts.server !== undefined ? '--server' : opts.tlsDir !== undefined ? '--tls-dir' : opts.certName !== undefined ? '--cert-name' : undefined;
  if (stray) {
    throw new BaksaError('USAGE', `${stray}: only used with --from cloud`, { hint: `add --from cloud to ${command} from the cloud, or leave ${stray} out`, exitCode: 2, details: { field: stray } });
  }
  return undefined;
}

/**
 * Runs a comparison; returns its exit code (errors become 2). `extras`: count entries of the tree that
 * the snapshot lacks (compare does; restore --verify leaves what the target held alone).
 */
async function compare(state: AgentState, ref: string, root: string, path: string | undefined, json: boolean, cloud?: CloudTarget, extras = true): Promise<number> {
  let result: CompareResult;
  try {
    const { openRepo } = await import('../backup/open.ts');
    const { ChunkReader } = await import('../chunks/index.ts');
    const { openManifest } = await import('../manifest/index.ts');
    const { compareTree } = await import('../restore/index.ts');
    const { Excluder } = await import('../sources/glob.ts');
    const { ownPaths } = await import('../backup/run.ts');
    const excluder = new Excluder(state.config.excludes, ownPaths(state));
    // The live tree: sources that are symlinks were backed up as what they link to (sources/scan.ts).
    const followed = root === '/' ? new Set(state.config.sources.map((p) => resolve(p))) : undefined;
    const options = { root, extras, ...(path !== undefined ? { path } : {}), isExcluded: root === '/' ? (p: string) => excluder.excludes(p) : undefined, ...(followed ? { followed } : {}), oneFileSystem: state.config.oneFileSystem === true };
    if (cloud) {
      const { openCloudSource } = await import('../migrate/index.ts');
      const source = await openCloudSource(state, ref, cloud);
      try {
        const manifest = await openManifest(source.reader, source.snapshot.rootChunks);
        result = await compareTree(manifest.entries, source.ring, source.reader, options);
      } finally {
        source.close();
      }
    } else if (state.config.cluster) {
      const { openClusterRepo } = await import('../edge/cli.ts');
      const repo = await openClusterRepo(state);
      try {
        const snapshot = await repo.catalog.findSnapshot(ref);
        const manifest = await openManifest(repo.reader, snapshot.rootChunks);
        result = await compareTree(manifest.entries, repo.ring, repo.reader, options);
      } finally {
        await repo.close();
      }
    } else {
      const repo = await openRepo(state);
      try {
        const snapshot = await repo.catalog.findSnapshot(ref);
        const reader = new ChunkReader(repo.store, repo.catalog, repo.ring);
        const manifest = await openManifest(reader, snapshot.rootChunks);
        result = await compareTree(manifest.entries, repo.ring, reader, options);
      } finally {
        await repo.close();
      }
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (json) printJsonLine({ message_type: 'verify', ok: false, error: message, code: error instanceof BaksaError ? error.code : 'INTERNAL' });
    const known = error instanceof BaksaError ? error : undefined;
    process.stderr.write(`2baksa: compare failed: ${message}${known ? ` [${known.code}]` : ''}\n${known?.hint ? `  what to do: ${known.hint}\n` : ''}`);
    return 2;
  }
  if (json) {
    printJsonLine({ message_type: 'verify', ok: result.differences.length === 0, compared: result.compared, differences: result.differences });
  } else {
    for (const d of result.differences) process.stdout.write(`${d.what.padEnd(10)} ${shownPath(d.path)}${d.detail ? `  (${d.detail})` : ''}\n`);
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
    .option('--verify', 'compare what was restored with the snapshot afterwards (exit 1 when different; other files already in --target are left alone and not counted)')
    .option('--no-sparse', 'write runs of zeros as zeros (by default a chunk of zeros becomes a hole, taking no disk)')
    .option('--json', 'print JSON')
    .option('--from <where>', 'local (the shard store here) or cloud (the aggregator cluster, for migrated snapshots)', 'local')
    .option('--server <urls>', 'with --from cloud: an aggregator node (https://HOST:PORT), or several, comma-separated: tried in turn')
    .option('--tls-dir <dir>', 'with --from cloud: PKI directory holding ca.crt and the agent certificate')
    .option('--cert-name <name>', "with --from cloud: the agent certificate's name in --tls-dir (the account name)")
    .action(async (ref: string, opts: RestoreFlags) => {
      if (!opts.target) throw new BaksaError('USAGE', 'restore needs --target DIR', { hint: 'add --target DIR', exitCode: 2 });
      const cloud = await sourceOf(opts, 'restore');
      const { loadState } = await import('../config/index.ts');
      const { runRestore } = await import('../restore/index.ts');
      const { recordRestore } = await import('../status/record.ts');
      const state = await loadState(stateDirOf(opts));
      const bar = !opts.json && process.stderr.isTTY ? await restoreBar() : undefined;
      let summary;
      try {
        const options = {
          target: opts.target,
          ...(opts.path ? { path: opts.path } : {}),
          sparse: opts.sparse !== false,
          onProgress: opts.json ? (p: RestoreProgress) => printJsonLine({ message_type: 'status', ...p }) : bar?.update,
        };
        if (cloud) {
          const { runCloudRestore } = await import('../migrate/index.ts');
          summary = await runCloudRestore(state, ref, cloud, options);
        } else {
          summary = await runRestore(state, ref, options);
        }
      } finally {
        bar?.stop();
      }
      await recordRestore(state.paths, summary.bytes).catch(() => undefined);
      const record = {
        snapshot: summary.snapshot.id,
        files: summary.files,
        dirs: summary.dirs,
        symlinks: summary.symlinks,
        ...(summary.fifos > 0 ? { fifos: summary.fifos } : {}),
        ...(summary.devices > 0 ? { devices: summary.devices } : {}),
        ...(summary.tempsRemoved ? { temps_removed: summary.tempsRemoved } : {}),
        bytes: summary.bytes,
        duration_s: summary.durationMs / 1000,
      };
      if (opts.json) printJsonLine({ message_type: 'summary', ...record });
      else printRecord({ ...record, bytes: formatBytes(summary.bytes) }, 'table');
      if (opts.verify) process.exitCode = await compare(state, summary.snapshot.id, opts.target, opts.path, opts.json === true, cloud, false);
    });

  program
    .command('compare <snapshot>')
    .description('compare a tree with a snapshot (default: the live sources); exit 0 same, 1 different, 2 error')
    .option('--state <dir>', 'agent state directory')
    .option('--target <dir>', 'a restore target to compare (default: the live source paths)')
    .option('--path <path>', 'compare only this file or directory of the snapshot')
    .option('--json', 'print JSON')
    .option('--from <where>', 'local (the shard store here) or cloud (the aggregator cluster)', 'local')
    .option('--server <urls>', 'with --from cloud: an aggregator node (https://HOST:PORT), or several, comma-separated: tried in turn')
    .option('--tls-dir <dir>', 'with --from cloud: PKI directory holding ca.crt and the agent certificate')
    .option('--cert-name <name>', "with --from cloud: the agent certificate's name in --tls-dir (the account name)")
    .action(async (ref: string, opts: RestoreFlags) => {
      const { loadState } = await import('../config/index.ts');
      let state: AgentState;
      let cloud: CloudTarget | undefined;
      try {
        cloud = await sourceOf(opts, 'compare');
        state = await loadState(stateDirOf(opts));
      } catch (error) {
        process.stderr.write(`2baksa: ${(error as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await compare(state, ref, opts.target ?? '/', opts.path, opts.json === true, cloud);
    });
}
