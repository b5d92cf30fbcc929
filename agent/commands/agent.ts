/**
 * `2baksa agent init --state DIR [--name FQDN] --profile NAME|auto --source PATH… [--exclude GLOB…]
 *                    [--broker URL] [--mqtt-topic TOPIC…]`
 * `2baksa agent run --state DIR` (the daemon: schedules, lazy mode, heartbeat, MQTT capture)
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { printRecord, formatOf } from '../../shared/output.ts';
import { collect, stateDirOf } from './common.ts';

interface InitFlags {
  state?: string;
  name?: string;
  account?: string;
  site?: string;
  profile: string;
  source?: string[];
  exclude?: string[];
  oneFileSystem?: boolean;
  broker?: string;
  mqttTopic?: string[];
  cluster?: string;
  monitorKey?: string;
  members?: string;
  join?: boolean;
  tlsDir?: string;
  cloudServer?: string;
  cloudTlsDir?: string;
  cloudCertName?: string;
  json?: boolean;
}

export function registerAgentGroup(program: Command): void {
  const agent = program.command('agent').description('the gateway agent: set up and run');
  agent
    .command('init')
    .description('write the agent config (STATE/agent.json) and keys')
    .option('--state <dir>', 'agent state directory (created)')
    .option('--name <fqdn>', "this host's symbolic name (default: the host's FQDN)")
    .option('--account <name>', 'account name or number the keys are derived for (default: --name)')
    .option('--site <name>', 'site name for MQTT topics', 'default')
    .option('--profile <name>', 'firmware profile: small-arm, mid-arm, x86-edge, auto, or a JSON file', 'auto')
    .option('--source <path...>', 'a directory, file or glob to back up (repeatable)', (v: string, p: string[]) => collect(v, p))
    .option('--exclude <glob...>', 'leave out matching paths (repeatable)', (v: string, p: string[]) => collect(v, p))
    .option('--one-file-system', 'enter no mount point below a source (kernel pseudo file systems such as /proc are never entered)')
    .option('--broker <url>', 'MQTT broker for telemetry and sensor capture (mqtt://host:port); for telemetry alone, a cluster\'s endpoints separated by commas, tried in turn')
    .option('--cluster <name>', 'data-center cluster whose monitor the agent registers with', 'default')
    .option('--mqtt-topic <topic...>', 'capture this MQTT topic filter into rolling logs (repeatable)', (v: string, p: string[]) => collect(v, p))
    .option('--monitor-key <hex>', "the monitor's Ed25519 public key: apply its heartbeat interval and on/off switch")
    .option('--members <names>', 'edge cluster: the member gateways of this site, comma-separated (this one included)')
    .option('--join', 'edge cluster: join a running one as a storage member; --members lists its first members (not this one), and a member runs `cluster admit`')
    .option('--tls-dir <dir>', 'PKI directory (2baksa pki) with ca.crt and this gateway\'s certificate, shown to an mqtts broker (site broker, telemetry)')
    .option('--cloud-server <url>', 'aggregator node the daemon migrates to by itself (https://HOST:PORT; several, comma-separated, are tried in turn)')
    .option('--cloud-tls-dir <dir>', 'with --cloud-server: PKI directory with ca.crt and the agent certificate')
    .option('--cloud-cert-name <name>', "with --cloud-server: the agent certificate's name (the account)")
    .option('--json', 'print JSON')
    .action(async (opts: InitFlags) => {
      const cloudFlags = [opts.cloudServer, opts.cloudTlsDir, opts.cloudCertName];
      if (cloudFlags.some((f) => f !== undefined) && cloudFlags.some((f) => f === undefined)) {
        const { BaksaError } = await import('../../shared/errors.ts');
        throw new BaksaError('USAGE', '--cloud-server, --cloud-tls-dir and --cloud-cert-name go together', { hint: 'give all three, or none', exitCode: 2 });
      }
      const { initAgent, statePaths } = await import('../config/index.ts');
      const stateDir = stateDirOf(opts);
      if ((opts.source ?? []).length === 0 && (opts.mqttTopic ?? []).length === 0) {
        const { BaksaError } = await import('../../shared/errors.ts');
        throw new BaksaError('USAGE', 'agent init needs something to back up', {
          hint: 'add --source PATH (a directory, file or glob; repeatable), or --mqtt-topic TOPIC with --broker URL to capture sensor topics',
          exitCode: 2,
        });
      }
      const config = await initAgent({
        stateDir,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.account !== undefined ? { account: opts.account } : {}),
        ...(opts.site !== undefined ? { site: opts.site } : {}),
        profile: opts.profile,
        sources: opts.source ?? [],
        excludes: opts.exclude ?? [],
        ...(opts.oneFileSystem ? { oneFileSystem: true } : {}),
        ...(opts.broker !== undefined ? { broker: opts.broker } : {}),
        mqttTopics: opts.mqttTopic ?? [],
        ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
        ...(opts.monitorKey !== undefined ? { monitorKey: opts.monitorKey } : {}),
        ...(opts.members !== undefined ? { members: opts.members.split(',').map((m) => m.trim()).filter(Boolean) } : {}),
        ...(opts.join ? { join: true } : {}),
        ...(opts.tlsDir !== undefined ? { tlsDir: opts.tlsDir } : {}),
        ...(opts.cloudServer && opts.cloudTlsDir && opts.cloudCertName ? { cloud: { server: opts.cloudServer, tlsDir: opts.cloudTlsDir, certName: opts.cloudCertName } } : {}),
      });
      const paths = statePaths(stateDir);
      await warnMissingSources(config.sources);
      await noteStateInSources(config.sources, paths.root);
      printRecord(
        {
          config: paths.config,
          name: config.name,
          profile: config.profile,
          sources: config.sources.join(' '),
          root_key: `${paths.rootKey} (keep a copy somewhere safe: restores need it)`,
          node_public_key: config.nodePublicKey,
          ...(config.cluster ? { cluster: `${config.cluster.members.join(',')} on ${config.cluster.broker}` } : {}),
          ...(config.cluster?.join ? { join: `on a member: 2baksa cluster admit ${config.name} --key ${config.nodePublicKey} --state DIR` } : {}),
        },
        formatOf(opts),
      );
    });
  agent
    .command('rotate-key')
    .description('seal new data with the next key version from now on (old versions still decrypt; backups rotate by themselves every keyRotationDays, default 90)')
    .option('--state <dir>', 'agent state directory')
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; json?: boolean }) => {
      const { keyRotationDueMs, readConfig, rotateKey, statePaths } = await import('../config/index.ts');
      const { acquireLock } = await import('../../shared/process-lock.ts');
      const stateDir = stateDirOf(opts);
      await readConfig(stateDir); // a directory that is not an agent's is refused before anything is written
      // Under the backup lock: a backup checks the schedule and writes the version under it too.
      const lock = await acquireLock(statePaths(stateDir).lock, 'key rotation');
      try {
        const { config, rotation } = await rotateKey(stateDir);
        const next = keyRotationDueMs(config);
        printRecord(
          {
            key_version: rotation.to,
            previous_version: rotation.from,
            rotated_at: new Date(rotation.atMs).toISOString(),
            next_rotation: next === undefined ? 'never (keyRotationDays is 0)' : new Date(next).toISOString(),
            note: config.cluster
              ? 'new data is sealed with it from the next backup on, the daemon\'s included; old versions still decrypt'
              : 'new data is sealed with it from the next backup on; old versions still decrypt',
          },
          formatOf(opts),
        );
      } finally {
        await lock.release();
      }
    });
  agent
    .command('run')
    .description('run the agent daemon (schedules, lazy mode, heartbeat); SIGTERM/SIGINT stop it cleanly')
    .option('--state <dir>', 'agent state directory')
    .option('--broker-listen <port>', 'embed the site broker on this port (mqtts with the cluster\'s --tls-dir, else plain mqtt)')
    .option('--broker-host <host>', 'with --broker-listen: the address to listen on', '0.0.0.0')
    .action(async (opts: { state?: string; brokerListen?: string; brokerHost?: string }) => {
      const { loadState } = await import('../config/index.ts');
      const { dieWithParent, runtimeEnv, rerunWith } = await import('../daemon/runtime.ts');
      const stateDir = stateDirOf(opts);
      const { profile } = await loadState(stateDir);
      const env = runtimeEnv(profile);
      if (env) {
        process.exitCode = await rerunWith(env);
        return;
      }
      dieWithParent();
      if (profile.runtime?.heapGrowingPercent !== undefined) {
        const { setHeapGrowingPercent } = await import('../../shared/heap-growth.ts');
        setHeapGrowingPercent(profile.runtime.heapGrowingPercent);
      }
      const { runDaemon } = await import('../daemon/index.ts');
      let brokerListen: number | undefined;
      if (opts.brokerListen !== undefined) {
        brokerListen = Number(opts.brokerListen);
        if (!Number.isSafeInteger(brokerListen) || brokerListen < 0 || brokerListen > 65535) {
          const { BaksaError } = await import('../../shared/errors.ts');
          throw new BaksaError('USAGE', `--broker-listen ${opts.brokerListen}: not a TCP port`, { hint: 'give a port number, e.g. --broker-listen 1883', exitCode: 2 });
        }
      }
      await runDaemon(stateDir, { ...(brokerListen !== undefined ? { brokerListen: { port: brokerListen, host: opts.brokerHost ?? '0.0.0.0' } } : {}) });
    });
}

/** The state directory is never backed up (backup/run.ts `ownPaths`): said at init where a source would take it in. */
async function noteStateInSources(sources: readonly string[], stateRoot: string): Promise<void> {
  const { normalizeSelector, selected } = await import('../restore/select.ts');
  const state = resolve(stateRoot);
  for (const source of sources.map((s) => resolve(s))) {
    if (selected(state, normalizeSelector(source))) {
      process.stderr.write(`note: the state directory ${state} is inside source ${source}: backups leave it out (all but its MQTT capture directory, which is a source of its own)\n`);
    } else if (selected(source, state)) {
      process.stderr.write(`warning: source ${source} is inside the state directory ${state}: backups leave it out; put the data elsewhere\n`);
    }
  }
}

/**
 * A source path that is not there is kept (a disk may be mounted later), but said now: each backup
 * would skip it and exit 6 (BACKUP_INCOMPLETE) until it exists. Globs may match nothing yet: not checked.
 */
async function warnMissingSources(sources: readonly string[]): Promise<void> {
  const { hasGlob } = await import('../sources/glob.ts');
  const { lstat } = await import('node:fs/promises');
  for (const source of sources) {
    if (hasGlob(source)) continue;
    const missing = await lstat(source).then(() => false, (error: NodeJS.ErrnoException) => error.code === 'ENOENT' || error.code === 'ENOTDIR');
    if (missing) process.stderr.write(`warning: source ${source} does not exist (yet): backups skip it, and exit 6, until it does\n`);
  }
}
