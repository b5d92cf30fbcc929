/**
 * `2baksa aggregator init|run|status`: write a local cluster's configs and certificates, run one node,
 * and ask a running node how it is. Heavy modules (PBFT, fastify, sqlite) load inside the actions.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { listenForStop } from '../../shared/stop-signal.ts';
import { formatBytes, formatOf, printJsonLine, printRecord, printRows } from '../../shared/output.ts';
import { intFlag, nodeRequest, outputOptions, targetOptions, type CommonFlags } from './common.ts';

interface InitFlags extends CommonFlags {
  dir: string;
  nodes: string;
  cluster?: string;
  region?: string;
  domain?: string;
  host?: string;
  basePort?: string;
  racks?: string;
  adminContact?: string;
}

export function registerAggregator(program: Command): void {
  const aggregator = program.command('aggregator').description('the data-center cluster: write a local cluster, run a node');

  outputOptions(aggregator.command('init'))
    .description('write configs, keys and certificates for a local cluster of N nodes (one directory per node)')
    .requiredOption('--dir <dir>', 'an empty directory for the cluster')
    .option('--nodes <n>', 'number of nodes (3f+1: 4 tolerate one faulty node)', '4')
    .option('--cluster <name>', 'cluster name')
    .option('--domain <domain>', 'domain of the node names (node i is agg<i>.<domain>)')
    .option('--host <host>', 'address every node listens on and is reached at')
    .option('--base-port <port>', 'replicas listen on base..base+N-1, the API on base+100.., MQTT on base+200')
    .option('--racks <n>', 'racks to spread the nodes over (round-robin)')
    .option('--region <name>', 'the region the cluster keeps its data in (data residency: accounts that list regions are stored only in one of theirs)')
    .option('--admin-contact <contact>', 'the backup administrator alerts go to')
    .action(async (flags: InitFlags) => {
      const { initCluster } = await import('../node/init.ts');
      const format = formatOf(flags);
      const result = await initCluster({
        dir: flags.dir,
        nodes: intFlag('nodes', flags.nodes, 1, 64),
        ...(flags.cluster ? { cluster: flags.cluster } : {}),
        ...(flags.domain ? { domain: flags.domain } : {}),
        ...(flags.host ? { host: flags.host } : {}),
        ...(flags.basePort ? { basePort: intFlag('base-port', flags.basePort, 1024, 65335) } : {}),
        ...(flags.racks ? { racks: intFlag('racks', flags.racks, 1, 64) } : {}),
        ...(flags.adminContact ? { adminContact: flags.adminContact } : {}),
        ...(flags.region ? { region: flags.region } : {}),
        onProgress: (what) => {
          if (format !== 'json') process.stderr.write(`  ${what}\n`);
        },
      });
      if (format === 'json') return printRecord(result as unknown as Record<string, unknown>, format);
      printRows(result.nodes, [
        { header: 'NODE', value: (n) => n.name },
        { header: 'RACK', value: (n) => n.rack },
        { header: 'REPLICA PORT', value: (n) => n.replicaPort, align: 'right' },
        { header: 'API', value: (n) => n.apiUrl },
        { header: 'MQTT', value: (n) => n.mqttUrl },
        { header: 'CONFIG', value: (n) => n.config },
      ], format);
      process.stdout.write(
        `\nMQTT for agents (one endpoint on each node; give agents the list): --broker ${result.mqttUrl}\n` +
          `  an agent shows its account's certificate: 2baksa pki issue --dir ${result.pkiDir} --name ACCOUNT --role agent, then agent init … --tls-dir DIR\n` +
          `monitor key for agents: --monitor-key ${result.monitorPublicKey}\n` +
          `admin commands: --server ${result.nodes[0]!.apiUrl} --tls-dir ${result.pkiDir} --cert-name ${result.certificates.admin}\n` +
          `start each node: 2baksa aggregator run --config ${result.nodes[0]!.config}\n`,
      );
    });

  outputOptions(aggregator.command('run'))
    .description('run one aggregator node until SIGTERM/SIGINT (PBFT replica, account database, monitor, REST API)')
    .requiredOption('--config <file>', 'the node config (DIR/<node>/node.json from `aggregator init`)')
    .action(async (flags: CommonFlags & { config: string }) => {
      const { loadNodeConfig } = await import('../node/config.ts');
      const { AggregatorNode } = await import('../node/node.ts');
      const { SERVER_HEAP_GROWING_PERCENT, setHeapGrowingPercent } = await import('../../shared/heap-growth.ts');
      setHeapGrowingPercent(SERVER_HEAP_GROWING_PERCENT);
      const config = await loadNodeConfig(flags.config);
      const stop = listenForStop();
      let node: Awaited<ReturnType<typeof AggregatorNode.start>>;
      try {
        node = await AggregatorNode.start(config);
      } catch (error) {
        stop.dispose();
        throw error;
      }
      if (formatOf(flags) === 'json') printJsonLine({ event: 'ready', pid: process.pid, ...(await node.status()) });
      else process.stdout.write(`aggregator node ${config.node} running: API ${node.apiUrl}, MQTT ${node.mqttUrl}\n`);
      await stop.requested;
      await node.stop();
      stop.stopped();
      if (formatOf(flags) === 'json') printJsonLine({ event: 'stopped', node: config.node });
    });

  outputOptions(targetOptions(aggregator.command('scrub')))
    .description("scrub the node's share of objects now: read every shard, verify, heal (admin certificate)")
    .action(async (flags: CommonFlags) => {
      const report = await nodeRequest(flags, 'POST', '/v1/node/scrub');
      const format = formatOf(flags);
      if (format === 'table') printScrubReport(report);
      else printRecord(report, format);
      if (Array.isArray(report.failed) && report.failed.length > 0) process.exitCode = 1;
    });

  outputOptions(targetOptions(aggregator.command('sweep')))
    .description("count the shards on a node that no stored object names (left by a node that was down during a deletion, or by an upload cut off before its record); --delete frees them (admin certificate)")
    .option('--delete', 'free them (without it, only count)')
    .option('--grace <duration>', 'keep shards written less than this long ago, e.g. 3600, 90m, 24h, 7d (default 24h)')
    .action(async (flags: CommonFlags & { delete?: boolean; grace?: string }) => {
      const graceS = flags.grace === undefined ? undefined : durationSeconds('--grace', flags.grace);
      const report = await nodeRequest(flags, 'POST', '/v1/node/sweep', { delete: flags.delete === true, ...(graceS !== undefined ? { graceS } : {}) });
      const format = formatOf(flags);
      if (format !== 'table') return printRecord(report, format);
      const n = (v: unknown) => (typeof v === 'number' ? v : 0);
      process.stdout.write(
        `${String(report.node)}: ${n(report.shards)} shards, ${n(report.named)} named by stored objects or queued chunks, ${n(report.recent)} unnamed but written in the last ${formatSeconds(n(report.graceS))}\n` +
          (report.dryRun
            ? `${n(report.unnamed)} unnamed and older (${formatBytes(n(report.unnamedBytes))}): run again with --delete to free them\n`
            : `${n(report.freed)} of ${n(report.unnamed)} unnamed and older freed (${formatBytes(n(report.unnamedBytes))})\n`),
      );
    });

  outputOptions(targetOptions(aggregator.command('status')))
    .description("a node's consensus and account-database state, through its API")
    .action(async (flags: CommonFlags) => {
      const status = await nodeRequest(flags, 'GET', '/v1/node');
      const format = formatOf(flags);
      printRecord(format === 'table' ? humanStatus(status) : status, format);
    });
}

interface ScrubVolume {
  path?: string;
  shards?: number;
  usedBytes?: number;
  freeBytes?: number;
  totalBytes?: number;
}

/** A scrub report for people: times as times, sizes in units, one line per volume and per failure (--json has it all). */
function printScrubReport(report: Record<string, unknown>): void {
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  const failed = Array.isArray(report.failed) ? (report.failed as Array<{ account?: number; objectId?: string; error?: string }>) : [];
  const volumes = Array.isArray(report.volumes) ? (report.volumes as ScrubVolume[]) : [];
  printRecord({
    started: typeof report.startedMs === 'number' ? new Date(report.startedMs).toISOString() : '?',
    duration: `${(n(report.durationMs) / 1000).toFixed(2)} s`,
    objects: `${n(report.objects)} read of the ${n(report.owned)} this node owns`,
    shards: `${n(report.shardsChecked)} checked, ${n(report.shardsHealed)} healed, ${n(report.shardsRespread)} moved to another node`,
    failed: failed.length === 0 ? 'none' : `${failed.length}`,
  }, 'table');
  for (const f of failed) process.stdout.write(`  failed: account ${f.account ?? '?'} object ${f.objectId ?? '?'}: ${f.error ?? ''}\n`);
  for (const v of volumes) {
    const total = v.totalBytes !== undefined ? ` of ${formatBytes(v.totalBytes)}` : '';
    process.stdout.write(`volume ${v.path ?? '?'}: ${n(v.shards)} shards, ${formatBytes(n(v.usedBytes))} used, ${formatBytes(n(v.freeBytes))} free${total}\n`);
  }
}

/** `aggregator status` for people: the last scrub in a sentence, the connected peers as a list. */
function humanStatus(status: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...status };
  const scrub = status.lastScrub as { startedMs?: number; objects?: number; shardsChecked?: number; shardsHealed?: number; failed?: number } | null | undefined;
  out.lastScrub = scrub
    ? `${typeof scrub.startedMs === 'number' ? new Date(scrub.startedMs).toISOString() : '?'}: ${scrub.objects ?? 0} objects, ` +
      `${scrub.shardsChecked ?? 0} shards checked, ${scrub.shardsHealed ?? 0} healed, ${scrub.failed ?? 0} failed`
    : 'none yet';
  if (Array.isArray(status.peersConnected)) out.peersConnected = status.peersConnected.length === 0 ? 'none' : status.peersConnected.join(', ');
  if (Array.isArray(status.replicas)) out.replicas = status.replicas.join(', ');
  if (status.region === null) out.region = '(none: accounts that list regions are refused)';
  return out;
}

/** "3600", "90m", "24h", "7d" → seconds; anything else is a usage error naming the flag. */
function durationSeconds(flag: string, text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]! : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds > 365 * 86_400) {
    throw new BaksaError('INVALID_ARGUMENT', `${flag}: "${text}" is not a duration of at most a year`, { exitCode: ExitCode.usage, hint: `give seconds or a number with s, m, h or d, e.g. ${flag} 24h` });
  }
  return seconds;
}

const formatSeconds = (s: number): string => (s % 86_400 === 0 && s > 0 ? `${s / 86_400} d` : s % 3600 === 0 && s > 0 ? `${s / 3600} h` : s % 60 === 0 && s > 0 ? `${s / 60} min` : `${s} s`);

