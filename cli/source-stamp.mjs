// The fingerprint of the sources a compiled build (dist/) was made from: every file's path, size and
// modification time under the source directories. The launcher (2baksa.mjs) runs dist/ only while the
// sources still have the fingerprint its build recorded, so an edited tree never runs stale code.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

export const SOURCE_DIRS = ['cli', 'shared', 'agent', 'aggregator'];
export const SOURCE_FILES = ['package.json', 'tsconfig.json', 'tsconfig.build.json'];
export const STAMP_FILE = '.source-stamp';

/**
 * True when `root`'s compiled build (dist/) was made from the sources as they are now, and
 * BAKSA_FROM_SOURCES=1 does not ask for the sources: what the launcher and the benches run.
 */
export function distIsFresh(root) {
  if (process.env.BAKSA_FROM_SOURCES === '1') return false;
  let built;
  try {
    built = readFileSync(join(root, 'dist', STAMP_FILE), 'utf8').trim();
  } catch {
    return false;
  }
  return built === sourceStamp(root);
}

/** The fingerprint of the sources under `root`. */
export function sourceStamp(root) {
  const hash = createHash('sha256');
  const add = (path) => {
    const s = statSync(path);
    hash.update(`${relative(root, path)}\0${s.size}\0${s.mtimeMs}\n`);
  };
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) add(p);
    }
  };
  for (const d of SOURCE_DIRS) walk(join(root, d));
  for (const f of SOURCE_FILES) add(join(root, f));
  return hash.digest('hex');
}
