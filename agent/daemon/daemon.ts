/**
 * `agent run`: the long-running agent. It writes STATE/daemon.pid, starts the MQTT sensor capture and the
 * telemetry (heartbeat + events), and triggers backups: on the profile's cron schedule (snapshot mode,
 * node-cron) or every scan interval for settled files (lazy mode, like Box Backup's). SIGTERM/SIGINT stop
 * it cleanly: the running backup is cancelled (rolled back), capture files closed, Deregister published.
 * With agent.json `cloud` it migrates to the aggregator cluster by itself, inside the profile's window,
 * and takes the cluster's certificate revocation list into its TLS directories on each turn.
 * In an edge cluster (agent.json `cluster`) it is also the gateway's member of the site (agent/edge):
 * it owns the shard store and the MQTT session, runs the backups, and serves the CLI on STATE/agent.sock;
 * it rebuilds its shards around members gone longer than `cluster.repairAfterS` and, with `cloud`,
 * migrates the snapshots of those gone members it leads from the shards the live members hold; it frees
 * the shards its members' retention releases through the site ledger.
 */
import { readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { IClientOptions } from 'mqtt';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import { readKeyFile } from '../../shared/crypto/key-file.ts';
import { loadTlsMaterial, tlsClientOptions } from '../../shared/crypto/pki.ts';
import { signingKeyFromSeed } from '../../shared/crypto/sign.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { listenForStop } from '../../shared/stop-signal.ts';
import { restartedByParent, SAME_SIGNAL_MS } from './runtime.ts';
import { processAlive, processStartTicks } from '../../shared/process-lock.ts';
import { gatewayCertificate, loadState, telemetryCertificate, tenantOf, type AgentState } from '../config/index.ts';
import { join, resolve } from 'node:path';
import { SensorCapture } from '../sources/capture.ts';
import { TelemetryPublisher, type TelemetryEventName } from '../telemetry/index.ts';
import { BackupJob } from './jobs.ts';
import { HeartbeatCounters } from './counters.ts';
import { Housekeeping } from './housekeeping.ts';
import { readStatus, stoppedByOperator } from '../status/record.ts';
import { startEdgeRuntime, type EdgeRuntime } from '../edge/runtime.ts';
import { controlSocketPath, startControlServer } from '../edge/control.ts';
import { daemonControlHandlers, forgetNow, repairNow } from './control.ts';
import { RELEASE_RECORD_PREFIX, ReleaseApplier } from '../edge/release.ts';

/** A member offline this long is gone (cluster.repairAfterS overrides it). */
const DEFAULT_REPAIR_AFTER_S = 3600;
const REPAIR_CHECK_MS = 60_000;
/** A release notice not readable yet (its shards still being committed, members down) is tried again after this, doubling up to the max. */
const RELEASE_RETRY_MS = 2_000;
const RELEASE_RETRY_MS_MAX = 60_000;
/** How often the daemon migrates when agent.json `cloud.intervalS` does not say. */
const DEFAULT_MIGRATE_INTERVAL_S = 900;

export interface DaemonOptions {
  /** Resolves when the daemon should stop (default: SIGTERM or SIGINT). */
  stopSignal?: Promise<void>;
  logger?: Logger;
  /** Embed the site broker on this port (edge cluster mode). */
  brokerListen?: { port: number; host: string };
}

export interface RunningDaemon {
  state: AgentState;
  job: BackupJob;
  telemetry: TelemetryPublisher | undefined;
  capture: SensorCapture | undefined;
  /** The edge cluster member (cluster mode). */
  edge: EdgeRuntime | undefined;
  stop(): Promise<void>;
}

const agentVersion = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

async function claimPidFile(path: string): Promise<void> {
  try {
    const held = JSON.parse(await readFile(path, 'utf8')) as { pid: number; startTicks?: string };
    if (held.pid !== process.pid && processAlive(held.pid, held.startTicks)) {
      throw new BaksaError('DAEMON_RUNNING', `an agent daemon (pid ${held.pid}) already runs on this state directory`, {
        hint: `stop it first (kill ${held.pid}) or use another --state`,
        exitCode: ExitCode.unavailable,
      });
    }
  } catch (error) {
    if (error instanceof BaksaError) throw error;
  }
  await writeFileDurable(path, JSON.stringify({ pid: process.pid, startTicks: processStartTicks(process.pid) }) + '\n');
}

/** Starts every part of the daemon and returns a handle (tests drive it directly). */
export async function startDaemon(stateDir: string, logger: Logger = createLogger('agent'), options: Pick<DaemonOptions, 'brokerListen'> = {}): Promise<RunningDaemon> {
  const state = await loadState(stateDir);
  const { config, profile, paths } = state;
  await claimPidFile(paths.daemonPid);
  if (options.brokerListen && !config.cluster) {
    throw new BaksaError('USAGE', '--broker-listen embeds the site broker of an edge cluster, and this agent is not in one', {
      hint: 'set up the cluster with `agent init … --members A,B,C --broker URL`, or leave --broker-listen out',
      exitCode: ExitCode.usage,
    });
  }
  const startedMs = Date.now();
  const signing = signingKeyFromSeed(await readKeyFile(paths.nodeKey, 'node-ed25519', 32));
  const account = tenantOf(config);

  const lastRun = (await readStatus(paths)).lastRun;
  let lastBackupType: 'lazy' | 'snapshot' | undefined = lastRun?.type === 'lazy' || lastRun?.type === 'snapshot' ? lastRun.type : undefined;
  const counters = new HeartbeatCounters(paths);

  // Sensor capture reads the broker `--broker` named; over mqtts it shows the gateway's certificate too.
  const captureCert = gatewayCertificate(config);
  const capture = config.mqtt
    ? new SensorCapture({
        broker: config.mqtt.broker,
        ...(captureCert ? { connection: tlsClientOptions(loadTlsMaterial(captureCert.dir, captureCert.name)) as IClientOptions } : {}),
        topics: config.mqtt.topics,
        dir: resolve(paths.root, config.mqtt.captureDir),
        rotateBytes: config.mqtt.rotateBytes,
        rotateS: config.mqtt.rotateS,
        clientId: `${config.name}:capture`,
        logger,
      })
    : undefined;

  const broker = config.telemetry.broker ?? config.mqtt?.broker;
  const telemetryCert = telemetryCertificate(config);
  const telemetry =
    config.telemetry.enabled && broker
      ? new TelemetryPublisher({
          broker,
          ...(telemetryCert
            ? { connection: tlsClientOptions(loadTlsMaterial(telemetryCert.dir, telemetryCert.name)) as IClientOptions, clientName: telemetryCert.name }
            : {}),
          site: config.site,
          account,
          nodeId: config.name,
          agentVersion,
          ...(config.telemetry.cluster ? { cluster: config.telemetry.cluster } : {}),
          ...(config.telemetry.monitorPublicKey ? { monitorPublicKey: Buffer.from(config.telemetry.monitorPublicKey, 'hex') } : {}),
          signing,
          heartbeatIntervalS: profile.heartbeatIntervalS,
          diskPath: paths.root,
          logger,
          source: async () => {
            const { counters: c, commit } = await counters.take();
            return {
              input: {
                lastBackupType,
                startedMs,
                bytesSynced: c.bytesSynced,
                bytesRestored: c.bytesRestored,
                errors: c.errors,
                ...(c.lastSyncMs !== undefined ? { lastSyncMs: c.lastSyncMs } : {}),
                ...(c.lastSyncDurationMs !== undefined ? { lastSyncDurationMs: c.lastSyncDurationMs } : {}),
              },
              commit,
            };
          },
        })
      : undefined;

  const edge = config.cluster ? await startEdgeRuntime(state, signing, logger, options.brokerListen ? { brokerListen: options.brokerListen } : {}) : undefined;

  const housekeeping = new Housekeeping(state, logger, undefined, edge ? (policy) => forgetNow(state, edge, policy) : undefined);
  // Every member frees the shards the site ledger releases (agent/edge/release.ts): what it missed while
  // down once it has joined, then on each block that holds a release notice.
  let unwatchReleases: (() => void) | undefined;
  let releaseRetry: NodeJS.Timeout | undefined;
  let releasesStopped = false;
  if (edge) {
    void edge.ready.then(
      (node) => {
        const applier = new ReleaseApplier({ dir: join(paths.root, 'edge'), node, store: edge.store, logger });
        let retryMs = RELEASE_RETRY_MS;
        const retry = () => {
          if (releaseRetry || releasesStopped) return;
          releaseRetry = setTimeout(() => {
            releaseRetry = undefined;
            apply();
          }, retryMs);
          releaseRetry.unref();
          retryMs = Math.min(2 * retryMs, RELEASE_RETRY_MS_MAX);
        };
        const apply = (): void =>
          void applier.run().then(
            (r) => (r.waiting ? retry() : void (retryMs = RELEASE_RETRY_MS)),
            (error: Error) => {
              logger.warn({ err: error.message }, 'applying release notices failed; it is retried');
              retry();
            },
          );
        unwatchReleases = node.watchBlocks((block) => {
          if (block.records.some((r) => r.snapshotId.startsWith(RELEASE_RECORD_PREFIX))) apply();
        });
        apply();
      },
      () => undefined,
    );
  }
  let housekeepingRun: Promise<void> = Promise.resolve();
  const sendEvent = (name: TelemetryEventName, detail: string | undefined, significant: boolean) => telemetry?.event(name, detail, significant);
  const job = new BackupJob(
    state,
    {
      ...(capture ? { beforeSnapshot: () => capture.rotateAll() } : {}),
      ...(edge ? { edge } : {}),
      onEvent: (e) => {
        switch (e.type) {
          case 'backup-start':
            sendEvent('backup-start', `${e.mode} ${e.snapshotId.slice(0, 8)}`, false);
            break;
          case 'backup-finish':
            sendEvent('backup-finish', `${e.snapshotId.slice(0, 8)}: ${e.counters.filesRead} files read, ${e.counters.storedNew} bytes stored`, false);
            break;
          case 'backup-ok':
            sendEvent('backup-ok', e.snapshotId.slice(0, 8), false);
            break;
          case 'backup-error': {
            const { name, significant } = backupErrorEvent(e.code);
            sendEvent(name, `${e.code}: ${e.message}`, significant);
            break;
          }
          case 'read-error':
            sendEvent('read-error', `${e.path}: ${e.code}`, false);
            break;
          case 'progress':
            break;
        }
      },
      onDone: (type, result, error) => {
        if (result && !result.unchanged) {
          lastBackupType = type;
          housekeepingRun = housekeepingRun.then(() => housekeeping.maybeRun());
          void migrateNow('backup');
        }
        // Failed runs are in status.json already (recordRun), which the heartbeat reports.
        if (error && error.code === 'INTERNAL') counters.addError({ atMs: Date.now(), message: error.message });
      },
    },
    logger,
  );

  // Migration to the cloud by itself (agent.json `cloud`): every interval and after each backup, one run
  // at a time; outside the window or without an uplink it waits for the next turn. In an edge cluster,
  // each turn also migrates the snapshots of members gone longer than cluster.repairAfterS whose leader
  // this gateway is (agent/migrate/gone.ts), once per member and daemon run once all of them made it.
  const repairAfterMs = (config.cluster?.repairAfterS ?? DEFAULT_REPAIR_AFTER_S) * 1000;
  const goneDone = new Set<string>();
  const migrateGoneMembers = async (cloud: NonNullable<typeof config.cloud>, why: string): Promise<void> => {
    const node = edge?.node();
    if (!node) return;
    const { goneLedBy, migrateGone } = await import('../migrate/gone.ts');
    const { insideWindow } = await import('../migrate/index.ts');
    const window = state.profile.migration.window;
    if (window && !insideWindow(window, new Date())) return;
    for (const gone of goneLedBy(config.name, node.goneMembers(repairAfterMs), node.liveMembers())) {
      if (goneDone.has(gone)) continue;
      try {
        const r = await migrateGone(paths.root, { server: cloud.server, tlsDir: cloud.tlsDir, certName: cloud.certName, node: gone, logger });
        if (r.snapshotsIncomplete.length === 0) goneDone.add(gone);
        logger.info({ why, gone, snapshots: r.snapshotsMigrated, incomplete: r.snapshotsIncomplete.length, chunksSent: r.chunksSent }, "migrated a gone member's snapshots from the peers' shards");
      } catch (error) {
        const e = error as BaksaError;
        logger.info({ why, gone, code: e.code, err: e.message }, "a gone member's snapshots were not migrated; tried again later");
      }
    }
  };
  let migrating: Promise<void> | undefined;
  const migrateNow = (why: string): Promise<void> => {
    const cloud = config.cloud;
    if (!cloud || migrating) return migrating ?? Promise.resolve();
    migrating = (async () => {
      try {
        const { migrate } = await import('../migrate/index.ts');
        const r = await migrate(paths.root, { server: cloud.server, tlsDir: cloud.tlsDir, certName: cloud.certName, logger });
        if (r.snapshotsMigrated > 0) logger.info({ why, snapshots: r.snapshotsMigrated, chunksSent: r.chunksSent, bytesSent: r.bytesSent }, 'migrated to the cloud');
      } catch (error) {
        const e = error as BaksaError;
        if (e.code === 'MIGRATION_WINDOW_CLOSED') logger.debug({ why }, 'outside the migration window');
        else logger.info({ why, code: e.code, err: e.message }, 'migration did not run; it is tried again later');
      }
      try {
        await migrateGoneMembers(cloud, why);
        // The CA's revocation list, for the site broker's watch and every TLS link of this gateway.
        const { refreshRevocations } = await import('../migrate/revocations.ts');
        const dirs = [cloud.tlsDir, config.cluster?.tlsDir, config.telemetry?.tlsDir].filter((d): d is string => d !== undefined);
        await refreshRevocations(cloud, dirs, logger);
      } finally {
        migrating = undefined;
      }
    })();
    return migrating;
  };
  const migrateTimer = config.cloud ? setInterval(() => void migrateNow('interval'), (config.cloud.intervalS ?? DEFAULT_MIGRATE_INTERVAL_S) * 1000) : undefined;

  capture?.start();
  telemetry?.start();
  const control = edge ? await startControlServer(controlSocketPath(paths.root), daemonControlHandlers(state, job, edge), { logger }) : undefined;
  // Repair around members gone longer than cluster.repairAfterS (checked every minute).
  const repairTimer = edge
    ? setInterval(() => {
        const node = edge.node();
        const gone = node?.goneMembers(repairAfterMs) ?? [];
        if (!node || gone.length === 0) return;
        repairNow(state, edge, node, gone)
          .then((r) => r.chunksRepaired > 0 && logger.info({ gone, repaired: r.chunksRepaired, unrecoverable: r.unrecoverable.length }, 'rebuilt the shards gone members held'))
          .catch((error: Error) => logger.warn({ gone, err: error.message }, 'repair around gone members failed; it is retried'));
      }, REPAIR_CHECK_MS)
    : undefined;
  void migrateNow('start');

  // Schedule: cron snapshots, or lazy runs every scan interval.
  const { schedule } = profile;
  let cronTask: { stop(): void | Promise<void>; destroy(): void | Promise<void> } | undefined;
  let lazyTimer: NodeJS.Timeout | undefined;
  if (schedule.mode === 'snapshot') {
    const cron = (await import('node-cron')).default;
    const expression = schedule.cron ?? '';
    if (!cron.validate(expression)) throw new BaksaError('CONFIG_INVALID', `schedule.cron: ${schedule.cron === undefined ? 'is missing (snapshot mode backs up on it)' : `"${expression}" is not a valid cron expression`}`, { exitCode: ExitCode.config, hint: 'fix schedule.cron in the profile or agent.json' });
    cronTask = cron.schedule(expression, () => job.trigger('snapshot'), { name: 'backup', noOverlap: true });
  } else {
    lazyTimer = setInterval(() => void job.trigger('lazy'), schedule.scanIntervalS * 1000);
  }
  // The first heartbeat goes out at once (the monitor learns the agent is up), then every interval.
  void telemetry?.heartbeat();
  logger.info({ mode: schedule.mode, cron: schedule.cron, scanIntervalS: schedule.scanIntervalS, telemetry: Boolean(telemetry), capture: Boolean(capture) }, 'agent running');

  let stopped = false;
  return {
    state,
    job,
    telemetry,
    capture,
    edge,
    async stop() {
      if (stopped) return;
      stopped = true;
      logger.info('agent stopping');
      await cronTask?.stop();
      await cronTask?.destroy();
      if (lazyTimer) clearInterval(lazyTimer);
      clearInterval(repairTimer);
      clearInterval(migrateTimer);
      await migrating;
      await control?.close();
      await job.cancel();
      await housekeepingRun;
      releasesStopped = true;
      unwatchReleases?.();
      clearTimeout(releaseRetry);
      await edge?.close();
      await capture?.stop();
      await telemetry?.stop();
      await rm(paths.daemonPid, { force: true });
      logger.info('agent stopped');
    },
  };
}

/**
 * How a failed backup is told to the monitor. A full store is its own event; a backup stopped by the
 * daemon's own shutdown (only `stop()` cancels) is recorded but pages no one: SIGTERM is the
 * operator's doing and a Deregister follows. Every other failure is significant.
 */
export function backupErrorEvent(code: string): { name: TelemetryEventName; significant: boolean } {
  if (code === 'DISK_FULL') return { name: 'store-full', significant: true };
  return { name: 'backup-error', significant: !stoppedByOperator(code) };
}

/** Runs until SIGTERM/SIGINT (or `stopSignal`), then shuts down cleanly. */
export async function runDaemon(stateDir: string, options: DaemonOptions = {}): Promise<void> {
  const logger = options.logger ?? createLogger('agent');
  // Restarted by its parent (runtime.ts), a Ctrl-C at a terminal comes twice: once for each process.
  const signals = options.stopSignal ? undefined : listenForStop(restartedByParent() ? { sameSignalMs: SAME_SIGNAL_MS } : {});
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(stateDir, logger, options.brokerListen ? { brokerListen: options.brokerListen } : {});
  } catch (error) {
    signals?.dispose();
    throw error;
  }
  await (options.stopSignal ?? signals!.requested);
  await daemon.stop();
  signals?.stopped();
}

