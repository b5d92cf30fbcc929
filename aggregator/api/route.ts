/**
 * One table of routes is the source of the API: each entry carries its method, URL, the roles allowed,
 * its JSON schemas (fastify validates requests with them) and its handler. `mount` registers the table
 * on fastify with an RBAC check first; `openApiOf` turns the same table into the OpenAPI 3.1 document
 * served at /openapi.json, so the document cannot drift from what the server enforces.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../shared/crypto/pki.ts';
import { principalOf, requireRole, type Principal } from './rbac.ts';

export type JsonSchema = Record<string, unknown>;

export interface RouteSchemas {
  params?: JsonSchema;
  querystring?: JsonSchema;
  body?: JsonSchema;
  /** Status → schema (documentation; responses are not serialized through it). */
  response?: Record<number, JsonSchema>;
}

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  tag: string;
  roles: readonly Role[];
  schema?: RouteSchemas;
  /** The request body is a raw byte stream (application/octet-stream), not JSON. */
  rawBody?: boolean;
  /** The response is a byte stream. */
  rawResponse?: boolean;
  /** Largest JSON body of this route, when it needs more than the server's default. */
  bodyLimit?: number;
  handler: (ctx: { request: FastifyRequest; reply: FastifyReply; principal: Principal }) => Promise<unknown>;
}

export function mount(app: FastifyInstance, routes: readonly RouteSpec[]): void {
  for (const r of routes) {
    const schema: Record<string, unknown> = {};
    if (r.schema?.params) schema.params = r.schema.params;
    if (r.schema?.querystring) schema.querystring = r.schema.querystring;
    if (r.schema?.body && !r.rawBody) schema.body = r.schema.body;
    app.route({
      method: r.method,
      url: r.url,
      schema,
      ...(r.bodyLimit !== undefined ? { bodyLimit: r.bodyLimit } : {}),
      // RBAC runs before the body is parsed or validated: a refused caller learns nothing about the body.
      onRequest: async (request) => {
        const principal = principalOf(request);
        requireRole(principal, r.roles, `${r.method} ${r.url}`);
        (request as FastifyRequest & { principal?: Principal }).principal = principal;
      },
      handler: async (request, reply) => {
        const principal = (request as FastifyRequest & { principal?: Principal }).principal!;
        const result = await r.handler({ request, reply, principal });
        if (reply.sent) return reply;
        return result;
      },
    });
  }
}

function pathOf(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(schema: JsonSchema | undefined, where: 'path' | 'query'): unknown[] {
  const props = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.has(name),
    schema: s,
    ...(typeof s.description === 'string' ? { description: s.description } : {}),
  }));
}

export function openApiOf(routes: readonly RouteSpec[], info: { title: string; version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const p = (paths[pathOf(r.url)] ??= {});
    const responses: Record<string, unknown> = {};
    for (const [status, s] of Object.entries(r.schema?.response ?? { 200: { type: 'object' } })) {
      responses[status] = {
        description: String(s.description ?? 'success'),
        content: r.rawResponse ? { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } : { 'application/json': { schema: s } },
      };
    }
    responses['400'] = { description: 'bad request (the field is named)', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    responses['403'] = { description: `refused by RBAC (allowed roles: ${r.roles.join(', ')})`, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
    p[r.method.toLowerCase()] = {
      summary: r.summary,
      tags: [r.tag],
      'x-roles': r.roles,
      security: [{ mutualTLS: [] }],
      parameters: [...parameters(r.schema?.params, 'path'), ...parameters(r.schema?.querystring, 'query')],
      ...(r.rawBody
        ? { requestBody: { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } } }
        : r.schema?.body
          ? { requestBody: { required: true, content: { 'application/json': { schema: r.schema.body } } } }
          : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { ...info, description: 'The 2baksa aggregator API. Every call needs a client certificate from the cluster CA (mutual TLS 1.3); its role decides what the call may do.' },
    paths,
    components: {
      securitySchemes: { mutualTLS: { type: 'mutualTLS', description: 'client certificate from the cluster CA; the SAN URI urn:2baksa:role:<role> is the role' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' }, field: { type: 'string' }, details: { type: 'object' } },
            },
          },
        },
      },
    },
  };
}
