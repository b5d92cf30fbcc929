/**
 * Flags and helpers every admin command shares: where to act (`--db FILE`, or `--server URL --tls-dir DIR
 * --cert-name NAME`), output format flags, and size parsing that names the bad flag. Heavy modules
 * (sqlite, https) load only inside actions.
 */
import type { Command } from 'commander';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { formatBytes, parseBytes } from '../../shared/output.ts';
import type { AdminBackend, TargetFlags } from './backend.ts';

export interface CommonFlags extends TargetFlags {
  json?: boolean;
  tsv?: boolean;
}

export function targetOptions(cmd: Command): Command {
  return cmd
    .option('--db <file>', "a node's account database (accounts.db); or set BAKSA_ACCOUNTS_DB")
    .option('--server <urls>', 'act through the REST API of a node (https://HOST:PORT), or of several, comma-separated, tried in turn')
    .option('--tls-dir <dir>', 'PKI directory holding ca.crt and your certificate (with --server)')
    .option('--cert-name <name>', 'your admin certificate name in --tls-dir (with --server)');
}

export function outputOptions(cmd: Command, tsv = false): Command {
  cmd.option('--json', 'print JSON');
  if (tsv) cmd.option('--tsv', 'print tab-separated values');
  return cmd;
}

export async function withTarget<T>(flags: TargetFlags, fn: (b: AdminBackend) => Promise<T>, create = false): Promise<T> {
  const { withBackend } = await import('./backend.ts');
  return withBackend(flags, fn, { create });
}

function usage(flag: string, message: string, hint: string): BaksaError {
  return new BaksaError('INVALID_ARGUMENT', `${flag}: ${message}`, { hint, exitCode: ExitCode.usage, details: { field: flag } });
}

/** A size flag: `10G`, `512MiB`, `1000`; `none` (or `unlimited`) is no limit. */
export function sizeFlag(flag: string, value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  if (/^(none|unlimited)$/i.test(value.trim())) return null;
  const n = parseBytes(value);
  if (n === undefined || !Number.isSafeInteger(n)) throw usage(flag, `"${value}" is not a size`, 'give a size such as 500M, 10G or 1.5TiB, or "none"');
  return n;
}

export function intFlag(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw usage(flag, `"${value}" is not a whole number from ${min} to ${max}`, `give a number from ${min} to ${max}`);
  }
  return n;
}

export function onOffFlag(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['on', 'yes', 'true', '1'].includes(v)) return true;
  if (['off', 'no', 'false', '0'].includes(v)) return false;
  throw usage(flag, `"${value}" is not on or off`, 'give yes/no (or on/off)');
}

export function limitText(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? 'none' : formatBytes(bytes);
}

export function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** One request to a node's API with the `--server`, `--tls-dir` and `--cert-name` flags; its JSON answer. */
export async function nodeRequest(flags: TargetFlags, method: string, path: string, body?: unknown, timeoutMs = 600_000): Promise<Record<string, unknown>> {
  if (!flags.server || !flags.tlsDir || !flags.certName) {
    throw configError('--server', 'needs --server URL, --tls-dir DIR and --cert-name NAME', 'use the values `aggregator init` printed');
  }
  const { operatorTransport } = await import('./backend.ts');
  const { loadTlsMaterial } = await import('../../shared/crypto/pki.ts');
  const client = operatorTransport(flags.server, loadTlsMaterial(flags.tlsDir, flags.certName), timeoutMs);
  try {
    return (await client.request<Record<string, unknown>>(method, path, body)).body;
  } finally {
    client.close();
  }
}
