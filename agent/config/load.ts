/**
 * Reading and writing STATE/agent.json, and opening what a command needs from the state directory:
 * the config, its profile (with config overrides applied) and the key ring.
 */
import { readFile } from 'node:fs/promises';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import { readRootKeyFile } from '../../shared/crypto/key-file.ts';
import { KeyRing } from '../../shared/crypto/keys.ts';
import { loadProfile, type Profile } from '../profile/index.ts';
import { checkConfig, type AgentConfig } from './schema.ts';
import { statePaths, type StatePaths } from './state-dir.ts';

export async function readConfig(stateDir: string): Promise<AgentConfig> {
  const paths = statePaths(stateDir);
  let text: string;
  try {
    text = await readFile(paths.config, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BaksaError('STATE_NOT_INITIALIZED', `no agent config at ${paths.config} (${code ?? String(error)})`, {
      hint: `run \`2baksa agent init --state ${stateDir} --source PATH\` first, or check --state`,
      exitCode: ExitCode.config,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError('agent.json', `is not valid JSON: ${(error as Error).message}`);
  }
  try {
    return checkConfig(json, '');
  } catch (error) {
    if (error instanceof Error) error.message = `${paths.config}: ${error.message}`;
    throw error;
  }
}

export async function writeConfig(stateDir: string, config: AgentConfig): Promise<void> {
  checkConfig(config, '');
  await writeFileDurable(statePaths(stateDir).config, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}

/** The profile with the config's overrides applied. */
export function effectiveProfile(config: AgentConfig): Profile {
  const base = loadProfile(config.profile, 'profile');
  return {
    ...base,
    schedule: { ...base.schedule, ...definedOnly(config.schedule ?? {}) },
    heartbeatIntervalS: config.heartbeatIntervalS ?? base.heartbeatIntervalS,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function tenantOf(config: AgentConfig): string {
  return config.account ?? config.name;
}

/**
 * The certificate telemetry shows an mqtts broker. A cluster's endpoint knows an agent by its account's
 * certificate, the one migration uses (`cloud`); a site broker knows a gateway by its own (`--tls-dir`,
 * named by the gateway; configs written before telemetry had a tlsDir of its own use the edge cluster's).
 */
export function telemetryCertificate(config: AgentConfig): { dir: string; name: string } | undefined {
  if (config.telemetry.cluster && config.cloud) return { dir: config.cloud.tlsDir, name: config.cloud.certName };
  return gatewayCertificate(config);
}

/** The gateway's own certificate for an mqtts broker (`--tls-dir`, named by the gateway), as sensor capture shows it. */
export function gatewayCertificate(config: AgentConfig): { dir: string; name: string } | undefined {
  const dir = config.telemetry.tlsDir ?? config.cluster?.tlsDir;
  return dir ? { dir, name: config.name } : undefined;
}

export async function loadKeyRing(paths: StatePaths, config: AgentConfig): Promise<KeyRing> {
  const root = await readRootKeyFile(paths.rootKey);
  return KeyRing.fromRoot(root, tenantOf(config), config.keyVersion);
}

export interface AgentState {
  paths: StatePaths;
  config: AgentConfig;
  profile: Profile;
}

export async function loadState(stateDir: string): Promise<AgentState> {
  const config = await readConfig(stateDir);
  return { paths: statePaths(stateDir), config, profile: effectiveProfile(config) };
}
