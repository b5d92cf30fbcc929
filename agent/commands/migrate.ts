/**
 * `2baksa migrate --state DIR --server URL --tls-dir DIR --cert-name NAME [--snapshot ID|latest] [--json]`
 * Moves the snapshots not migrated yet (by the priority class of their profile, oldest first within one),
 * or one, into the cloud; a re-run sends only what the cloud still lacks. Progress on stderr (a bar on a
 * TTY, a line per snapshot otherwise), or `status` JSON lines on stdout under --json, then the summary.
 *
 * `--gone NODE`: on the edge leader for a member that is down for good, migrates that member's snapshots
 * from the shards the live gateways hold (agent/migrate/gone.ts), under its account.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes, parseBytes, printJsonLine, printRecord } from '../../shared/output.ts';
import type { CloudTarget, MigrateProgress, MigrateSummary, SnapshotReceipt } from '../migrate/index.ts';
import { cloudTargetOf, intFlag, stateDirOf, type CloudFlags } from './common.ts';

interface MigrateFlags extends CloudFlags {
  state?: string;
  gone?: string;
  account?: string;
  snapshot?: string;
  parallel?: number;
  bandwidth?: string;
  ignoreWindow?: boolean;
  json?: boolean;
}

interface ProgressView {
  update(p: MigrateProgress): void;
  stop(): void;
}

/** Under --json: a `status` line at each phase and at most every 250 ms between. */
function jsonProgress(): ProgressView {
  let lastMs = 0;
  let lastPhase = '';
  return {
    update: (p) => {
      const now = performance.now();
      if (p.phase === lastPhase && now - lastMs < 250) return;
      lastMs = now;
      lastPhase = p.phase;
      printJsonLine({
        message_type: 'status',
        phase: p.phase,
        snapshot_id: p.snapshotId,
        priority: p.priority,
        snapshot_index: p.snapshotIndex,
        snapshot_count: p.snapshotCount,
        snapshot_chunks: p.snapshotChunks,
        snapshot_chunks_done: p.snapshotChunksDone,
        chunks_sent: p.chunksSent,
        bytes_sent: p.bytesSent,
      });
    },
    stop() {},
  };
}

/** A bar per snapshot on a TTY; elsewhere a line when a snapshot is recorded. */
async function progressView(): Promise<ProgressView> {
  const line = (p: MigrateProgress) =>
    `migrate: snapshot ${p.snapshotId.slice(0, 8)} [${p.priority}] (${p.snapshotIndex} of ${p.snapshotCount}) recorded; ${p.chunksSent} chunks, ${formatBytes(p.bytesSent)} sent so far\n`;
  if (!process.stderr.isTTY) {
    return {
      update: (p) => {
        if (p.phase === 'done') process.stderr.write(line(p));
      },
      stop() {},
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      format: ' snapshot {snap} [{priority}] ({index}/{count}) {phase} {bar} {value}/{total} chunks | {sent_h} sent',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (p) => {
      const payload = { snap: p.snapshotId.slice(0, 8), priority: p.priority, index: p.snapshotIndex, count: p.snapshotCount, phase: p.phase.padEnd(9), sent_h: formatBytes(p.bytesSent) };
      if (!started) {
        bar.start(Math.max(1, p.snapshotChunks), p.snapshotChunksDone, payload);
        started = true;
      }
      bar.setTotal(Math.max(1, p.snapshotChunks));
      bar.update(p.snapshotChunksDone, payload);
      if (p.phase === 'done') {
        bar.stop();
        started = false;
        process.stderr.write(line(p));
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

/** A receipt for printing: the signers by name (their certificates stay in the catalog). */
function receiptJson(r: SnapshotReceipt): Record<string, unknown> {
  const { signatures, ...rest } = r;
  return signatures ? { ...rest, signed_by: signatures.map((s) => s.node) } : rest;
}

function printSummary(s: MigrateSummary, json: boolean): void {
  if (json) {
    printJsonLine({
      message_type: 'summary',
      account: s.account,
      server: s.server,
      snapshots_migrated: s.snapshotsMigrated,
      snapshots_skipped: s.snapshotsSkipped,
      chunks_offered: s.chunksOffered,
      chunks_sent: s.chunksSent,
      chunks_deduplicated: s.chunksDeduplicated,
      site: s.site,
      chunks_proven: s.chunksProven,
      bytes_sent: s.bytesSent,
      seconds: s.seconds,
      mb_per_s: s.megabytesPerSecond,
      snapshots: s.snapshots.map((m) => ({
        snapshot_id: m.snapshotId,
        priority: m.priority,
        status: m.status,
        chunks: m.chunks,
        chunks_sent: m.chunksSent,
        bytes_sent: m.bytesSent,
        receipt: receiptJson(m.receipt),
      })),
    });
    return;
  }
  for (const m of s.snapshots) {
    const r = m.receipt;
    const signed = r.signatures && r.replicas ? `, signed by ${r.signatures.length} of its ${r.replicas} nodes` : '';
    const where = (r.position !== null ? `, position ${r.position} of cluster ${r.cluster}` : ` in cluster ${r.cluster}`) + signed;
    process.stdout.write(
      m.status === 'skipped'
        ? `${m.snapshotId.slice(0, 8)}  ${m.priority.padEnd(6)}  already migrated (recorded ${new Date(r.recordedMs).toISOString()}${where})\n`
        : `${m.snapshotId.slice(0, 8)}  ${m.priority.padEnd(6)}  migrated: ${m.chunks} chunks, ${m.chunksSent} sent (${formatBytes(m.bytesSent)})${where}\n`,
    );
  }
  printRecord(
    {
      account: s.account,
      server: s.server,
      snapshots: `${s.snapshotsMigrated} migrated, ${s.snapshotsSkipped} already there`,
      chunks: `${s.chunksOffered} offered, ${s.chunksSent} sent, ${s.chunksDeduplicated} already in the cloud`,
      ...(s.site !== null ? { proven: `${s.chunksProven} chunks by quorum-certified blocks of site ${s.site}` } : {}),
      sent: formatBytes(s.bytesSent),
      duration: `${s.seconds.toFixed(2)} s`,
      throughput: `${s.megabytesPerSecond.toFixed(2)} MB/s`,
    },
    'table',
  );
}

/** `--bandwidth`: a size per second (256K, 10M, 1.5G) or 0. */
function bandwidthOf(text: string): number {
  const bytes = text.trim() === '0' ? 0 : parseBytes(text);
  if (bytes === undefined || !Number.isFinite(bytes) || bytes < 0) {
    throw new BaksaError('USAGE', `--bandwidth wants a size per second such as 256K or 10M (0 for no cap), got "${text}"`, { hint: 'for example --bandwidth 10M', exitCode: ExitCode.usage });
  }
  return bytes;
}

async function migrateGoneCommand(stateDir: string, target: CloudTarget, opts: MigrateFlags): Promise<void> {
  const { migrateGone } = await import('../migrate/gone.ts');
  const { createLogger } = await import('../../shared/log.ts');
  const s = await migrateGone(stateDir, {
    ...target,
    node: opts.gone!,
    ...(opts.account !== undefined ? { account: opts.account } : {}),
    concurrency: Math.max(1, Math.min(64, opts.parallel ?? 8)),
    logger: createLogger('migrate', process.env.BAKSA_LOG_LEVEL ?? 'warn'),
    onProgress: (p) => {
      if (p.chunksDone === 0) process.stderr.write(`migrate --gone: snapshot ${p.snapshotId.slice(0, 8)} (${p.snapshotIndex} of ${p.snapshotCount}), ${p.chunks} chunks\n`);
    },
  });
  if (opts.json) {
    printJsonLine({
      message_type: 'summary',
      node: s.node,
      account: s.account,
      leader: s.leader,
      server: s.server,
      snapshots_migrated: s.snapshotsMigrated,
      snapshots_skipped: s.snapshotsSkipped,
      snapshots_incomplete: s.snapshotsIncomplete,
      chunks_offered: s.chunksOffered,
      chunks_sent: s.chunksSent,
      chunks_proven: s.chunksProven,
      bytes_sent: s.bytesSent,
      seconds: s.seconds,
      mb_per_s: s.megabytesPerSecond,
      snapshots: s.snapshots.map((m) => ({ snapshot_id: m.snapshotId, time_ms: m.timeMs, chunks: m.chunks, chunks_sent: m.chunksSent, receipt: receiptJson(m.receipt) })),
    });
  } else {
    printRecord(
      {
        gone: `${s.node} (account ${s.account}), migrated by ${s.leader}`,
        server: s.server,
        snapshots: `${s.snapshotsMigrated} migrated, ${s.snapshotsSkipped} already in the cloud (receipt in the site ledger)${s.snapshotsIncomplete.length > 0 ? `, ${s.snapshotsIncomplete.length} with an unreadable descriptor: ${s.snapshotsIncomplete.join(', ')}` : ''}`,
        chunks: `${s.chunksOffered} offered, ${s.chunksSent} rebuilt from peers' shards and sent, ${s.chunksProven} proven by the site ledger`,
        sent: formatBytes(s.bytesSent),
        duration: `${s.seconds.toFixed(2)} s`,
        throughput: `${s.megabytesPerSecond.toFixed(2)} MB/s`,
      },
      'table',
    );
  }
  if (s.snapshotsIncomplete.length > 0) process.exitCode = 1;
}

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('move snapshots into the cloud (the aggregator cluster); a re-run sends only what the cloud lacks')
    .option('--state <dir>', 'agent state directory')
    .option('--server <urls>', 'an aggregator node (https://HOST:PORT), or several of the cluster, comma-separated: tried in turn')
    .option('--tls-dir <dir>', 'PKI directory holding ca.crt and the agent certificate')
    .option('--cert-name <name>', "the agent certificate's name in --tls-dir (the account name)")
    .option('--snapshot <id>', 'migrate only this snapshot (id, id prefix, or latest); default: every one not migrated yet')
    .option('--parallel <n>', 'chunk uploads in flight', intFlag('parallel'), 8)
    .option('--bandwidth <size>', "average upload cap per second, e.g. 256K or 10M; 0 for none (default: the profile's migration.bandwidthBytesPerS)")
    .option('--ignore-window', "migrate now even outside the profile's migration window")
    .option('--gone <node>', "on the edge leader: migrate this dead member's snapshots from the shards the live gateways hold")
    .option('--account <name>', "with --gone: the dead member's account (default: its node name)")
    .option('--json', 'print the summary as JSON')
    .action(async (opts: MigrateFlags) => {
      const stateDir = stateDirOf(opts);
      const target = await cloudTargetOf(opts, 'migrate');
      if (opts.gone !== undefined) return migrateGoneCommand(stateDir, target, opts);
      const { migrate } = await import('../migrate/index.ts');
      const { createLogger } = await import('../../shared/log.ts');
      const view = opts.json ? jsonProgress() : await progressView();
      let summary: MigrateSummary;
      try {
        summary = await migrate(stateDir, {
          ...target,
          ...(opts.snapshot !== undefined ? { snapshot: opts.snapshot } : {}),
          concurrency: Math.max(1, Math.min(64, opts.parallel ?? 8)),
          ...(opts.bandwidth !== undefined ? { bandwidthBytesPerS: bandwidthOf(opts.bandwidth) } : {}),
          ...(opts.ignoreWindow ? { window: null } : {}),
          logger: createLogger('migrate', process.env.BAKSA_LOG_LEVEL ?? 'warn'),
          onProgress: (p) => view.update(p),
        });
      } finally {
        view.stop();
      }
      printSummary(summary, opts.json === true);
    });
}
