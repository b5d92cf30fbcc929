/**
 * The CA's revocation list from node to node. `pki revoke` writes `ca.crl` into one PKI directory; a
 * cluster whose nodes each keep their own directory would refuse a revoked certificate only on the
 * nodes someone copied the file to. Each node therefore asks the others (`GET /v1/pki/crl`, with its
 * replica certificate) every `intervalMs` and installs a longer list its own CA signed (`installCrl`:
 * one holding every entry of its own and more; where two lists diverge, a node with the CA key signs
 * their union, which then spreads); its RevocationWatch then applies it. A list put on any one node so reaches every node within about
 * two intervals, and gateways take it from the cluster in turn (agent/migrate/revocations.ts).
 */
import { installCrl } from '../../shared/crypto/pki.ts';
import type { Logger } from '../../shared/log.ts';
import { fetchRevocationList } from '../../shared/crypto/revocation-watch.ts';
import type { NodeTransport } from '../../shared/http/failover.ts';

export interface RevocationSyncOptions {
  dir: string;
  peers: readonly NodeTransport[];
  logger: Logger;
  /** How often the peers are asked (default 60 s); the first time soon after start. */
  intervalMs?: number;
}

export class RevocationSync {
  private readonly timer: NodeJS.Timeout;
  private readonly first: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: RevocationSyncOptions) {
    const every = options.intervalMs ?? 60_000;
    // The first turn once the other nodes have had time to start with this one.
    this.first = setTimeout(() => void this.sync(), Math.min(every, 5_000));
    this.timer = setInterval(() => void this.sync(), every);
    this.first.unref();
    this.timer.unref();
  }

  /** Asks every peer once and installs each list that adds to this node's (the timer's own turn). */
  sync(): Promise<void> {
    this.running ??= (async () => {
      try {
        for (const peer of this.options.peers) {
          if (this.closed) return;
          const pem = await fetchRevocationList(peer).catch(() => undefined);
          if (pem === undefined) continue;
          try {
            const r = await installCrl(this.options.dir, pem);
            if (r.merged) this.options.logger.info({ revocations: r.revocations }, "merged another node's revocation list with this node's (each held entries the other lacked)");
            else if (r.installed) this.options.logger.info({ revocations: r.revocations }, "installed a longer revocation list from another node");
            if (r.diverged) this.options.logger.warn({ revocations: r.revocations }, "another node's revocation list lacks entries of this node's, and this node has no CA key to merge them: kept its own");
          } catch (error) {
            this.options.logger.warn({ err: (error as Error).message }, "another node's revocation list is not this CA's: left out");
          }
        }
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.first);
    clearInterval(this.timer);
    for (const peer of this.options.peers) peer.close();
  }
}
