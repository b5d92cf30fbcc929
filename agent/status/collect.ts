/** Gathers what `status` shows (and the daemon's heartbeat reuses): config, catalog totals, run status, daemon pid. */
import { readFile, statfs } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Catalog } from '../catalog/index.ts';
import { keyRotationDueMs, loadState } from '../config/index.ts';
import { processAlive, readLock } from '../../shared/process-lock.ts';
import { readStatus, type RunStatus } from './record.ts';

export interface AgentStatus {
  name: string;
  profile: string;
  sources: string[];
  /** MQTT topics the daemon captures into rolling logs (backed up with the sources), when configured. */
  capture?: { broker: string; topics: string[]; dir: string };
  daemon: { running: boolean; pid?: number };
  /** The key version new data is sealed with, since when, and when the next scheduled rotation is due (none: never). */
  key: { version: number; sinceMs: number; nextRotationMs?: number };
  backupRunning?: { pid: number; purpose: string };
  lastRun?: RunStatus['lastRun'];
  lastSuccessMs?: number;
  lastSnapshot?: { id: string; timeMs: number; type: string; files: number; bytes: number };
  snapshots: number;
  chunks: number;
  dataBytes: number;
  storedBytes: number;
  storedWithParityBytes: number;
  volumeFreeBytes: number;
}

/** A broker URL as it may be shown: a password in it is replaced by "***". */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

export async function daemonPid(path: string): Promise<number | undefined> {
  try {
    const info = JSON.parse(await readFile(path, 'utf8')) as { pid: number; startTicks?: string };
    return processAlive(info.pid, info.startTicks) ? info.pid : undefined;
  } catch {
    return undefined;
  }
}

export async function collectStatus(stateDir: string): Promise<AgentStatus> {
  const state = await loadState(stateDir);
  const catalog = await Catalog.open(state.paths.catalog);
  try {
    const snaps = await catalog.listSnapshots();
    const stats = await catalog.chunkStats();
    const run = await readStatus(state.paths);
    const lock = await readLock(state.paths.lock);
    const pid = await daemonPid(state.paths.daemonPid);
    const last = snaps.at(-1);
    const fs = await statfs(state.paths.root).catch(() => undefined);
    const nextRotation = keyRotationDueMs(state.config);
    return {
      name: state.config.name,
      profile: state.config.profile,
      sources: state.config.sources,
      ...(state.config.mqtt ? { capture: { broker: withoutPassword(state.config.mqtt.broker), topics: state.config.mqtt.topics, dir: resolve(state.paths.root, state.config.mqtt.captureDir) } } : {}),
      daemon: pid ? { running: true, pid } : { running: false },
      key: { version: state.config.keyVersion, sinceMs: state.config.keyRotatedMs ?? state.config.createdMs, ...(nextRotation !== undefined ? { nextRotationMs: nextRotation } : {}) },
      ...(lock && processAlive(lock.pid, lock.startTicks) ? { backupRunning: { pid: lock.pid, purpose: lock.purpose } } : {}),
      ...(run.lastRun ? { lastRun: run.lastRun } : {}),
      ...(run.lastSuccessMs ? { lastSuccessMs: run.lastSuccessMs } : {}),
      ...(last ? { lastSnapshot: { id: last.id, timeMs: last.timeMs, type: last.type, files: last.fileCount, bytes: last.bytes } } : {}),
      snapshots: snaps.length,
      chunks: stats.chunks,
      dataBytes: stats.bytes,
      storedBytes: stats.dataShardBytes,
      storedWithParityBytes: stats.shardBytes,
      volumeFreeBytes: fs ? fs.bavail * fs.bsize : 0,
    };
  } finally {
    await catalog.close();
  }
}
