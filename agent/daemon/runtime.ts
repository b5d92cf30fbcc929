/**
 * Process settings a profile asks for (small gateways: a small V8 young generation, two malloc arenas)
 * can only take effect at process start. `runtimeEnv` says which environment they need; `agent run`
 * restarts itself once with it (a daemon pays that half second once), forwarding signals and exit code.
 * V8's heap growing factor (`heapGrowingPercent`) needs no restart: `agent run` sets it in place.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Profile } from '../profile/index.ts';

export const RUNTIME_MARK = 'BAKSA_RUNTIME_APPLIED';

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
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { env, stdio: 'inherit' });
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
