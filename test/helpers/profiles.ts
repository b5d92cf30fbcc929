/** Firmware profiles for tests that run real agents. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.ts';

/**
 * Writes a profile for daemons under test: x86-edge in lazy mode scanning every 2 s, one shard and no
 * compression (tiny sources back up at once), a 5 s heartbeat until the monitor sets its own, and no
 * worker threads (so the pid a test signals is the daemon). Returns the path.
 */
export function writeLazyTestProfile(path: string, name = 'lazy-test'): string {
  const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles/x86-edge.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(profile, {
    name,
    erasure: { k: 1, m: 0 },
    compression: { algorithm: 'none', level: 0 },
    schedule: { mode: 'lazy', cron: '0 0 1 1 *', settleS: 0, scanIntervalS: 2 },
    heartbeatIntervalS: 5,
    storeWorker: false,
  });
  writeFileSync(path, JSON.stringify(profile));
  return path;
}
