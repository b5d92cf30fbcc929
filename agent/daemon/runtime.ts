/**
 * Process settings a profile asks for (small gateways: a small V8 young generation, two malloc arenas)
 * can only take effect at process start. `runtimeEnv` says which environment they need; `agent run`
 * restarts itself once with it (a daemon pays that half second once), forwarding signals and exit code,
 * and the restarted daemon ends when its parent does (`dieWithParent`).
 * V8's heap growing factor (`heapGrowingPercent`) needs no restart: `agent run` sets it in place.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Profile } from '../profile/index.ts';

export const RUNTIME_MARK = 'BAKSA_RUNTIME_APPLIED';
/** The pid of the process that restarted this one (`rerunWith`), for `dieWithParent`. */
export const PARENT_MARK = 'BAKSA_RUNTIME_PARENT';

/** The environment the profile's runtime settings need, or undefined when the process already has it. */
export function runtimeEnv(profile: Profile, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv | undefined {
  const r = profile.runtime;
  if (!r || (r.maxSemiSpaceMiB === undefined && r.mallocArenaMax === undefined) || env[RUNTIME_MARK] === '1') return undefined;
  const out: NodeJS.ProcessEnv = { ...env, [RUNTIME_MARK]: '1' };
  if (r.maxSemiSpaceMiB !== undefined) out.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --max-semi-space-size=${r.maxSemiSpaceMiB}`.trim();
  if (r.mallocArenaMax !== undefined) out.MALLOC_ARENA_MAX = String(r.mallocArenaMax);
  return out;
}

/** Runs this same command again in a child with `env`; resolves with its exit code. */
export function rerunWith(env: NodeJS.ProcessEnv): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env: { ...env, [PARENT_MARK]: String(process.pid) }, stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onTerm = forward('SIGTERM');
  const onInt = forward('SIGINT');
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      // A child killed by a signal exits as shells report it: 128 + the signal's number.
      resolve(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
    }),
  );
}

/** How often a restarted process looks for its parent. */
const PARENT_POLL_MS = 250;

/**
 * In a process `rerunWith` started: ends it the moment its parent is gone. A signal the parent gets
 * is forwarded, but SIGKILL cannot be: without this, `kill -9` of the daemon's pid (a watchdog, a
 * supervisor without process groups) left the restarted daemon running on, holding the state
 * directory, and the daemon started next refused with DAEMON_RUNNING. It ends as the parent did, by
 * SIGKILL: nothing it had not committed counts, as after any crash.
 */
export function dieWithParent(env: NodeJS.ProcessEnv = process.env): void {
  const parent = Number(env[PARENT_MARK]);
  if (!Number.isSafeInteger(parent) || parent <= 0) return;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL');
  }, PARENT_POLL_MS);
  timer.unref();
}

/** Whether `rerunWith` started this process. */
export function restartedByParent(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[PARENT_MARK] !== undefined;
}

/** A signal again within this many ms of the first is the parent forwarding the one this process got too. */
export const SAME_SIGNAL_MS = 1000;
