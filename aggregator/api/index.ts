/**
 * aggregator/api: the REST API (fastify, https with mutual TLS 1.3, RBAC from the certificate role),
 * its OpenAPI document and Prometheus metrics, the pluggable object sink, the ledger reader for
 * auditors, and the https client the CLI uses with `--server`.
 */
export { createApiServer, defaultApiServerOptions, type ApiServer, type ApiServerOptions } from './server.ts';
export { ApiClient, type ApiClientOptions } from '../../shared/http/api-client.ts';
export { LocalCasSink, payloadTooLarge, type LocalCasSinkOptions, type ObjectSink, type PutOptions, type StoredObjectInfo } from './object-sink.ts';
export { LedgerStoreReader, recordJson, summaryOf, type BlockSummary, type LedgerReader } from './ledger-reader.ts';
export { openApiOf, mount, type JsonSchema, type RouteSchemas, type RouteSpec } from './route.ts';
export { principalOf, requireOwnAccount, requireRole, type Principal } from './rbac.ts';
export { statusOf, errorHandler } from './errors.ts';
export type { ApiContext } from './context.ts';
