/**
 * One logger for every process: pino, JSON lines on stderr, so stdout stays free for command output.
 * `BAKSA_LOG_LEVEL` (trace..fatal, silent) sets the level; the default is `info` for daemons.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.BAKSA_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination(2));
}

/** A logger that drops everything, for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
