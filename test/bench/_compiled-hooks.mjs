// Module resolve hook for _compiled.mjs: a source module `ROOT/DIR/….ts` (DIR one of the source
// directories) resolves to `ROOT/dist/DIR/….js` when that file exists.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let prefixes = [];
let root = '';

export function initialize(data) {
  root = data.root;
  prefixes = data.dirs.map((d) => `${root}${d}/`);
}

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const url = resolved.url;
  if (!url.endsWith('.ts') || !prefixes.some((p) => url.startsWith(p))) return resolved;
  const twin = `${root}dist/${url.slice(root.length, -3)}.js`;
  if (!existsSync(fileURLToPath(twin))) return resolved;
  return { ...resolved, url: twin, format: 'module' };
}
