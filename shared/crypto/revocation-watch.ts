/**
 * Revocation for processes that run for months (aggregator nodes, a gateway's site broker).
 * `loadTlsMaterial` reads the CA's list (DIR/ca.crl, `2baksa pki revoke`) at start; a watch polls the
 * file (fs.watchFile, so the rename `pki revoke` writes it with is seen too) and, when its bytes change
 * and its signature checks out against the CA, tells each of its targets. A target (a TLS server, the
 * replica mesh) then hands the new list to the handshakes to come (`setSecureContext`, the mesh's
 * dials) and ends the open connections whose peer certificate the list now revokes (`endRevoked`): a
 * stolen gateway is cut off within seconds, not at its next reconnect. A list that does not verify is
 * logged and left unused, so a broken file never refuses every peer. `fetchRevocationList` reads the
 * list another machine serves (GET /v1/pki/crl), for the nodes' RevocationSync and the gateways'
 * refreshRevocations, which install it with `installCrl`.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Socket } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { NodeTransport } from '../http/failover.ts';
import type { Logger } from '../log.ts';
import { pkiPaths, readCrl, serialKey, tlsServerOptions, withCrl, type TlsMaterial } from './pki-read.ts';

/** Told the new list (PEM, or undefined when the file is gone) and the serials it revokes (`serialKey`). */
export type RevocationTarget = (crl: string | undefined, revoked: ReadonlySet<string>) => void;

/** Destroys each TLS socket whose peer certificate's serial is in `revoked` (plain sockets are passed over); returns how many. */
export function endRevoked(sockets: Iterable<Socket>, revoked: ReadonlySet<string>): number {
  let ended = 0;
  for (const socket of sockets) {
    if (!('getPeerCertificate' in socket)) continue;
    const serial = (socket as TLSSocket).getPeerCertificate()?.serialNumber;
    if (serial && revoked.has(serialKey(serial))) {
      socket.destroy();
      ended++;
    }
  }
  return ended;
}

/**
 * The RevocationTarget work of a server built from `tlsServerOptions(material)`: the handshakes to come
 * check `crl`, and the open connections among `sockets` of a certificate it revokes end. Returns how many.
 */
export function revokeOnServer(server: TlsServer, material: TlsMaterial, sockets: Iterable<Socket>, crl: string | undefined, revoked: ReadonlySet<string>): number {
  server.setSecureContext(tlsServerOptions(withCrl(material, crl)));
  return endRevoked(sockets, revoked);
}

/** Largest list taken from another machine (about 40 bytes an entry: some 400,000 revocations). */
const CRL_BYTES_MAX = 16 * 1024 * 1024;

/**
 * The revocation list a node serves (`GET /v1/pki/crl`, PEM), or undefined when its CA has revoked
 * nothing or the answer is anything else. Not verified here: `installCrl` checks it against a CA.
 */
export async function fetchRevocationList(api: Pick<NodeTransport, 'request'>): Promise<string | undefined> {
  const { body } = await api.request<{ crl?: unknown }>('GET', '/v1/pki/crl', undefined, { timeoutMs: 10_000 });
  return typeof body?.crl === 'string' && body.crl.length <= CRL_BYTES_MAX ? body.crl : undefined;
}

export interface RevocationWatchOptions {
  dir: string;
  targets: readonly RevocationTarget[];
  logger: Logger;
  /** How often the file is polled (default 2 s). */
  intervalMs?: number;
}

export class RevocationWatch {
  private last: string | undefined;
  private checking: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly path: string;
  private readonly listener = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    this.checking = this.checking.then(() => this.check());
  };

  /** Watches DIR/ca.crl from now on; what it holds now is taken as what the targets already use. */
  constructor(private readonly options: RevocationWatchOptions) {
    this.path = pkiPaths(options.dir, 'ca').crl;
    this.last = readCrl(options.dir);
    watchFile(this.path, { interval: options.intervalMs ?? 2000, persistent: false }, this.listener);
  }

  /** Reads the file again now (the poll's own path; tests call it to skip the wait). */
  async check(): Promise<void> {
    if (this.closed) return;
    let pem: string | undefined;
    try {
      pem = readCrl(this.options.dir);
    } catch (error) {
      this.options.logger.error({ path: this.path, err: (error as Error).message }, 'cannot read the revocation list; the one loaded before stays');
      return;
    }
    if (pem === this.last) return;
    let revoked: Set<string>;
    try {
      // The certificate code (and its X.509 library) loads only when a list changes.
      const { listRevocations } = await import('./pki.ts');
      revoked = new Set((await listRevocations(this.options.dir, pem)).map((r) => r.serialNumber));
    } catch (error) {
      this.options.logger.error({ path: this.path, err: (error as Error).message }, 'the revocation list does not verify against the CA; the one loaded before stays');
      return;
    }
    if (this.closed) return;
    this.last = pem;
    for (const target of this.options.targets) target(pem, revoked);
    this.options.logger.info({ path: this.path, revoked: revoked.size }, 'revocation list loaded: revoked certificates are refused and their connections closed');
  }

  close(): void {
    this.closed = true;
    unwatchFile(this.path, this.listener);
  }
}
