/**
 * The cluster PKI: one CA per deployment issues ECDSA P-256 certificates for agents, replicas and people,
 * and every link (MQTT, replica, REST) runs TLS 1.3 with mutual certificates built from them.
 *
 * Files in a PKI directory (created 0700): `ca.crt` + `ca.key` and `<name>.crt` + `<name>.key`, and
 * `ca.crl` once the CA has revoked a certificate (`revokeCertificate`; every TLS option built from the
 * directory carries it). Keys are PKCS#8 PEM, mode 0600; every file is written crash-safely (temp,
 * fsync, rename or link, fsync dir).
 * A leaf certificate has subject CN=<name>, OU=<role>; SANs DNS:<name>, DNS:localhost, IP:127.0.0.1,
 * IP:::1 plus any extra names, and URI:urn:2baksa:role:<role> (the role RBAC reads, see pki-identity.ts);
 * key usage digitalSignature; extended key usage serverAuth + clientAuth. A leaf never outlives its CA.
 *
 * Certificates are built with @peculiar/x509 over Node's WebCrypto; reading them uses Node's own
 * X509Certificate. Issuing is async (WebCrypto); reading files and the TLS options live in pki-read.ts
 * (sync), names and roles in pki-identity.ts; this module re-exports both, so callers import pki.ts only.
 */
import { X509Certificate as NodeX509, createPrivateKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import type * as X509 from '@peculiar/x509';
import { BaksaError, ExitCode, configError } from '../errors.ts';
import { writeFileDurable } from './durable-file.ts';
import { withLockWaiting } from '../process-lock.ts';
import { REVOCATION_REASONS, isRevocationReason, roleUri, validateHostName, validateRole, type RevocationReason, type Role } from './pki-identity.ts';
import { CA_BASENAME, parseCertificate, pkiPaths, readCrl, readPem, serialKey } from './pki-read.ts';

export {
  REVOCATION_REASONS, ROLES, ROLE_URI_PREFIX, authenticatedPeer, hostNameProblem, identityOf, isRevocationReason, isRole, roleOf,
  validateHostName, validateRole, type AuthenticatedPeer, type CertificateLike, type RevocationReason, type Role,
} from './pki-identity.ts';
export {
  certificateInfo, loadTlsMaterial, pkiPaths, readCrl, serialKey, showCertificate, tlsClientOptions, tlsServerOptions, withCrl,
  type CertificateInfo, type PkiPaths, type TlsClientExtras, type TlsMaterial,
} from './pki-read.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const subtle = webcrypto.subtle;
const provider = webcrypto;

let x509Module: Promise<typeof X509> | undefined;

/** @peculiar/x509 loads in about half a second, so it loads on first use: TLS servers never need it. */
function loadX509(): Promise<typeof X509> {
  x509Module ??= (async () => {
    // tsyringe, under @peculiar/x509, needs the Reflect metadata polyfill before it loads.
    await import('reflect-metadata');
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(provider);
    return x509;
  })();
  return x509Module;
}

const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface PkiOptions {
  caDays: number;
  certDays: number;
  /** notBefore is set this far in the past so peers with a slightly slow clock accept a fresh certificate. */
  clockSkewS: number;
  daysMax: number;
}

export const defaultPkiOptions: PkiOptions = { caDays: 3650, certDays: 397, clockSkewS: 300, daysMax: 36_500 };

export interface InitCaOptions {
  name?: string;
  days?: number;
  force?: boolean;
  /** The issuing time (tests); defaults to the real clock. */
  now?: Date;
}

export interface IssueOptions {
  name: string;
  role: Role;
  days?: number;
  dnsNames?: readonly string[];
  ipAddresses?: readonly string[];
  /** Replace an existing certificate and key of the same name (renewal). */
  force?: boolean;
  now?: Date;
}

export interface WrittenCertificate {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedCertificate extends WrittenCertificate {
  role: Role;
  caPath: string;
  dnsNames: string[];
  ipAddresses: string[];
}

function validateDays(days: number | undefined, fallback: number): number {
  const value = days ?? fallback;
  if (!Number.isInteger(value) || value < 1 || value > defaultPkiOptions.daysMax) {
    throw configError('days', `${String(days)} is not a whole number of days from 1 to ${defaultPkiOptions.daysMax}`);
  }
  return value;
}

function validateCaName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/.test(name)) {
    throw configError('name', `"${name.slice(0, 80)}" is not a CA name`, 'use 1 to 64 letters, digits, spaces, ".", "_" or "-"');
  }
  return name;
}

function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return (await loadX509()).PemConverter.encode(der, 'PRIVATE KEY');
}

function refuseExisting(paths: readonly string[], code: string, what: string, hint: string): void {
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0) {
    throw new BaksaError(code, `${what} already exists (${existing.join(', ')})`, { hint, details: { paths: existing } });
  }
}

async function writePair(certPath: string, keyPath: string, certPem: string, keyPem: string, force: boolean): Promise<void> {
  try {
    await writeFileDurable(keyPath, keyPem, { mode: 0o600, exclusive: !force });
    await writeFileDurable(certPath, certPem, { mode: 0o644, exclusive: !force });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new BaksaError('PKI_FILE_EXISTS', `${certPath} or ${keyPath} appeared while writing`, {
        hint: 'another process is writing the same PKI directory; run the command again', cause: error,
      });
    }
    throw error;
  }
}

function written(name: string, certPath: string, keyPath: string, cert: X509.X509Certificate, keyPem: string): WrittenCertificate {
  const certPem = cert.toString('pem') + '\n';
  return {
    name, certPath, keyPath, certPem, keyPem,
    fingerprint256: new NodeX509(certPem).fingerprint256,
    notBefore: cert.notBefore, notAfter: cert.notAfter,
  };
}

/** Creates DIR/ca.crt and DIR/ca.key. Refuses to replace an existing CA unless `force`. */
export async function initCa(dir: string, options: InitCaOptions = {}): Promise<WrittenCertificate> {
  const name = validateCaName(options.name ?? '2baksa-ca');
  const days = validateDays(options.days, defaultPkiOptions.caDays);
  const paths = pkiPaths(dir, CA_BASENAME);
  if (!options.force) {
    refuseExisting([paths.ca, paths.caKey], 'PKI_CA_EXISTS', 'a CA', 'every certificate issued so far depends on this CA; pass --force only if you mean to replace it');
  }
  const now = options.now ?? new Date();
  const x509 = await loadX509();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [name] }, { O: ['2baksa'] }],
    notBefore: new Date(now.getTime() - defaultPkiOptions.clockSkewS * 1000),
    notAfter: new Date(now.getTime() + days * DAY_MS),
    keys,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
    ],
  }, provider);
  const keyPem = await privateKeyPem(keys.privateKey);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const result = written(name, paths.ca, paths.caKey, cert, keyPem);
  await writePair(paths.ca, paths.caKey, result.certPem, keyPem, options.force === true);
  return result;
}

function parsePrivateKey(pem: string, path: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new BaksaError('PKI_KEY_INVALID', `${path} is not a PEM private key`, {
      hint: 'restore the file or issue the certificate again', exitCode: ExitCode.config, details: { path }, cause: error,
    });
  }
}

interface LoadedCa {
  cert: NodeX509;
  pem: string;
  signingKey: CryptoKey;
  publicKey: CryptoKey;
}

async function loadCa(dir: string): Promise<LoadedCa> {
  const paths = pkiPaths(dir, CA_BASENAME);
  const hint = `create the CA first: 2baksa pki init --dir ${dir}`;
  const pem = readPem(paths.ca, 'the CA certificate', hint);
  const keyPem = readPem(paths.caKey, 'the CA key', hint);
  const cert = parseCertificate(pem, paths.ca);
  const key = parsePrivateKey(keyPem, paths.caKey);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1' || !cert.checkPrivateKey(key)) {
    throw new BaksaError('PKI_CA_MISMATCH', `${paths.caKey} is not the ECDSA P-256 key of ${paths.ca}`, {
      hint: 'restore the matching ca.key, or create a new CA with pki init --force', exitCode: ExitCode.config,
    });
  }
  const der = key.export({ format: 'der', type: 'pkcs8' });
  const signingKey = await subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
  const publicKey = await subtle.importKey('spki', cert.publicKey.export({ format: 'der', type: 'spki' }), KEY_ALGORITHM, true, ['verify']);
  return { cert, pem, signingKey, publicKey };
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Issues DIR/<name>.crt and DIR/<name>.key signed by the CA in DIR. */
export async function issueCertificate(dir: string, options: IssueOptions): Promise<IssuedCertificate> {
  const name = validateHostName('name', options.name);
  if (name.toLowerCase() === CA_BASENAME) throw configError('name', `"${name}" is reserved for the CA files`);
  const role = validateRole('role', options.role);
  const days = validateDays(options.days, defaultPkiOptions.certDays);
  const extraDns = (options.dnsNames ?? []).map((n) => validateHostName('dns', n));
  const extraIps = (options.ipAddresses ?? []).map((ip) => {
    if (isIP(ip) === 0) throw configError('ip', `"${ip.slice(0, 80)}" is not an IPv4 or IPv6 address`);
    return ip;
  });
  const paths = pkiPaths(dir, name);
  if (!options.force) {
    refuseExisting([paths.cert, paths.key], 'PKI_CERT_EXISTS', `a certificate for ${name}`, 'pass --force to replace it (renewal)');
  }
  const ca = await loadCa(dir);
  const now = options.now ?? new Date();
  const caNotAfter = new Date(ca.cert.validTo);
  if (caNotAfter.getTime() <= now.getTime()) {
    throw new BaksaError('PKI_CA_EXPIRED', `the CA in ${dir} expired on ${caNotAfter.toISOString()}`, {
      hint: 'create a new CA with pki init --force and issue every certificate again', exitCode: ExitCode.config,
    });
  }
  const notAfter = new Date(Math.min(now.getTime() + days * DAY_MS, caNotAfter.getTime()));
  const dnsNames = uniq([name, 'localhost', ...extraDns]);
  const ipAddresses = uniq(['127.0.0.1', '::1', ...extraIps]);
  const x509 = await loadX509();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [name] }, { OU: [role] }],
    issuer: new x509.X509Certificate(ca.pem).subjectName,
    notBefore: new Date(now.getTime() - defaultPkiOptions.clockSkewS * 1000),
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth], false),
      new x509.SubjectAlternativeNameExtension([
        ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        { type: 'url', value: roleUri(role) },
      ], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey, false, provider),
    ],
  }, provider);
  const keyPem = await privateKeyPem(keys.privateKey);
  const result = written(name, paths.cert, paths.key, cert, keyPem);
  await writePair(paths.cert, paths.key, result.certPem, keyPem, options.force === true);
  return { ...result, role, caPath: pkiPaths(dir, CA_BASENAME).ca, dnsNames, ipAddresses };
}

const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0, 'key-compromise': 1, 'affiliation-changed': 3, superseded: 4, 'cessation-of-operation': 5,
};

export interface Revocation {
  /** Lower-case hex without leading zeros (`serialKey`). */
  serialNumber: string;
  revokedAt: Date;
  reason: RevocationReason | 'other';
}

export interface RevokeOptions {
  /** The certificate DIR/<name>.crt holds; or */
  name?: string;
  /** its serial number in hex (`pki show`), when its file is gone. */
  serial?: string;
  /** One of REVOCATION_REASONS (default unspecified); anything else is refused, naming the field. */
  reason?: string;
  now?: Date;
}

export interface RevokeResult {
  crlPath: string;
  revoked: Revocation;
  /** The serial was on the list already: nothing was written. */
  alreadyRevoked: boolean;
  revocations: Revocation[];
}

/** A serial's hex as the bytes of a positive DER INTEGER: whole bytes, and a 00 before a high first bit. */
function integerHex(serial: string): string {
  const even = serial.length % 2 === 0 ? serial : `0${serial}`;
  return Number.parseInt(even.slice(0, 2), 16) >= 0x80 ? `00${even}` : even;
}

function reasonOf(code: number | undefined): Revocation['reason'] {
  const found = (Object.entries(REASON_CODES) as [RevocationReason, number][]).find(([, c]) => c === (code ?? 0));
  return found ? found[0] : 'other';
}

/** The revocations DIR/ca.crl (or `pem`, read from it) lists, its signature checked against the CA; none when there is no list. */
export async function listRevocations(dir: string, pem: string | undefined = readCrl(dir)): Promise<Revocation[]> {
  if (pem === undefined) return [];
  return (await crlOf(dir, pem)).revocations;
}

interface ParsedCrl {
  revocations: Revocation[];
}

/** `pem` read as the CA of `dir`'s revocation list (PKI_CRL_INVALID when it is not). */
async function crlOf(dir: string, pem: string): Promise<ParsedCrl> {
  const ca = readPem(pkiPaths(dir, CA_BASENAME).ca, 'the CA certificate', `create the CA first: 2baksa pki init --dir ${dir}`);
  return parseCrl(await loadX509(), pem, ca, pkiPaths(dir, CA_BASENAME).crl);
}

export interface InstalledCrl {
  /** DIR/ca.crl changed (to the offered list, or to the merge of both). */
  installed: boolean;
  /** Entries of the list DIR holds now. */
  revocations: number;
  /** The two lists each held entries the other lacked, and DIR's CA key signed their union. */
  merged?: boolean;
  /** The offered list lacks entries DIR holds, and DIR has no CA key to merge them: DIR kept its own. */
  diverged?: boolean;
}

/**
 * Puts `pem` in place as DIR/ca.crl when the CA in DIR signed it and it holds every entry of the list
 * there and more (revocation only ever adds): how a list written on one machine reaches the others
 * (aggregator nodes from their peers, gateways from the cluster), where RevocationWatch applies it.
 * PKI_CRL_INVALID when the CA in DIR did not sign it; a list there that does not verify is replaced.
 *
 * It used to take the newer list (by thisUpdate): two operators revoking on two nodes, each with a copy
 * of the CA, wrote two lists of one entry each, and the later replaced the earlier everywhere, so a
 * revoked certificate worked again. Where the lists diverge, a directory holding the CA key signs their
 * union (a superset of both, so it spreads back); one without keeps its own list and says so.
 */
export function installCrl(dir: string, pem: string, now = new Date()): Promise<InstalledCrl> {
  return withCrlLock(dir, 'revocation list install', () => installCrlLocked(dir, pem, now));
}

/**
 * One writer of DIR/ca.crl at a time, in this process and across processes (DIR/ca.crl.lock): each
 * writer reads the list, adds to it and writes it back, and two at once lost one's entries.
 */
function withCrlLock<T>(dir: string, purpose: string, body: () => Promise<T>): Promise<T> {
  return withLockWaiting(`${pkiPaths(dir, CA_BASENAME).crl}.lock`, purpose, `the revocation list of ${dir}`, body);
}

async function installCrlLocked(dir: string, pem: string, now: Date): Promise<InstalledCrl> {
  const offered = await crlOf(dir, pem);
  const currentPem = readCrl(dir);
  const current = currentPem === undefined ? undefined : await crlOf(dir, currentPem).catch(() => undefined);
  if (!current) {
    await writeFileDurable(pkiPaths(dir, CA_BASENAME).crl, pem, { mode: 0o644 });
    return { installed: true, revocations: offered.revocations.length };
  }
  const has = (list: readonly Revocation[]) => new Set(list.map((r) => r.serialNumber));
  const offeredSerials = has(offered.revocations);
  const currentSerials = has(current.revocations);
  const extra = offered.revocations.filter((r) => !currentSerials.has(r.serialNumber));
  const missing = current.revocations.filter((r) => !offeredSerials.has(r.serialNumber));
  if (extra.length === 0) return { installed: false, revocations: current.revocations.length };
  if (missing.length === 0) {
    await writeFileDurable(pkiPaths(dir, CA_BASENAME).crl, pem, { mode: 0o644 });
    return { installed: true, revocations: offered.revocations.length };
  }
  if (!existsSync(pkiPaths(dir, CA_BASENAME).caKey)) return { installed: false, revocations: current.revocations.length, diverged: true };
  const union = [...current.revocations, ...extra];
  await writeCrl(dir, await loadCa(dir), union, now);
  return { installed: true, revocations: union.length, merged: true };
}

async function parseCrl(x509: typeof X509, pem: string, caPem: string, path: string): Promise<ParsedCrl> {
  const invalid = (why: string) => new BaksaError('PKI_CRL_INVALID', `${path} ${why}`, {
    hint: 'restore the file from a copy, or move it away and revoke the certificates again', exitCode: ExitCode.config, details: { path },
  });
  let crl: X509.X509Crl;
  try {
    crl = new x509.X509Crl(pem);
  } catch {
    throw invalid('is not a PEM revocation list');
  }
  if (!(await crl.verify({ publicKey: new x509.X509Certificate(caPem).publicKey }, provider))) throw invalid('is not signed by this CA');
  return {
    revocations: crl.entries.map((e) => ({ serialNumber: serialKey(e.serialNumber), revokedAt: e.revocationDate, reason: reasonOf(e.reason) })),
  };
}

/**
 * Adds a certificate to the CA's revocation list (DIR/ca.crl, signed by the CA and written
 * crash-safely): every TLS link that loads the list refuses it from then on, and the servers that
 * watch the file (`RevocationWatch`) close its open connections. Revocations at once, from this
 * process or others, wait for each other (DIR/ca.crl.lock), so none is lost. Revoking a serial already
 * listed changes nothing. The list is valid until the CA expires (its nextUpdate), so it never lapses
 * into refusing everyone; its thisUpdate is set back by the clock skew the certificates allow.
 */
export async function revokeCertificate(dir: string, options: RevokeOptions): Promise<RevokeResult> {
  if ((options.name === undefined) === (options.serial === undefined)) throw configError('name', 'give the certificate by --name or by --serial, one of them');
  const reason = options.reason ?? 'unspecified';
  if (!isRevocationReason(reason)) throw configError('reason', `"${String(reason)}" is not a reason`, `use one of ${REVOCATION_REASONS.join(', ')}`);
  return withCrlLock(dir, 'pki revoke', () => revokeLocked(dir, options, reason));
}

async function revokeLocked(dir: string, options: RevokeOptions, reason: RevocationReason): Promise<RevokeResult> {
  const ca = await loadCa(dir);
  let serial: string;
  if (options.name !== undefined) {
    const name = validateHostName('name', options.name);
    if (name.toLowerCase() === CA_BASENAME) throw configError('name', 'the CA cannot revoke itself', 'create a new CA with pki init --force instead');
    const path = pkiPaths(dir, name).cert;
    const cert = parseCertificate(readPem(path, 'the certificate', `give its serial number instead (--serial, from pki show)`), path);
    if (!cert.checkIssued(ca.cert) || !cert.verify(ca.cert.publicKey)) {
      throw new BaksaError('PKI_CERT_FOREIGN', `${path} was not issued by the CA in ${dir}`, { hint: 'revoke it with the CA that issued it', exitCode: ExitCode.config });
    }
    serial = serialKey(cert.serialNumber);
  } else {
    if (!/^[0-9a-fA-F]{1,40}$/.test(options.serial!)) throw configError('serial', `"${options.serial!.slice(0, 80)}" is not a serial number`, 'give it in hex, as pki show prints it');
    serial = serialKey(options.serial!);
  }
  const paths = pkiPaths(dir, CA_BASENAME);
  const revocations = await listRevocations(dir);
  const listed = revocations.find((r) => r.serialNumber === serial);
  if (listed) return { crlPath: paths.crl, revoked: listed, alreadyRevoked: true, revocations };
  const now = options.now ?? new Date();
  const revoked: Revocation = { serialNumber: serial, revokedAt: new Date(Math.floor(now.getTime() / 1000) * 1000), reason }; // the list keeps seconds
  const all = [...revocations, revoked];
  await writeCrl(dir, ca, all, now);
  return { crlPath: paths.crl, revoked, alreadyRevoked: false, revocations: all };
}

/**
 * Signs `entries` as DIR's revocation list and writes it crash-safely. Valid until the CA expires (its
 * nextUpdate), so it never lapses into refusing everyone; its thisUpdate set back by the clock skew the
 * certificates allow.
 */
async function writeCrl(dir: string, ca: LoadedCa, entries: readonly Revocation[], now: Date): Promise<void> {
  const x509 = await loadX509();
  const crl = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(ca.pem).subjectName,
    thisUpdate: new Date(now.getTime() - defaultPkiOptions.clockSkewS * 1000),
    nextUpdate: new Date(ca.cert.validTo),
    entries: entries.map((r) => ({
      serialNumber: integerHex(r.serialNumber),
      revocationDate: r.revokedAt,
      ...(r.reason !== 'other' && r.reason !== 'unspecified' ? { reason: REASON_CODES[r.reason] } : {}),
    })),
    signingKey: ca.signingKey,
    signingAlgorithm: SIGNING_ALGORITHM,
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey, false, provider)],
  }, provider);
  // OpenSSL, and so Node's TLS, reads a CRL only under the "X509 CRL" label.
  await writeFileDurable(pkiPaths(dir, CA_BASENAME).crl, x509.PemConverter.encode(crl.rawData, 'X509 CRL') + '\n', { mode: 0o644 });
}
