/**
 * One logger for every process: pino, JSON lines on stderr, so stdout stays free for command output.
 * `BAKSA_LOG_LEVEL` (trace..fatal, silent) sets the level; the default is `info` for daemons.
 *
 * pino is loaded when the first logger is made, not when this module is: one-shot commands (backup,
 * restore, status) only ever use `silentLogger` and skip its ~20 modules at start.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'pino';

export type { Logger };

const require = createRequire(import.meta.url);

export function createLogger(name: string, level = process.env.BAKSA_LOG_LEVEL ?? 'info'): Logger {
  const { pino } = require('pino') as typeof import('pino');
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

const ignore = (): void => undefined;
const silent: Record<string | symbol, unknown> = {
  level: 'silent',
  levelVal: Infinity,
  trace: ignore,
  debug: ignore,
  info: ignore,
  warn: ignore,
  error: ignore,
  fatal: ignore,
  silent: ignore,
  flush: ignore,
  isLevelEnabled: () => false,
  bindings: () => ({}),
  setBindings: ignore,
  child: () => silentLogger,
};

/**
 * A logger that drops everything, for library code called without one. Any other method of pino's is a
 * no-op too; it is not a thenable (a promise resolved with it must not wait on it) and has no symbols.
 */
export const silentLogger: Logger = new Proxy(silent, {
  get: (target, key) => (key in target ? target[key] : typeof key === 'symbol' || key === 'then' ? undefined : ignore),
}) as unknown as Logger;
