// Runs the real `2baksa` program as a child process, as users and scripts do.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['cli/2baksa.mjs', ...args], {
    cwd: repoRoot,
    env: { ...process.env, BAKSA_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return finished(startCli(args, env));
}

/** A `2baksa` process still running (a daemon, a node): its output so far, and its end. */
export interface RunningCli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** stdout and stderr as they arrived, interleaved. */
  output: () => string;
  exited: Promise<CliResult>;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): RunningCli {
  const child = startCli(args, env);
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = finished(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (err += d));
  return { child, out: () => out, err: () => err, output: () => output, exited };
}

/** The JSON lines of a --json run. */
export function jsonLines(out: string): Array<Record<string, unknown>> {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{') || l.startsWith('['))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
