/**
 * Scheduled key rotation (DESIGN §8): every `keyRotationDays` (default 90; 0 never) the agent moves to
 * the next key version, so new chunks, manifests and snapshots are sealed with a fresh data key. The
 * root key derives every version again (shared/crypto/keys.ts), so nothing is re-encrypted and old
 * data stays readable; chunk ids keep one dedup key (`KeyRing.idKeys`), so nothing is stored twice.
 *
 * A backup checks before it starts (`keepKeyCurrent`, holding the backup lock): it takes a version a
 * command wrote since the config was loaded (`agent rotate-key`, read by a running daemon), then
 * rotates when due. The version lives in agent.json (`keyVersion`, `keyRotatedMs`), which a restore on
 * a replacement machine needs anyway.
 */
import type { AgentConfig } from './schema.ts';
import { readConfig, writeConfig, type AgentState } from './load.ts';

export const DEFAULT_KEY_ROTATION_DAYS = 90;
const DAY_MS = 86_400_000;

/**
 * When the next scheduled rotation is due (ms), or undefined when rotation is off. A version that
 * began more than a day after `nowMs` (a gateway's clock far ahead then, NTP fixing it since) would
 * hold its key for years: it is due now.
 */
export function keyRotationDueMs(config: AgentConfig, nowMs = Date.now()): number | undefined {
  const days = config.keyRotationDays ?? DEFAULT_KEY_ROTATION_DAYS;
  if (days === 0) return undefined;
  const began = config.keyRotatedMs ?? config.createdMs;
  return began > nowMs + DAY_MS ? nowMs : began + days * DAY_MS;
}

export interface KeyRotation {
  from: number;
  to: number;
  atMs: number;
}

/** `config` moved to the next key version, current from `nowMs`. */
function rotated(config: AgentConfig, nowMs: number): AgentConfig {
  return { ...config, keyVersion: config.keyVersion + 1, keyRotatedMs: nowMs };
}

/** Moves the agent at `stateDir` to its next key version now (agent.json, written durably). */
export async function rotateKey(stateDir: string, nowMs = Date.now()): Promise<{ config: AgentConfig; rotation: KeyRotation }> {
  const config = await readConfig(stateDir);
  const next = rotated(config, nowMs);
  await writeConfig(stateDir, next);
  return { config: next, rotation: { from: config.keyVersion, to: next.keyVersion, atMs: nowMs } };
}

/**
 * Before a backup: brings `state.config` up to the key version in agent.json, then rotates when due.
 * Returns the rotation it made. When agent.json does not read (edited into an invalid state while a
 * daemon runs), nothing is rotated and the backup goes on with the config it has: the next one tries again.
 */
export async function keepKeyCurrent(state: AgentState, nowMs = Date.now()): Promise<KeyRotation | undefined> {
  let onDisk: AgentConfig;
  try {
    onDisk = await readConfig(state.paths.root);
  } catch {
    return undefined;
  }
  if (onDisk.keyVersion > state.config.keyVersion) {
    state.config = { ...state.config, keyVersion: onDisk.keyVersion, keyRotatedMs: onDisk.keyRotatedMs ?? onDisk.createdMs };
  }
  const due = keyRotationDueMs(onDisk, nowMs);
  if (due === undefined || nowMs < due || onDisk.keyVersion < state.config.keyVersion) return undefined;
  const next = rotated(onDisk, nowMs);
  await writeConfig(state.paths.root, next);
  state.config = { ...state.config, keyVersion: next.keyVersion, keyRotatedMs: nowMs };
  return { from: onDisk.keyVersion, to: next.keyVersion, atMs: nowMs };
}
