import { BaksaError, ExitCode } from '../../shared/errors.ts';

/** Which manifest entries a `--path P` selects: P itself and everything below it. */
export function normalizeSelector(path: string | undefined): string | undefined {
  if (path === undefined || path === '' || path === '/') return undefined;
  const p = path.replace(/\/+$/, '');
  return p.startsWith('/') ? p : `/${p}`;
}

export function selected(entryPath: string, selector: string | undefined): boolean {
  return selector === undefined || entryPath === selector || entryPath.startsWith(`${selector}/`);
}

/**
 * For a `--path` that selects nothing: PATH_NOT_IN_SNAPSHOT, suggesting the snapshot's paths that end
 * with a relative one (it is taken from the root, as Borg does). `see` each entry path on the way.
 */
export function pathSuggester(path: string | undefined): { see(entryPath: string): void; notFound(where: string): BaksaError } {
  const selector = normalizeSelector(path);
  const relative = path !== undefined && !path.startsWith('/') && selector !== undefined ? selector : undefined;
  const suggestions: string[] = [];
  return {
    see(entryPath) {
      if (relative && suggestions.length < 3 && entryPath !== relative && entryPath.endsWith(relative)) suggestions.push(entryPath);
    },
    notFound(where) {
      return new BaksaError('PATH_NOT_IN_SNAPSHOT', `${selector} is not in ${where}`, {
        hint: suggestions.length > 0
          ? `paths are absolute, as they were backed up: did you mean ${suggestions.map((p) => `--path ${p}`).join(' or ')}?`
          : 'give the absolute path as it was backed up (see the source paths of `2baksa snapshots`)',
        details: { path: selector, ...(suggestions.length > 0 ? { suggestions } : {}) },
        exitCode: ExitCode.usage,
      });
    },
  };
}
