/**
 * Reading the PKI directory: file paths, PEM loading with clear errors, the mutual TLS 1.3 options every
 * link uses, and a description of a certificate for `pki show`. Synchronous on purpose: servers read
 * their material once at start-up.
 *
 * TLS: both sides present a certificate from the cluster CA and accept only that CA (`ca` replaces
 * Node's public roots); TLS 1.3 only. A client dialling a peer by an address its certificate does not
 * list passes the peer's name as `servername` (it is not sent when it is an IP address).
 */
import { X509Certificate as NodeX509 } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import { BaksaError, ExitCode } from '../errors.ts';
import { identityOf, parseSubjectAltName, roleOf, validateHostName, type Role } from './pki-identity.ts';

export const CA_BASENAME = 'ca';

export interface PkiPaths {
  ca: string;
  caKey: string;
  /** The CA's certificate revocation list (`pki revoke`); absent until a first revocation. */
  crl: string;
  cert: string;
  key: string;
}

export function pkiPaths(dir: string, name: string): PkiPaths {
  return {
    ca: join(dir, `${CA_BASENAME}.crt`),
    caKey: join(dir, `${CA_BASENAME}.key`),
    crl: join(dir, `${CA_BASENAME}.crl`),
    cert: join(dir, `${name}.crt`),
    key: join(dir, `${name}.key`),
  };
}

export function readPem(path: string, what: string, hint: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BaksaError('PKI_FILE_MISSING', `cannot read ${what} ${path} (${code ?? String(error)})`, {
      hint, exitCode: ExitCode.config, details: { path }, cause: error,
    });
  }
}

export function parseCertificate(pem: string, path: string): NodeX509 {
  try {
    return new NodeX509(pem);
  } catch (error) {
    throw new BaksaError('PKI_CERT_INVALID', `${path} is not a PEM certificate`, {
      hint: 'restore the file or issue it again', exitCode: ExitCode.config, details: { path }, cause: error,
    });
  }
}

export interface TlsMaterial {
  ca: string;
  cert: string;
  key: string;
  /** The CA's revocation list (DIR/ca.crl), when there is one: a certificate it lists is refused at every handshake. */
  crl?: string;
}

/** A serial number as revocation lists and Node's certificates are compared: lower-case hex, no leading zeros. */
export function serialKey(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** DIR/ca.crl as PEM, or undefined when the CA has revoked nothing yet. */
export function readCrl(dir: string): string | undefined {
  try {
    return readFileSync(pkiPaths(dir, CA_BASENAME).crl, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BaksaError('PKI_FILE_MISSING', `cannot read the revocation list ${pkiPaths(dir, CA_BASENAME).crl} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, {
      hint: 'restore the file (2baksa pki revoke writes it) or fix its permissions', exitCode: ExitCode.config,
    });
  }
}

/**
 * Reads the CA certificate, NAME's certificate and key, and the CA's revocation list if it has one,
 * as PEM strings for Node's tls options.
 */
export function loadTlsMaterial(dir: string, name: string): TlsMaterial {
  validateHostName('name', name);
  const paths = pkiPaths(dir, name);
  const hint = `issue it first: 2baksa pki issue --dir ${dir} --name ${name} --role <role>`;
  const material: TlsMaterial = {
    ca: readPem(paths.ca, 'the CA certificate', `create the CA first: 2baksa pki init --dir ${dir}`),
    cert: readPem(paths.cert, 'the certificate', hint),
    key: readPem(paths.key, 'the private key', hint),
  };
  const crl = readCrl(dir);
  if (crl !== undefined) material.crl = crl;
  return material;
}

/** `material` with the revocation list `crl` in place of its own (none when undefined). */
export function withCrl<M extends { crl?: string | Buffer }>(material: M, crl: string | undefined): M {
  const { crl: _replaced, ...rest } = material;
  return (crl === undefined ? rest : { ...rest, crl }) as M;
}

/** Server side of mutual TLS 1.3: clients must present a certificate from our CA that its list does not revoke. */
export function tlsServerOptions(material: TlsMaterial): TlsOptions {
  const options: TlsOptions = { ca: material.ca, cert: material.cert, key: material.key, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true };
  if (material.crl !== undefined) options.crl = material.crl;
  return options;
}

export interface TlsClientExtras {
  /** The server's certificate name to check, when dialling it by an address its certificate does not list. */
  servername?: string;
}

/** Client side of mutual TLS 1.3: presents our certificate and accepts only servers from our CA, not revoked. */
export function tlsClientOptions(material: TlsMaterial, extras: TlsClientExtras = {}): ConnectionOptions {
  const options: ConnectionOptions = {
    ca: material.ca, cert: material.cert, key: material.key, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: true,
  };
  if (material.crl !== undefined) options.crl = material.crl;
  if (extras.servername !== undefined && isIP(extras.servername) === 0) options.servername = extras.servername;
  return options;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  identity: string | undefined;
  role: Role | undefined;
  isCa: boolean;
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  fingerprint256: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** OpenSSL prints IPv6 SANs expanded and upper case; show them the way people write them. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

export function certificateInfo(pem: string, path = 'certificate'): CertificateInfo {
  const cert = parseCertificate(pem, path);
  const sans = parseSubjectAltName(cert.subjectAltName ?? '');
  return {
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    identity: identityOf(cert),
    role: roleOf(cert),
    isCa: cert.ca,
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
    dnsNames: sans.filter((s) => s.type === 'DNS').map((s) => s.value),
    ipAddresses: sans.filter((s) => s.type === 'IP Address').map((s) => canonicalIp(s.value)),
  };
}

/** Reads DIR/<name>.crt (or the CA for name "ca") and describes it. */
export function showCertificate(dir: string, name: string): CertificateInfo {
  if (name !== CA_BASENAME) validateHostName('name', name);
  const path = pkiPaths(dir, name).cert;
  return certificateInfo(readPem(path, 'the certificate', `list ${dir} for the names issued there`), path);
}
