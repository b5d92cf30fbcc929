/**
 * `2baksa pki init | issue | show | revoke | revoked`: the cluster CA, the certificates every TLS link
 * uses (DESIGN §8) and the CA's revocation list. A thin layer over shared/crypto/pki.ts: flags map onto
 * its options, results print as a record or a table.
 */
import { Command } from 'commander';
import { configError } from '../../shared/errors.ts';
import { formatOf, printRecord, printRows } from '../../shared/output.ts';
import { REVOCATION_REASONS, ROLES, validateRole } from '../../shared/crypto/pki-identity.ts';
import type { CertificateInfo } from '../../shared/crypto/pki.ts';

// The certificate code (and its X.509 library) loads when a pki command runs.
const loadPki = () => import('../../shared/crypto/pki.ts');

function parseDays(text: string): number {
  if (!/^\d+$/.test(text)) throw configError('days', `"${text}" is not a whole number of days`);
  return Number(text);
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter((v) => v.length > 0)];
}

interface InitFlags { dir: string; name?: string; days?: string; force?: boolean; json?: boolean }
interface IssueFlags extends InitFlags { name: string; role: string; dns?: string[]; ip?: string[] }
interface ShowFlags { dir: string; name: string; json?: boolean }
interface RevokeFlags { dir: string; name?: string; serial?: string; reason?: string; json?: boolean }
interface RevokedFlags { dir: string; json?: boolean }

const list = (values: string[], json: boolean): unknown => (json ? values : values.join(', '));

function infoRecord(info: CertificateInfo, json: boolean): Record<string, unknown> {
  return {
    subject: info.subject,
    identity: info.identity,
    role: info.role ?? (info.isCa ? 'ca' : undefined),
    issuer: info.issuer,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    expired: info.notAfter.getTime() <= Date.now(),
    serialNumber: info.serialNumber,
    fingerprint256: info.fingerprint256,
    dnsNames: list(info.dnsNames, json),
    ipAddresses: list(info.ipAddresses, json),
  };
}

export function registerPki(program: Command): void {
  const pki = program.command('pki').description('the cluster CA and the TLS certificates of agents, replicas and people');

  pki
    .command('init')
    .description('create the cluster CA (DIR/ca.crt and DIR/ca.key)')
    .requiredOption('--dir <dir>', 'PKI directory (created 0700)')
    .option('--name <name>', 'CA name (subject CN)', '2baksa-ca')
    .option('--days <n>', 'validity in days', '3650')
    .option('--force', 'replace an existing CA (every certificate it issued stops working)')
    .option('--json', 'print JSON')
    .action(async (opts: InitFlags) => {
      const { initCa } = await loadPki();
      const ca = await initCa(opts.dir, { name: opts.name, days: parseDays(opts.days ?? '3650'), force: opts.force === true });
      printRecord({
        ca: ca.name, cert: ca.certPath, key: ca.keyPath,
        notBefore: ca.notBefore, notAfter: ca.notAfter, fingerprint256: ca.fingerprint256,
      }, formatOf(opts));
    });

  pki
    .command('issue')
    .description('issue a certificate for a node or account (DIR/NAME.crt and DIR/NAME.key)')
    .requiredOption('--dir <dir>', 'PKI directory holding the CA')
    .requiredOption('--name <fqdn>', 'host or account name (certificate CN and DNS name)')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .option('--days <n>', 'validity in days', '397')
    .option('--dns <name...>', 'extra DNS names (repeatable, or comma-separated)', collect)
    .option('--ip <addr...>', 'extra IP addresses (repeatable, or comma-separated)', collect)
    .option('--force', 'replace an existing certificate of that name (renewal)')
    .option('--json', 'print JSON')
    .action(async (opts: IssueFlags) => {
      const { issueCertificate } = await loadPki();
      const issued = await issueCertificate(opts.dir, {
        name: opts.name,
        role: validateRole('role', opts.role),
        days: parseDays(opts.days ?? '397'),
        dnsNames: opts.dns ?? [],
        ipAddresses: opts.ip ?? [],
        force: opts.force === true,
      });
      printRecord({
        name: issued.name, role: issued.role, cert: issued.certPath, key: issued.keyPath, ca: issued.caPath,
        notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint256: issued.fingerprint256,
        dnsNames: list(issued.dnsNames, opts.json === true), ipAddresses: list(issued.ipAddresses, opts.json === true),
      }, formatOf(opts));
    });

  pki
    .command('show')
    .description('show a certificate: subject, role, validity, fingerprint (use --name ca for the CA)')
    .requiredOption('--dir <dir>', 'PKI directory')
    .requiredOption('--name <name>', 'certificate name')
    .option('--json', 'print JSON')
    .action(async (opts: ShowFlags) => {
      const { listRevocations, serialKey, showCertificate } = await loadPki();
      const info = showCertificate(opts.dir, opts.name);
      const record = infoRecord(info, opts.json === true);
      if (!info.isCa) {
        const revoked = (await listRevocations(opts.dir)).find((r) => r.serialNumber === serialKey(info.serialNumber));
        record.revoked = revoked ? revoked.revokedAt : false;
      }
      printRecord(record, formatOf(opts));
    });

  pki
    .command('revoke')
    .description('revoke a certificate (a lost or stolen gateway, a person who left): DIR/ca.crl, which every TLS link then checks')
    .requiredOption('--dir <dir>', 'PKI directory holding the CA')
    .option('--name <name>', 'the certificate DIR/NAME.crt holds')
    .option('--serial <hex>', 'or its serial number (pki show), when its file is gone')
    .option('--reason <reason>', `one of ${REVOCATION_REASONS.join(', ')}`, 'unspecified')
    .option('--json', 'print JSON')
    .action(async (opts: RevokeFlags) => {
      const { revokeCertificate } = await loadPki();
      const result = await revokeCertificate(opts.dir, {
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.serial !== undefined ? { serial: opts.serial } : {}),
        ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      });
      printRecord({
        serialNumber: result.revoked.serialNumber,
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        revokedAt: result.revoked.revokedAt,
        reason: result.revoked.reason,
        alreadyRevoked: result.alreadyRevoked,
        crl: result.crlPath,
        revocations: result.revocations.length,
        next: 'running servers read it within seconds; the cluster\'s nodes take it from each other and gateways with `cloud` from the cluster; copy ca.crl into the --tls-dir of a gateway without `cloud`',
      }, formatOf(opts));
    });

  pki
    .command('revoked')
    .description('list the certificates the CA has revoked (DIR/ca.crl, its signature checked)')
    .requiredOption('--dir <dir>', 'PKI directory holding the CA')
    .option('--json', 'print JSON')
    .action(async (opts: RevokedFlags) => {
      const { listRevocations } = await loadPki();
      printRows(await listRevocations(opts.dir), [
        { header: 'SERIAL', value: (r) => r.serialNumber },
        { header: 'REVOKED', value: (r) => r.revokedAt },
        { header: 'REASON', value: (r) => r.reason },
      ], formatOf(opts));
    });
}
