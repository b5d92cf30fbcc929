/**
 * File names as the file system has them (bytes) and as 2baksa keeps them (strings in the catalog,
 * the manifest's JSON and every message): a name that is UTF-8 is its text, unchanged; a byte that
 * is not part of a UTF-8 sequence (Latin-1 from an old device, say) is kept as one character of
 * U+F780..U+F7FF, the byte's value above 0x80 (as Python's surrogateescape keeps it, but in the
 * private use area: sqlite and well-formed JSON do not carry lone surrogates, and Node gives a name
 * it cannot decode as U+FFFD, so the file could not be opened by it again). A name whose own text
 * holds a character of that range keeps its bytes escaped too, so every string maps back to exactly
 * the bytes it came from. Borg and restic back such files up; before this, 2baksa skipped them
 * (NAME_NOT_UTF8).
 *
 * `fsPath` turns a kept path back into what to hand the file system: the string itself for the
 * usual path, its bytes when it holds an escape.
 */

const ESCAPE_FIRST = 0xf780;
const ESCAPE_LAST = 0xf7ff;
const ESCAPED = /[\uF780-\uF7FF]/;
const EACH_ESCAPED = /[\uF780-\uF7FF]/g;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The length of the well-formed UTF-8 sequence at `at` (1..4), or 0 when the byte there starts none. */
function sequenceAt(bytes: Uint8Array, at: number): number {
  const b = bytes[at]!;
  if (b < 0x80) return 1;
  const cont = (i: number, lo = 0x80, hi = 0xbf) => at + i < bytes.length && bytes[at + i]! >= lo && bytes[at + i]! <= hi;
  if (b >= 0xc2 && b <= 0xdf) return cont(1) ? 2 : 0;
  // No overlong forms, no surrogates (ED A0..BF), nothing past U+10FFFF.
  if (b >= 0xe0 && b <= 0xef) return cont(1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && cont(2) ? 3 : 0;
  if (b >= 0xf0 && b <= 0xf4) return cont(1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** The kept form of a name (or path) given as the file system's bytes. */
export function nameOfBytes(bytes: Uint8Array): string {
  try {
    const text = strictUtf8.decode(bytes);
    if (!ESCAPED.test(text)) return text;
  } catch {
    // Not UTF-8 throughout: escaped below.
  }
  let out = '';
  for (let at = 0; at < bytes.length; ) {
    const n = sequenceAt(bytes, at);
    const text = n > 0 ? strictUtf8.decode(bytes.subarray(at, at + n)) : '';
    const cp = text.codePointAt(0) ?? -1;
    if (n > 0 && (cp < ESCAPE_FIRST || cp > ESCAPE_LAST)) {
      out += text;
      at += n;
      continue;
    }
    // A byte that starts no sequence, or each byte of a character of the escape range itself.
    for (const b of bytes.subarray(at, at + Math.max(n, 1))) out += String.fromCharCode(ESCAPE_FIRST + b - 0x80);
    at += Math.max(n, 1);
  }
  return out;
}

/** The bytes a kept name (or path) stands for. */
export function bytesOfName(name: string): Buffer {
  if (!ESCAPED.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  let text = '';
  for (const ch of name) {
    const cp = ch.codePointAt(0)!;
    if (cp >= ESCAPE_FIRST && cp <= ESCAPE_LAST) {
      if (text !== '') parts.push(Buffer.from(text, 'utf8'));
      text = '';
      parts.push(Buffer.from([cp - ESCAPE_FIRST + 0x80]));
    } else text += ch;
  }
  if (text !== '') parts.push(Buffer.from(text, 'utf8'));
  return Buffer.concat(parts);
}

/** What to give the file system for a kept path: the string, or its bytes when it holds an escape. */
export function fsPath(path: string): string | Buffer {
  return ESCAPED.test(path) ? bytesOfName(path) : path;
}

/**
 * The kept form of a name recorded as plain text (manifests of version 1, from before names were
 * escaped): itself, unless it holds a character of the escape range, whose bytes are escaped then.
 */
export function keptOfText(text: string): string {
  return ESCAPED.test(text) ? nameOfBytes(Buffer.from(text, 'utf8')) : text;
}

/** A kept path for people to read: each escaped byte as `\xNN` (as `ls -b` shows it), the rest as it is. */
export function shownPath(path: string): string {
  return ESCAPED.test(path) ? path.replace(EACH_ESCAPED, (c) => `\\x${(c.charCodeAt(0) - ESCAPE_FIRST + 0x80).toString(16)}`) : path;
}
