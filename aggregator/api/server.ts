/**
 * The aggregator's REST API: fastify over https with mutual TLS 1.3 (certificates from shared/crypto/pki).
 * A client without a certificate from our CA never completes the handshake; the role in its certificate
 * decides each call (rbac.ts). The route table (routes-*.ts) is also the OpenAPI document at /openapi.json,
 * and /metrics serves Prometheus metrics (requests by route and status, plus whatever else shares the
 * registry: the monitor's heartbeat and alert counters).
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry } from 'prom-client';
import { ROLES, tlsServerOptions, type TlsMaterial } from '../../shared/crypto/pki.ts';
import { revokeOnServer, type RevocationTarget } from '../../shared/crypto/revocation-watch.ts';
import type { Database } from '../../shared/db/index.ts';
import { createLogger, type Logger } from '../../shared/log.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { AccountOps, type AccountOpsOptions } from '../accounts/ops.ts';
import { recordVolumes, volumesFromDb, type StorageNodes, type VolumeUsage } from '../reports/space.ts';
import type { ApiContext } from './context.ts';
import { errorHandler } from './errors.ts';
import type { LedgerReader } from './ledger-reader.ts';
import type { ObjectSink } from './object-sink.ts';
import { mount, openApiOf, type RouteSpec } from './route.ts';
import { adminRoutes } from './routes-admin.ts';
import { auditRoutes } from './routes-audit.ts';
import { dataRoutes } from './routes-data.ts';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

export interface ApiServerOptions {
  db: Database;
  tls: TlsMaterial;
  sink: ObjectSink;
  ledger?: LedgerReader;
  /** Where account commands go (consensus later); defaults to `apply` on `db`. */
  submit?: AccountOpsOptions['submit'];
  onQuotaEvents?: AccountOpsOptions['onQuotaEvents'];
  registry?: Registry;
  logger?: Logger;
  now?: () => number;
  /** Largest single backup object accepted. */
  backupBytesMax?: number;
  /** JSON bodies larger than this are refused. */
  jsonBodyBytesMax?: number;
  defaultCluster?: string;
  /** The region this cluster keeps its data in (data residency); absent: it names none. */
  region?: string;
  /**
   * The other nodes' volumes, asked of them now (a node that does not answer is left out). Space reports
   * record what comes back (`recordVolumes`), so a node that is down shows the last figures it gave.
   */
  peerVolumes?: () => Promise<VolumeUsage[]>;
  /** Every node of this cluster that keeps volumes: a space report by node lists one that never answered too. */
  storageNodes?: StorageNodes;
  /** The node's consensus and database state for GET /v1/node (absent outside an aggregator node). */
  nodeStatus?: () => Promise<Record<string, unknown>>;
  /** More routes (e.g. the node-to-node shard routes), mounted after the built-in ones and in the OpenAPI document. */
  extraRoutes?: RouteSpec[];
}

export const defaultApiServerOptions = {
  backupBytesMax: 4 * 1024 ** 3,
  jsonBodyBytesMax: 64 * 1024,
} as const;

export interface ApiServer {
  app: FastifyInstance;
  routes: RouteSpec[];
  openapi: Record<string, unknown>;
  listen(port?: number, host?: string): Promise<string>;
  /** A new revocation list (RevocationWatch): new handshakes check it, revoked clients' connections end. */
  revocationsChanged: RevocationTarget;
  close(): Promise<void>;
}

function metaRoutes(registry: Registry, openapi: () => Record<string, unknown>, nodeStatus: (() => Promise<Record<string, unknown>>) | undefined): RouteSpec[] {
  return [
    {
      method: 'GET', url: '/v1/node', tag: 'meta', roles: ['admin', 'auditor', 'operator'],
      summary: "this node's consensus view, executed sequence, account commands ordered and applied, connected peers",
      handler: async () => {
        if (!nodeStatus) throw new BaksaError('NOT_A_CLUSTER_NODE', 'this API does not run inside an aggregator node', { exitCode: ExitCode.data });
        return nodeStatus();
      },
    },
    {
      method: 'GET', url: '/openapi.json', tag: 'meta', roles: ROLES, summary: 'this API as an OpenAPI 3.1 document',
      handler: async () => openapi(),
    },
    {
      method: 'GET', url: '/metrics', tag: 'meta', roles: ['admin', 'auditor', 'operator'], rawResponse: true,
      summary: 'Prometheus metrics (text exposition format)',
      handler: async ({ reply }) => reply.header('content-type', registry.contentType).send(await registry.metrics()),
    },
  ];
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const logger = options.logger ?? createLogger('api');
  const registry = options.registry ?? new Registry();
  const now = options.now ?? Date.now;
  const ops = new AccountOps(options.db, {
    now,
    ...(options.submit ? { submit: options.submit } : {}),
    ...(options.onQuotaEvents ? { onQuotaEvents: options.onQuotaEvents } : {}),
  });
  const ctx: ApiContext = {
    db: options.db,
    ops,
    sink: options.sink,
    ledger: options.ledger,
    now,
    backupBytesMax: options.backupBytesMax ?? defaultApiServerOptions.backupBytesMax,
    defaultCluster: options.defaultCluster,
    region: options.region,
    volumes: async (): Promise<VolumeUsage[]> => {
      const [own, peers] = await Promise.all([options.sink.volumes(), options.peerVolumes?.() ?? []]);
      if (peers.length > 0) await recordVolumes(options.db, peers, now());
      // Read now (no asOfMs): this node's and the answering peers'; the rest are the last figures recorded, with their time.
      const live = [...own, ...peers];
      const answered = new Set(live.map((v) => `${v.cluster}\u0000${v.node}`));
      return [...live, ...(await volumesFromDb(options.db)).filter((v) => !answered.has(`${v.cluster}\u0000${v.node}`))];
    },
    ...(options.storageNodes ? { storageNodes: options.storageNodes } : {}),
    registry,
  };

  const app = Fastify({
    https: tlsServerOptions(options.tls),
    logger: false,
    bodyLimit: options.jsonBodyBytesMax ?? defaultApiServerOptions.jsonBodyBytesMax,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  // Every connection by its TLS socket, so a revocation list can end a revoked client's (revocationsChanged).
  const sockets = new Set<TLSSocket>();
  (app.server as unknown as TlsServer).on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
  app.setErrorHandler(errorHandler(logger));

  const requests = new Counter({ name: 'baksa_api_requests_total', help: 'API requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const seconds = new Histogram({ name: 'baksa_api_request_seconds', help: 'API request time', labelNames: ['route', 'method'], registers: [registry], buckets: [0.005, 0.02, 0.1, 0.5, 2, 10, 60] });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    seconds.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  let openapi: Record<string, unknown> = {};
  const routes = [...adminRoutes(ctx), ...dataRoutes(ctx), ...auditRoutes(ctx), ...metaRoutes(registry, () => openapi, options.nodeStatus), ...(options.extraRoutes ?? [])];
  openapi = openApiOf(routes, { title: '2baksa aggregator API', version: pkg.version });
  mount(app, routes);
  await app.ready();

  return {
    app,
    routes,
    openapi,
    async listen(port = 0, host = '127.0.0.1') {
      await app.listen({ port, host });
      const addr = app.server.address() as AddressInfo;
      return `https://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
    },
    revocationsChanged(crl, revoked) {
      revokeOnServer(app.server as unknown as TlsServer, options.tls, sockets, crl, revoked);
    },
    async close() {
      await app.close();
    },
  };
}
