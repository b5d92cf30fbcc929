/**
 * Finds and loads firmware profiles: a built-in name (firmware-profiles/NAME.json), a path to a JSON file,
 * or `auto` (chosen from the hardware by `detectProfileName`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { parseProfile, type Profile } from './schema.ts';

export const profilesDir: string = fileURLToPath(new URL('../../firmware-profiles/', import.meta.url));

export function builtinProfileNames(): string[] {
  return readdirSync(profilesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Loads a profile by built-in name or file path and validates it. */
export function loadProfile(nameOrPath: string, field = 'profile'): Profile {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.json');
  if (!isPath && !builtinProfileNames().includes(nameOrPath)) {
    throw configError(field, `unknown profile "${nameOrPath}"`, `use one of ${[...builtinProfileNames(), 'auto'].join(', ')} or a path to a JSON file`);
  }
  const path = isPath ? resolve(nameOrPath) : join(profilesDir, `${nameOrPath}.json`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new BaksaError('PROFILE_UNREADABLE', `cannot read profile ${path}: ${(error as Error).message}`, {
      hint: 'check the path given to --profile',
      exitCode: ExitCode.config,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw configError(field, `${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseProfile(json, path);
}
