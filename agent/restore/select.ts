/** Which manifest entries a `--path P` selects: P itself and everything below it. */
export function normalizeSelector(path: string | undefined): string | undefined {
  if (path === undefined || path === '' || path === '/') return undefined;
  const p = path.replace(/\/+$/, '');
  return p.startsWith('/') ? p : `/${p}`;
}

export function selected(entryPath: string, selector: string | undefined): boolean {
  return selector === undefined || entryPath === selector || entryPath.startsWith(`${selector}/`);
}
