/**
 * Auditor routes: ledger blocks, inclusion proofs, a full verification, and the reports (space and the
 * heartbeat board). Role `auditor`, and `admin`; never data.
 */
import { heartbeatBoard } from '../reports/heartbeats.ts';
import { SPACE_DIMENSIONS, spaceReport } from '../reports/space.ts';
import type { ApiContext } from './context.ts';
import { apiError } from './errors.ts';
import type { LedgerReader } from './ledger-reader.ts';
import type { RouteSpec } from './route.ts';

const auditRoles = ['auditor', 'admin'] as const;
const uintText = { type: 'string', pattern: '^[0-9]{1,15}$' };
export const LEDGER_PAGE_BLOCKS_MAX = 1000;

export function auditRoutes(ctx: ApiContext): RouteSpec[] {
  const ledger = (): LedgerReader => {
    if (!ctx.ledger) throw apiError('LEDGER_UNAVAILABLE', 'this node serves no ledger', 'ask a replica node, or start this node with its ledger directory');
    return ctx.ledger;
  };
  const notFound = (what: string) => apiError('BLOCK_NOT_FOUND', `${what} is not in the ledger`, 'check the height with GET /v1/ledger');
  return [
    {
      method: 'GET', url: '/v1/ledger', tag: 'ledger', roles: auditRoles, summary: 'ledger tip: height, hash, validators, quorum',
      handler: async () => ledger().tip(),
    },
    {
      method: 'GET', url: '/v1/ledger/blocks', tag: 'ledger', roles: auditRoles, summary: 'block headers from a height',
      schema: { querystring: { type: 'object', properties: { from: uintText, limit: uintText }, additionalProperties: false } },
      handler: async ({ request }) => {
        const q = request.query as { from?: string; limit?: string };
        const limit = Math.min(Number(q.limit ?? 100), LEDGER_PAGE_BLOCKS_MAX);
        return { blocks: await ledger().blocks(Number(q.from ?? 0), limit) };
      },
    },
    {
      method: 'GET', url: '/v1/ledger/blocks/:height', tag: 'ledger', roles: auditRoles, summary: 'one block: header, records (metadata), quorum certificate',
      schema: { params: { type: 'object', properties: { height: uintText }, required: ['height'], additionalProperties: false } },
      handler: async ({ request }) => {
        const h = Number((request.params as { height: string }).height);
        const b = await ledger().block(h);
        if (!b) throw notFound(`block ${h}`);
        return b;
      },
    },
    {
      method: 'GET', url: '/v1/ledger/blocks/:height/proofs/:index', tag: 'ledger', roles: auditRoles, summary: 'Merkle inclusion proof of one record',
      schema: { params: { type: 'object', properties: { height: uintText, index: uintText }, required: ['height', 'index'], additionalProperties: false } },
      handler: async ({ request }) => {
        const p = request.params as { height: string; index: string };
        const proof = await ledger().proof(Number(p.height), Number(p.index));
        if (!proof) throw notFound(`record ${p.index} of block ${p.height}`);
        return proof;
      },
    },
    {
      method: 'GET', url: '/v1/ledger/verify', tag: 'ledger', roles: auditRoles, summary: 're-check every hash, link and quorum signature of the chain',
      handler: async () => ledger().verify(),
    },
    {
      method: 'GET', url: '/v1/reports/space', tag: 'reports', roles: auditRoles, summary: 'space by cluster, node, volume, group or account',
      schema: { querystring: { type: 'object', properties: { by: { type: 'string', enum: [...SPACE_DIMENSIONS] } }, required: ['by'], additionalProperties: false } },
      handler: async ({ request }) => {
        const by = (request.query as { by: (typeof SPACE_DIMENSIONS)[number] }).by;
        const needsVolumes = by === 'volume' || by === 'node' || by === 'cluster';
        return spaceReport(ctx.db, by, {
          ...(needsVolumes ? { volumes: await ctx.volumes() } : {}),
          ...(ctx.defaultCluster ? { defaultCluster: ctx.defaultCluster } : {}),
          ...(ctx.storageNodes ? { storageNodes: ctx.storageNodes } : {}),
        });
      },
    },
    {
      method: 'GET', url: '/v1/reports/heartbeats', tag: 'reports', roles: auditRoles, summary: 'the heartbeat board: every account state, last heartbeat, last sync, lag',
      handler: async () => ({ accounts: await heartbeatBoard(ctx.db, ctx.now()) }),
    },
  ];
}
