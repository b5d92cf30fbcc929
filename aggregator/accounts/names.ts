/**
 * Account numbers and symbolic names (Box Backup requirement 1).
 *
 * An account number is a 32-bit integer shown as hex (`0x0000001a`); people may type `0x1a` or `1a`.
 * A symbolic name is an RFC 1034 host name (the installer proposes the FQDN), at most 255 characters,
 * stored lower-case because DNS names compare case-insensitively. A name that could be read as a number
 * (only hex digits, or `0x` + hex digits) is refused, so "number or name" on the command line is never
 * ambiguous. Group names follow the same rules; group administrator contacts are free text without
 * control characters.
 */
import { hostNameProblem } from '../../shared/crypto/pki-identity.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';

export const ACCOUNT_NUMBER_MAX = 0xffff_ffff;
export const ACCOUNT_NAME_CHARS_MAX = 255;
export const GROUP_NAME_CHARS_MAX = 63;
export const CONTACT_CHARS_MAX = 255;
export const CLUSTER_NAME_CHARS_MAX = 63;
export const REGIONS_MAX = 32;

export function formatAccountNumber(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

/** Parses `0x1a` / `1a` (hex) into a number; undefined when the text is not an account number. */
export function parseAccountNumber(text: string): number | undefined {
  const m = /^(?:0x)?([0-9a-f]{1,8})$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number.parseInt(m[1]!, 16);
  return n >= 1 && n <= ACCOUNT_NUMBER_MAX ? n : undefined;
}

/** True when `text` would be read as an account number rather than a name. */
export function looksLikeNumber(text: string): boolean {
  return /^(?:0x)?[0-9a-f]+$/i.test(text.trim());
}

function invalid(field: string, message: string, hint: string): BaksaError {
  return new BaksaError('INVALID_ARGUMENT', `${field}: ${message}`, { hint, exitCode: ExitCode.usage, details: { field } });
}

/** Why `name` cannot be an account name, or undefined when it can. */
export function accountNameProblem(name: string): string | undefined {
  const problem = hostNameProblem(name);
  if (problem !== undefined) return problem;
  if (looksLikeNumber(name)) return 'reads as an account number (only hex digits); add a letter outside a-f';
  return undefined;
}

/** Normalizes (lower case, no trailing dot) and validates an account name. */
export function normalizeAccountName(name: string, field = 'name'): string {
  const clean = name.trim().replace(/\.$/, '').toLowerCase();
  const problem = accountNameProblem(clean);
  if (problem !== undefined) {
    throw invalid(field, `"${clean.slice(0, 80)}" ${problem}`, 'use an RFC 1034 host name such as gw-07.site-a.example');
  }
  return clean;
}

export function normalizeGroupName(name: string, field = 'group'): string {
  const clean = name.trim().toLowerCase();
  if (clean.length === 0 || clean.length > GROUP_NAME_CHARS_MAX || !/^[a-z0-9][a-z0-9._-]*$/.test(clean)) {
    throw invalid(
      field,
      `"${clean.slice(0, 80)}" is not a group name`,
      `use 1-${GROUP_NAME_CHARS_MAX} letters, digits, ".", "_" or "-", starting with a letter or digit`,
    );
  }
  return clean;
}

export function validateContact(contact: string, field = 'admin'): string {
  const clean = contact.trim();
  // eslint-disable-next-line no-control-regex
  if (clean.length === 0 || clean.length > CONTACT_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(clean)) {
    throw invalid(field, 'is not a contact', `give an e-mail address or a name, 1-${CONTACT_CHARS_MAX} characters, no control characters`);
  }
  return clean;
}

export function validateClusterName(name: string, field: string): string {
  const clean = name.trim();
  if (clean.length === 0 || clean.length > CLUSTER_NAME_CHARS_MAX || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(clean)) {
    throw invalid(field, `"${clean.slice(0, 80)}" is not a cluster name`, 'use letters, digits, ".", "_" or "-"');
  }
  return clean;
}

export function validateRegions(regions: readonly string[], field = 'regions'): string[] {
  if (regions.length > REGIONS_MAX) throw invalid(field, `lists ${regions.length} regions`, `list at most ${REGIONS_MAX}`);
  const out = new Set<string>();
  for (const r of regions) {
    const clean = r.trim().toLowerCase();
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(clean)) {
      throw invalid(field, `"${clean.slice(0, 40)}" is not a region`, 'use region codes such as eu-west or us-east-1');
    }
    out.add(clean);
  }
  return [...out].sort();
}

/** Certificate and key files of an account are named by its symbolic name (falling back to the hex number). */
export function certificateNameOf(account: { name?: string | null; number: number }): string {
  return account.name ? account.name : formatAccountNumber(account.number).slice(2);
}
