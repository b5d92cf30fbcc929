/**
 * Several aggregator nodes of one cluster behind one `request`: a request its node does not answer goes
 * to the next, and the node that answered is asked first from then on. Any answer, a refusal included,
 * is the cluster's and is not asked again elsewhere.
 *
 * What may be sent again is the caller's to say (`mayResend`), since a request cut off after its node
 * acted on it would then be done twice:
 * - the agent's migration and cloud restore resend on any API_UNREACHABLE (refused, reset, timed out):
 *   every call of that API is idempotent (offers and reads, uploads keyed by their content, a snapshot
 *   record the cluster answers "recorded earlier" to with the receipt it gave);
 * - the operator CLI resends a GET on any of them, and anything else only when it never reached its node
 *   (`neverReached`: refused, no route, no such host), so `accounts create` is never sent twice.
 * restic and Borg talk to one repository server; Tahoe-LAFS clients know every storage server.
 */
import { BaksaError, ExitCode } from '../errors.ts';
import type { RequestOptions } from './api-client.ts';

export interface NodeTransport {
  request<T = unknown>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<{ status: number; body: T }>;
  close(): void;
}

/** The node URLs of a `server` value: one, or several separated by commas. */
export function serverList(server: string): string[] {
  return server.split(',').map((u) => u.trim()).filter((u) => u !== '');
}

/** Connection errors that say the request never reached the node. */
const NOT_REACHED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);

/** An API_UNREACHABLE whose request never reached its node (the connection was not made). */
export function neverReached(error: BaksaError): boolean {
  const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && NOT_REACHED.has(code);
}

export interface FailoverOptions {
  /** Whether a request that failed so may go to the next node (default: any API_UNREACHABLE). */
  mayResend?: (method: string, error: BaksaError) => boolean;
  /** Told each time a request goes on to the next node. */
  onSwitch?: (from: string, to: string, error: BaksaError) => void;
}

export class FailoverTransport implements NodeTransport {
  private readonly nodes: NodeTransport[] = [];
  private readonly urls: string[] = [];
  private current = 0;

  constructor(
    urls: readonly string[],
    private readonly connect: (url: string) => NodeTransport,
    private readonly options: FailoverOptions = {},
  ) {
    this.add(urls);
  }

  /** The nodes' URLs, in the order they are tried. */
  get known(): readonly string[] {
    return this.urls;
  }

  /** Adds the nodes not known yet (tried after the others); returns how many. */
  add(urls: readonly string[]): number {
    let added = 0;
    for (const url of urls) {
      if (this.urls.includes(url)) continue;
      this.urls.push(url);
      this.nodes.push(this.connect(url));
      added++;
    }
    return added;
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, options?: RequestOptions): Promise<{ status: number; body: T }> {
    const failures: string[] = [];
    let refusedCertificate: BaksaError | undefined;
    const first = this.current;
    const n = this.nodes.length;
    for (let k = 0; k < n; k++) {
      const i = (first + k) % n;
      try {
        const answer = await this.nodes[i]!.request<T>(method, path, body, options);
        this.current = i;
        return answer;
      } catch (error) {
        const resend = error instanceof BaksaError && error.code === 'API_UNREACHABLE' && n > 1 && (this.options.mayResend?.(method, error) ?? true);
        if (!resend) throw error;
        failures.push(`${this.urls[i]}: ${error.message}`);
        if (error.details?.certificateRefused === true) refusedCertificate = error;
        if (k + 1 < n) this.options.onSwitch?.(this.urls[i]!, this.urls[(i + 1) % n]!, error);
      }
    }
    throw new BaksaError('API_UNREACHABLE', `none of the ${n} aggregator nodes answered ${method} ${path}: ${failures.join('; ')}`, {
      // A node that closed the connection for the certificate says more than the ones that were down.
      hint: refusedCertificate?.hint ?? 'check --server (each URL a node of the cluster), that the nodes run and that this machine reaches them',
      exitCode: ExitCode.unavailable,
      details: { tried: [...this.urls], ...(refusedCertificate ? { certificateRefused: true } : {}) },
    });
  }

  close(): void {
    for (const n of this.nodes) n.close();
  }
}
