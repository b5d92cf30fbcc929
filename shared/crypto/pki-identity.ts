/**
 * Who a certificate speaks for: names and roles of the 2baksa PKI, and reading them back from a peer.
 *
 * A certificate's identity is its subject CN (an account or node name, an RFC 1034 host name). Its role
 * is carried in the subject alternative names as the URI `urn:2baksa:role:<role>`; that URI is the one
 * authoritative source (the subject OU repeats the role for people reading `openssl x509 -text`, and is
 * never trusted by code). Reading never throws: a certificate without a role, with an unknown role or
 * with two different roles has no role (`undefined`), and RBAC then refuses it.
 */
import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { configError } from '../errors.ts';

export const ROLES = ['agent', 'replica', 'operator', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_URI_PREFIX = 'urn:2baksa:role:';

export const HOST_NAME_CHARS_MAX = 255;
export const HOST_LABEL_CHARS_MAX = 63;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function roleUri(role: Role): string {
  return ROLE_URI_PREFIX + role;
}

/** Why `name` is not an RFC 1034 host name, or undefined when it is one. */
export function hostNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > HOST_NAME_CHARS_MAX) return `is ${name.length} characters long (at most ${HOST_NAME_CHARS_MAX})`;
  if (isIP(name) !== 0) return 'is an IP address, not a host name';
  for (const label of name.split('.')) {
    if (label.length === 0) return 'has an empty label (two dots in a row, or a leading or trailing dot)';
    if (label.length > HOST_LABEL_CHARS_MAX) return `has a label of ${label.length} characters (at most ${HOST_LABEL_CHARS_MAX})`;
    if (!/^[A-Za-z0-9-]+$/.test(label)) return `has a label "${label}" with characters other than letters, digits and "-"`;
    if (label.startsWith('-') || label.endsWith('-')) return `has a label "${label}" that starts or ends with "-"`;
  }
  return undefined;
}

export function validateHostName(field: string, name: string): string {
  const problem = hostNameProblem(name);
  if (problem) throw configError(field, `"${name.slice(0, 80)}" ${problem}`, 'use a host name such as gw-07.site-a.example');
  return name;
}

export function validateRole(field: string, role: string): Role {
  if (!isRole(role)) throw configError(field, `"${role}" is not a role`, `use one of: ${ROLES.join(', ')}`);
  return role;
}

export interface SanEntry {
  type: string;
  value: string;
}

/**
 * Parses Node's `subjectaltname` text ("DNS:a, URI:urn:x, IP Address:127.0.0.1"). Since Node 17.3.1 a
 * value holding a comma, quote or control character is printed as a JSON string, so a value can never
 * smuggle in a second entry. Malformed text yields the entries parsed so far.
 */
export function parseSubjectAltName(text: string): SanEntry[] {
  const entries: SanEntry[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        break;
      }
      end += 1;
    } else {
      end = text.indexOf(',', colon);
      if (end < 0) end = text.length;
      value = text.slice(colon + 1, end);
    }
    entries.push({ type, value });
    if (text.startsWith(', ', end)) i = end + 2;
    else break;
  }
  return entries;
}

/** A certificate as Node hands it out: from `socket.getPeerCertificate()` or a `crypto.X509Certificate`. */
export type CertificateLike = PeerCertificate | X509Certificate | null | undefined;

function legacy(cert: CertificateLike): PeerCertificate | undefined {
  if (!cert) return undefined;
  if (cert instanceof X509Certificate) {
    try {
      return cert.toLegacyObject();
    } catch {
      return undefined;
    }
  }
  return cert;
}

/** The role in the certificate's `urn:2baksa:role:` SAN URI; undefined when absent, unknown or ambiguous. */
export function roleOf(cert: CertificateLike): Role | undefined {
  const peer = legacy(cert);
  const text: unknown = peer?.subjectaltname;
  if (typeof text !== 'string') return undefined;
  let found: Role | undefined;
  for (const { type, value } of parseSubjectAltName(text)) {
    if (type !== 'URI' || !value.startsWith(ROLE_URI_PREFIX)) continue;
    const role = value.slice(ROLE_URI_PREFIX.length);
    if (!isRole(role)) return undefined;
    if (found !== undefined && found !== role) return undefined;
    found = role;
  }
  return found;
}

/** The subject CN; undefined when absent or when the subject holds more than one CN. */
export function identityOf(cert: CertificateLike): string | undefined {
  const peer = legacy(cert);
  const cn: unknown = peer?.subject?.CN;
  if (typeof cn === 'string' && cn.length > 0) return cn;
  return undefined;
}

export interface AuthenticatedPeer {
  identity: string;
  role: Role | undefined;
  fingerprint256: string;
}

/**
 * The peer of a TLS socket whose certificate chain our CA verified; undefined when the socket is not
 * authorized or the certificate names no identity. Servers using `tlsServerOptions` never complete a
 * handshake with an unverified client, so this is the lookup RBAC uses once a connection is up.
 */
export function authenticatedPeer(socket: TLSSocket): AuthenticatedPeer | undefined {
  if (!socket.authorized) return undefined;
  // Once per connection, not per request: a keep-alive connection carries hundreds of uploads, and
  // TLS 1.3 has no renegotiation, so the peer's certificate cannot change on it.
  if (peersOfSockets.has(socket)) return peersOfSockets.get(socket);
  const cert = socket.getPeerCertificate();
  const identity = identityOf(cert);
  const peer = identity === undefined ? undefined : { identity, role: roleOf(cert), fingerprint256: cert.fingerprint256 };
  peersOfSockets.set(socket, peer);
  return peer;
}

const peersOfSockets = new WeakMap<TLSSocket, AuthenticatedPeer | undefined>();

/** Why a certificate was revoked (RFC 5280 reason codes, as `pki revoke --reason` spells them). */
export const REVOCATION_REASONS = ['unspecified', 'key-compromise', 'affiliation-changed', 'superseded', 'cessation-of-operation'] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];

export function isRevocationReason(text: string): text is RevocationReason {
  return (REVOCATION_REASONS as readonly string[]).includes(text);
}
