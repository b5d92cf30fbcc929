/**
 * Where a ledger lives on disk, and its validator set file.
 *
 *   <dir>/validators.json   the validator set: {"format":"2baksa-validators","version":1,
 *                           "validators":[{"id":"gw-1","publicKey":"<64 hex>"}, …]}  (JSON, for people)
 *   <dir>/blocks.log        the block log (frame.ts)
 *
 * A path given to a reader is either the directory or the block log itself; for a bare file the validators
 * are read from `validators.json` next to it unless another file is named. Files that matter are written
 * write-temp, fsync, rename, fsync-dir.
 */
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BaksaError, ExitCode } from '../errors.ts';
import { SignerRegistry, type ValidatorEntry } from './quorum.ts';

export const VALIDATORS_FILE = 'validators.json';
export const BLOCKS_FILE = 'blocks.log';
export const VALIDATORS_FORMAT = '2baksa-validators';

export interface LedgerPaths {
  /** The ledger directory. */
  dir: string;
  blocksFile: string;
  validatorsFile: string;
}

export function ledgerPaths(dir: string): LedgerPaths {
  return { dir, blocksFile: join(dir, BLOCKS_FILE), validatorsFile: join(dir, VALIDATORS_FILE) };
}

/**
 * Resolves a directory or block-log path given by a user (an agent's state directory stands for its
 * site ledger, STATE/edge/ledger). Throws LEDGER_NOT_FOUND when there is none.
 */
export async function resolveLedgerPath(path: string, validatorsFile?: string): Promise<LedgerPaths> {
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new BaksaError('LEDGER_NOT_FOUND', `no ledger at ${path}`, {
      exitCode: ExitCode.usage,
      hint: `give a ledger directory (holding ${BLOCKS_FILE} and ${VALIDATORS_FILE}) or a ${BLOCKS_FILE} file`,
    });
  }
  let dir = path;
  if (info.isDirectory() && !(await stat(join(path, BLOCKS_FILE)).catch(() => undefined))) {
    // An agent's state directory: its site ledger is STATE/edge/ledger.
    const agentLedger = join(path, 'edge', 'ledger');
    if (await stat(join(agentLedger, BLOCKS_FILE)).catch(() => undefined)) dir = agentLedger;
    else {
      throw new BaksaError('LEDGER_NOT_FOUND', `no ledger in ${path} (no ${BLOCKS_FILE} there, nor in edge/ledger/ under it)`, {
        exitCode: ExitCode.usage,
        hint: `give a ledger directory (holding ${BLOCKS_FILE} and ${VALIDATORS_FILE}), a ${BLOCKS_FILE} file, or the state directory of an edge cluster's gateway`,
      });
    }
  }
  const paths = info.isDirectory() ? ledgerPaths(dir) : { dir: dirname(path), blocksFile: path, validatorsFile: join(dirname(path), VALIDATORS_FILE) };
  if (validatorsFile !== undefined) paths.validatorsFile = validatorsFile;
  return paths;
}

export function encodeValidators(entries: readonly ValidatorEntry[]): string {
  const body = {
    format: VALIDATORS_FORMAT,
    version: 1,
    validators: entries.map((e) => ({ id: e.id, publicKey: Buffer.from(e.publicKey).toString('hex') })),
  };
  return JSON.stringify(body, null, 2) + '\n';
}

function validatorsError(file: string, message: string): BaksaError {
  return new BaksaError('VALIDATORS_INVALID', `${file}: ${message}`, {
    exitCode: ExitCode.config,
    hint: `${VALIDATORS_FILE} must hold {"format":"${VALIDATORS_FORMAT}","version":1,"validators":[{"id","publicKey"(64 hex)}]}`,
  });
}

export function parseValidators(text: string, file = VALIDATORS_FILE): SignerRegistry {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw validatorsError(file, `not JSON (${(error as Error).message})`);
  }
  const d = doc as { format?: unknown; version?: unknown; validators?: unknown };
  if (typeof d !== 'object' || d === null || d.format !== VALIDATORS_FORMAT) throw validatorsError(file, `"format" is not "${VALIDATORS_FORMAT}"`);
  if (d.version !== 1) throw validatorsError(file, `unsupported version ${JSON.stringify(d.version)}`);
  if (!Array.isArray(d.validators)) throw validatorsError(file, '"validators" is not a list');
  const entries = d.validators.map((v: unknown, i: number): ValidatorEntry => {
    const e = v as { id?: unknown; publicKey?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.id !== 'string') throw validatorsError(file, `validators[${i}].id is not a string`);
    if (typeof e.publicKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(e.publicKey)) {
      throw validatorsError(file, `validators[${i}].publicKey is not 64 hex digits`);
    }
    return { id: e.id, publicKey: new Uint8Array(Buffer.from(e.publicKey, 'hex')) };
  });
  try {
    return new SignerRegistry(entries);
  } catch (error) {
    if (error instanceof BaksaError) throw validatorsError(file, error.message);
    throw error;
  }
}

export async function readValidators(file: string): Promise<SignerRegistry> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new BaksaError('VALIDATORS_MISSING', `cannot read the validator set ${file}: ${(error as Error).message}`, {
      exitCode: ExitCode.config,
      hint: `put ${VALIDATORS_FILE} next to the block log, or name it with --validators`,
    });
  }
  return parseValidators(text, file);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a file atomically: write a temp file, fsync it, rename it over the target, fsync the directory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (error) {
    await fh.close();
    await rm(tmp, { force: true });
    throw error;
  }
  await fh.close();
  await rename(tmp, file);
  await fsyncDir(dirname(file));
}
