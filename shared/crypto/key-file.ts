/**
 * Secret keys on disk: one key per file, mode 0600, written crash-safely (temp, fsync, link/rename,
 * fsync dir), refusing to replace an existing key unless forced. The file is one line of JSON:
 *
 *     {"format":"2baksa-key","kind":"root","key":"<base64, 32 bytes>","check":"<8 hex>"}
 *
 * `check` is the first 4 bytes of SHA-256("2baksa-key" 0x00 kind 0x00 key), so a damaged or hand-edited
 * file is refused instead of silently deriving different keys. Reading refuses a file that group or
 * others can read (like ssh does), with the chmod to run.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { BaksaError, ExitCode, assert } from '../errors.ts';
import { writeFileDurable } from './durable-file.ts';
import { ROOT_KEY_BYTES, generateRootKey } from './keys.ts';

const FORMAT = '2baksa-key';
export const KEY_FILE_BYTES_MAX = 4096;

export interface KeyFileWriteOptions {
  force?: boolean;
}

function check(kind: string, key: Uint8Array): string {
  return createHash('sha256').update(`${FORMAT}\0${kind}\0`).update(key).digest('hex').slice(0, 8);
}

function invalid(path: string, why: string): BaksaError {
  return new BaksaError('KEY_FILE_INVALID', `${path} is not a usable key file: ${why}`, {
    hint: 'restore the key file from your backup copy of it', exitCode: ExitCode.config, details: { path },
  });
}

export async function writeKeyFile(path: string, kind: string, key: Uint8Array, options: KeyFileWriteOptions = {}): Promise<void> {
  assert(/^[a-z0-9-]{1,32}$/.test(kind), `key file kind "${kind}" must be lower-case letters, digits and "-"`);
  const text = JSON.stringify({ format: FORMAT, kind, key: Buffer.from(key).toString('base64'), check: check(kind, key) }) + '\n';
  try {
    await writeFileDurable(path, text, { mode: 0o600, exclusive: options.force !== true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BaksaError('KEY_FILE_EXISTS', `${path} already exists`, {
        hint: 'data sealed under that key needs it; move the file away first if you really mean to replace it',
        details: { path },
      });
    }
    throw error;
  }
}

export async function readKeyFile(path: string, kind: string, keyBytes?: number): Promise<Uint8Array> {
  let mode: number;
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > KEY_FILE_BYTES_MAX) throw invalid(path, `${info.size} bytes is too large`);
    mode = info.mode;
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof BaksaError) throw error;
    // A new root key cannot open what the old one sealed: never suggest making one.
    const hint = kind === 'root'
      ? 'put back the copy of the root key kept when the agent was set up (agent init printed where it belongs); without it the backups sealed under it cannot be read'
      : 'check the path in the configuration, or create the key';
    throw new BaksaError('KEY_FILE_MISSING', `cannot read key file ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      hint, exitCode: ExitCode.config, details: { path }, cause: error,
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new BaksaError('KEY_FILE_INSECURE', `${path} can be read by other users (mode ${(mode & 0o777).toString(8)})`, {
      hint: `run: chmod 600 ${path}`, exitCode: ExitCode.config, details: { path },
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw invalid(path, 'not JSON');
  }
  const record = parsed as { format?: unknown; kind?: unknown; key?: unknown; check?: unknown };
  if (record.format !== FORMAT) throw invalid(path, 'unknown format');
  if (record.kind !== kind) throw invalid(path, `it holds a "${String(record.kind)}" key, not a "${kind}" key`);
  if (typeof record.key !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(record.key)) throw invalid(path, 'the key is not base64');
  const key = new Uint8Array(Buffer.from(record.key, 'base64'));
  if (keyBytes !== undefined && key.length !== keyBytes) throw invalid(path, `the key is ${key.length} bytes, expected ${keyBytes}`);
  if (record.check !== check(kind, key)) throw invalid(path, 'the check value does not match (the file is damaged)');
  return key;
}

/** Generates a root key and writes it to `path` (refuses to replace one unless `force`). */
export async function createRootKeyFile(path: string, options: KeyFileWriteOptions = {}): Promise<Uint8Array> {
  const key = generateRootKey();
  await writeKeyFile(path, 'root', key, options);
  return key;
}

export function readRootKeyFile(path: string): Promise<Uint8Array> {
  return readKeyFile(path, 'root', ROOT_KEY_BYTES);
}
