/**
 * Shell-style globs for sources and excludes: `*` (within one path segment), `**` (any number of
 * segments, including none), `?`, `[abc]` / `[!a-z]` and `{a,b}`. Patterns are matched against whole
 * absolute paths (with `/` separators).
 */

export function hasGlob(pattern: string): boolean {
  return /[*?[{]/.test(pattern);
}

function escape(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

/** Translates a glob into the source of an anchored RegExp. */
export function globSource(pattern: string): string {
  let out = '';
  let i = 0;
  let braces = 0;
  while (i < pattern.length) {
    const ch = pattern[i]!;
    if (ch === '*') {
      if (pattern[i + 1] === '*') {
        const atStart = i === 0 || pattern[i - 1] === '/';
        const atEnd = i + 2 === pattern.length || pattern[i + 2] === '/';
        if (atStart && atEnd) {
          // "**/" matches zero or more whole segments; a trailing "**" matches everything below.
          if (i + 2 === pattern.length) out += '.*';
          else out += '(?:[^/]*/)*';
          i += 3;
          continue;
        }
        out += '[^/]*';
        i += 2;
        continue;
      }
      out += '[^/]*';
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      const close = pattern.indexOf(']', i + 2);
      if (close < 0) out += '\\[';
      else {
        let body = pattern.slice(i + 1, close);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        out += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else if (ch === '{') {
      braces++;
      out += '(?:';
    } else if (ch === '}' && braces > 0) {
      braces--;
      out += ')';
    } else if (ch === ',' && braces > 0) {
      out += '|';
    } else {
      out += escape(ch);
    }
    i++;
  }
  return out;
}

export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${globSource(pattern)}$`);
}

/** The directory a glob walk starts from: the leading segments that hold no glob character. */
export function globBase(pattern: string): string {
  const segments = pattern.split('/');
  const fixed: string[] = [];
  for (const s of segments) {
    if (hasGlob(s)) break;
    fixed.push(s);
  }
  const base = fixed.join('/');
  return base === '' ? '/' : base;
}

/**
 * Exclude rules (like restic's): a pattern with a `/` matches the whole absolute path, one without
 * matches the entry's name at any depth. An excluded directory excludes everything below it.
 */
export class Excluder {
  private readonly byPath: RegExp[];
  private readonly byName: RegExp[];

  constructor(
    patterns: readonly string[],
    /** Paths excluded whatever the patterns (the agent's own state: backup/run.ts `ownPaths`). */
    private readonly always?: (absPath: string) => boolean,
  ) {
    this.byPath = patterns.filter((p) => p.includes('/')).map(globToRegExp);
    this.byName = patterns.filter((p) => !p.includes('/')).map(globToRegExp);
  }

  excludes(absPath: string): boolean {
    if (this.always?.(absPath)) return true;
    const name = absPath.slice(absPath.lastIndexOf('/') + 1);
    return this.byName.some((r) => r.test(name)) || this.byPath.some((r) => r.test(absPath));
  }
}
