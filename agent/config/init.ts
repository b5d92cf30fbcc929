/**
 * `agent init`: creates the state directory, the keys (root key 0600, Ed25519 node key 0600) and a
 * validated STATE/agent.json. An existing config is never overwritten; an existing root key is reused
 * (data may already be sealed under it).
 */
import { access, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { createRootKeyFile, readKeyFile, writeKeyFile } from '../../shared/crypto/key-file.ts';
import { generateSigningKey, seedOf, signingKeyFromSeed } from '../../shared/crypto/sign.ts';
import { detectProfileName, loadProfile } from '../profile/index.ts';
import { checkConfig, CONFIG_FORMAT, hostNamePattern, type AgentConfig } from './schema.ts';
import { proposeFqdn, normalizeHostName } from './fqdn.ts';
import { statePaths } from './state-dir.ts';
import { writeConfig } from './load.ts';

export interface InitOptions {
  stateDir: string;
  name?: string;
  account?: string;
  site?: string;
  profile: string;
  sources: string[];
  excludes?: string[];
  oneFileSystem?: boolean;
  broker?: string;
  mqttTopics?: string[];
  /** The data-center cluster to register with (Register/Deregister); default "default" when a broker is given. */
  cluster?: string;
  /** The monitor's Ed25519 public key (64 hex): its MonitorConfig replies (interval, on/off) are applied. */
  monitorKey?: string;
  /** Edge cluster: every member gateway's name (this one included); they meet on `broker`. */
  members?: string[];
  /** Edge cluster: join a running one as a storage member; `members` are its first members (without this one). */
  join?: boolean;
  /** PKI directory with ca.crt and this gateway's certificate, for an mqtts broker (site broker, telemetry). */
  tlsDir?: string;
  /** The aggregator cluster the daemon migrates to by itself. */
  cloud?: { server: string; tlsDir: string; certName: string };
}

export const defaultCapture = { captureDir: 'sensors', rotateBytes: 8 * 1024 * 1024, rotateS: 3600 } as const;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export async function initAgent(options: InitOptions): Promise<AgentConfig> {
  const paths = statePaths(options.stateDir);
  if (await exists(paths.config)) {
    throw new BaksaError('AGENT_EXISTS', `${paths.config} already exists`, {
      hint: 'this state directory is initialised already; edit agent.json, or use another --state',
      exitCode: ExitCode.usage,
    });
  }
  const profileName = options.profile === 'auto' ? await detectProfileName() : options.profile;
  loadProfile(profileName, 'profile');
  const name = options.name !== undefined ? normalizeHostName(options.name) : await proposeFqdn();
  if (!hostNamePattern.test(name)) throw configError('name', `"${options.name}" is not an RFC 1034 host name`);
  if ((options.mqttTopics?.length ?? 0) > 0 && !options.broker) {
    throw configError('mqtt-topic', 'capturing MQTT topics needs a broker', 'add --broker mqtt://HOST:PORT');
  }
  const signing = (await exists(paths.nodeKey))
    ? signingKeyFromSeed(await readKeyFile(paths.nodeKey, 'node-ed25519', 32))
    : undefined;
  const config: AgentConfig = {
    format: CONFIG_FORMAT,
    name,
    site: options.site ?? 'default',
    profile: profileName,
    sources: options.sources.map((s) => resolve(s)),
    excludes: options.excludes ?? [],
    ...(options.oneFileSystem ? { oneFileSystem: true } : {}),
    keyVersion: 1,
    nodePublicKey: '',
    createdMs: Date.now(),
    telemetry: {
      enabled: options.broker !== undefined,
      // A gateway of an edge cluster heartbeats to its site broker, which serves no data-center topics:
      // no Register there (DESIGN §4).
      ...(options.broker ? { broker: options.broker, ...(options.members?.length ? {} : { cluster: options.cluster ?? 'default' }) } : {}),
      ...(options.monitorKey !== undefined ? { monitorPublicKey: options.monitorKey.toLowerCase() } : {}),
      // The gateway's certificate for an mqtts broker: a site broker over TLS takes no client without one.
      ...(options.broker && options.tlsDir ? { tlsDir: resolve(options.tlsDir) } : {}),
    },
  };
  if (options.account !== undefined) config.account = options.account;
  if (options.cloud) config.cloud = { ...options.cloud, tlsDir: resolve(options.cloud.tlsDir) };
  if (options.broker?.includes(',') && ((options.members?.length ?? 0) > 0 || (options.mqttTopics?.length ?? 0) > 0)) {
    throw configError('broker', 'several brokers are for telemetry to a cluster\'s endpoints; an edge cluster and sensor capture use one', 'give --broker one URL');
  }
  if (options.tlsDir !== undefined && !options.broker) {
    throw configError('tls-dir', 'a TLS directory is what the gateway shows an mqtts broker, and no broker is given', 'add --broker mqtts://HOST:PORT, or leave --tls-dir out');
  }
  if (options.join && !(options.members?.length)) {
    throw configError('members', 'a gateway that joins a running edge cluster needs its first members', 'add --members A,B,C (the names the cluster was set up with, without this gateway)');
  }
  if (options.members !== undefined && options.members.length > 0) {
    if (!options.broker) throw configError('broker', 'an edge cluster meets on a site broker', 'add --broker mqtt://HOST:PORT (a member may embed it: `agent run --broker-listen PORT`)');
    const members = options.members.map((m) => normalizeHostName(m));
    if (options.join && members.includes(name)) {
      throw configError('members', `a gateway that joins a running cluster lists its first members, not itself (${name})`, 'leave this gateway out of --members');
    }
    config.cluster = {
      members: options.join || members.includes(name) ? members : [...members, name],
      ...(options.join ? { join: true } : {}),
      broker: options.broker,
      ...(options.tlsDir ? { tlsDir: resolve(options.tlsDir) } : {}),
    };
  }
  if (options.broker && (options.mqttTopics?.length ?? 0) > 0) {
    config.mqtt = { broker: options.broker, topics: options.mqttTopics!, ...defaultCapture };
  }
  // Validate before anything is written (the public key is filled in below).
  checkConfig({ ...config, nodePublicKey: '0'.repeat(64) }, '');

  await mkdir(paths.root, { recursive: true, mode: 0o700 });
  await mkdir(paths.keysDir, { recursive: true, mode: 0o700 });
  if (!(await exists(paths.rootKey))) await createRootKeyFile(paths.rootKey);
  const node = signing ?? generateSigningKey();
  if (!signing) await writeKeyFile(paths.nodeKey, 'node-ed25519', seedOf(node));
  config.nodePublicKey = Buffer.from(node.publicKey).toString('hex');
  await writeConfig(paths.root, config);
  return config;
}
