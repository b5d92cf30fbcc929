/**
 * A small https client for the aggregator API: the CLI's `--server URL` mode, the agent's migration
 * and cloud restore, and the nodes' shard exchange. Mutual TLS 1.3 with the caller's certificate, JSON
 * or raw bytes in and out, and API errors turned back into BaksaErrors (same code, message and hint),
 * so a command fails the same way whether it ran on a database or through the API. It lives in shared/
 * because both the agent and the aggregator use it.
 */
import { request as httpsRequest, Agent } from 'node:https';
import { createSecureContext } from 'node:tls';
import type { Readable } from 'node:stream';
import { tlsClientOptions, type TlsMaterial } from '../crypto/pki.ts';
import { BaksaError, ExitCode } from '../errors.ts';
import { BodyCollector, ByteParts, declaredLength } from './body.ts';

export { ByteParts };

export interface ApiClientOptions {
  timeoutMs?: number;
  responseBytesMax?: number;
}

export interface RequestOptions {
  /** Return a successful response body as raw bytes (binary downloads). */
  responseBytes?: boolean;
  /** This request's time to answer, instead of the client's `timeoutMs`. */
  timeoutMs?: number;
}

/**
 * The exit code a refusal with this HTTP status gives: a bad request is usage (2), a refused
 * certificate config (3), a node or quota that cannot take it now unavailable (5, as a full disk: try
 * again later or free space), the server's own failure 1, and what is missing or in conflict data (4).
 */
export function exitCodeOfStatus(status: number): ExitCode {
  if (status === 400) return ExitCode.usage;
  if (status === 401 || status === 403) return ExitCode.config;
  if (status === 502 || status === 503 || status === 504 || status === 507) return ExitCode.unavailable;
  if (status >= 500) return ExitCode.failure;
  return ExitCode.data;
}

/** A new connection closed this soon after its handshake, unanswered, was closed for its certificate. */
const CERT_REFUSAL_WINDOW_MS = 2_000;

export class ApiClient {
  private readonly base: URL;
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly responseBytesMax: number;

  constructor(url: string, tls: TlsMaterial, options: ApiClientOptions = {}) {
    try {
      this.base = new URL(url);
    } catch {
      throw new BaksaError('CONFIG_INVALID', `--server: "${url}" is not a URL`, { exitCode: ExitCode.config, hint: 'give https://HOST:PORT' });
    }
    if (this.base.protocol !== 'https:') {
      throw new BaksaError('CONFIG_INVALID', `--server: "${url}" is not an https URL`, { exitCode: ExitCode.config, hint: 'the API only speaks https with client certificates' });
    }
    // One secure context for every connection (built from the PEMs once, not once per connection).
    const connection = tlsClientOptions(tls, { servername: this.base.hostname });
    this.agent = new Agent({ ...connection, secureContext: createSecureContext(connection), keepAlive: true });
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.responseBytesMax = options.responseBytesMax ?? 64 * 1024 * 1024;
  }

  /**
   * Sends one request. `body` is JSON; bytes (Uint8Array or ByteParts) or a stream (Readable) go as
   * application/octet-stream, with a Content-Length for bytes. With `responseBytes` a successful
   * response body comes back as the bytes received (a Buffer), not as text or JSON.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, options: RequestOptions = {}): Promise<{ status: number; body: T }> {
    const url = new URL(path, this.base);
    const raw = body !== undefined && typeof (body as Readable)?.pipe === 'function';
    const parts = body instanceof ByteParts ? body.parts : undefined;
    const bin = body instanceof Uint8Array || parts !== undefined;
    // Bytes go as they are (a view, not a copy: uploads are megabytes and are not changed meanwhile).
    const data =
      body === undefined || raw || parts !== undefined ? undefined : body instanceof Uint8Array ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.from(JSON.stringify(body));
    const length = parts !== undefined ? (body as ByteParts).length : data?.length;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method,
          agent: this.agent,
          timeout: options.timeoutMs ?? this.timeoutMs,
          headers: {
            accept: 'application/json',
            ...(length !== undefined ? { 'content-type': bin ? 'application/octet-stream' : 'application/json', 'content-length': String(length) } : {}),
            ...(raw ? { 'content-type': 'application/octet-stream' } : {}),
          },
        },
        (res) => {
          const tooLarge = () => req.destroy(new Error(`response larger than ${this.responseBytesMax} bytes`));
          let collector: BodyCollector;
          try {
            collector = new BodyCollector(this.responseBytesMax, declaredLength(res.headers['content-length']));
          } catch {
            tooLarge();
            return;
          }
          res.on('data', (c: Buffer) => {
            try {
              collector.add(c);
            } catch {
              tooLarge();
            }
          });
          res.on('end', () => {
            const status0 = res.statusCode ?? 0;
            if (options.responseBytes === true && status0 < 400) {
              resolve({ status: status0, body: collector.bytes() as T });
              return;
            }
            const text = collector.bytes().toString('utf8');
            let parsed: unknown = text;
            if ((res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              const e = (parsed as { error?: { code?: string; message?: string; hint?: string; details?: Record<string, unknown> } })?.error;
              const code = e?.code ?? `HTTP_${status}`;
              reject(
                new BaksaError(code, e?.message ?? `${method} ${url.pathname}: HTTP ${status}`, {
                  ...(e?.hint ? { hint: e.hint } : {}),
                  ...(e?.details ? { details: e.details } : {}),
                  exitCode: exitCodeOfStatus(status),
                }),
              );
              return;
            }
            resolve({ status, body: parsed as T });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.base.origin} within ${options.timeoutMs ?? this.timeoutMs} ms`)));
      // A node refuses a client certificate (revoked, expired, of another CA) by closing the connection
      // once the TLS 1.3 handshake is done, with no alert: seen from here, a reset of a new connection
      // right after its handshake, before any answer.
      let answered = false;
      let handshakeMs: number | undefined;
      req.on('response', () => (answered = true));
      req.on('socket', (socket) => {
        if (!socket.connecting) return; // a kept-alive connection: its handshake was long ago
        socket.once('secureConnect', () => (handshakeMs = Date.now()));
      });
      const refusedAfterHandshake = () => !answered && handshakeMs !== undefined && Date.now() - handshakeMs < CERT_REFUSAL_WINDOW_MS;
      req.on('error', (err) =>
        reject(
          err instanceof BaksaError
            ? err
            : (err as NodeJS.ErrnoException).code === 'ECONNRESET' && refusedAfterHandshake()
              ? new BaksaError('API_UNREACHABLE', `${method} ${url.href}: the node closed the connection right after the TLS handshake, before answering: it most likely refuses this certificate`, {
                  exitCode: ExitCode.unavailable,
                  hint: 'your certificate is revoked (pki show tells), expired, or from another CA than the cluster\'s: ask the cluster\'s administrator for a new one',
                  details: { certificateRefused: true },
                  cause: err,
                })
              : new BaksaError('API_UNREACHABLE', `${method} ${url.href}: ${err.message}`, {
                  exitCode: ExitCode.unavailable,
                  hint: 'check --server, that the node runs, and that your certificate is from the cluster CA and not revoked',
                  cause: err,
                }),
        ),
      );
      if (raw) (body as Readable).pipe(req);
      else if (parts !== undefined) {
        for (const part of parts) if (part.length > 0) req.write(part);
        req.end();
      } else req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
