/**
 * System Administrator routes: accounts, groups, quotas, monitoring config and edge sites (role `admin`).
 * Each is a thin mapping onto AccountOps, so the CLI (`--db`) and the API change accounts the same way.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { parseAccountNumber } from '../accounts/names.ts';
import { SITE_ACCOUNTS_MAX, SITE_VALIDATORS_MAX } from '../accounts/command-schema.ts';
import type { AccountConfig, SiteValidator } from '../accounts/types.ts';
import type { ApiContext } from './context.ts';
import { reclaimRemoved } from './object-sink.ts';
import type { RouteSpec } from './route.ts';
import {
  accountParams,
  accountView,
  checkBody,
  configBody,
  createAccountBody,
  createGroupBody,
  enabledBody,
  groupParams,
  groupPatchBody,
  groupView,
  housekeepBody,
  limitsBody,
  memberParams,
  nameBody,
} from './schemas.ts';

type P<T> = T;
const admin = ['admin'] as const;

function numberOf(value: unknown): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') return value;
  const n = parseAccountNumber(String(value));
  if (n === undefined) {
    throw new BaksaError('INVALID_ARGUMENT', `number: "${String(value)}" is not an account number`, { exitCode: ExitCode.usage, details: { field: 'number' } });
  }
  return n;
}

export function adminRoutes(ctx: ApiContext): RouteSpec[] {
  const { ops } = ctx;
  const account = (r: { params: unknown }) => (r.params as P<{ account: string }>).account;
  const group = (r: { params: unknown }) => (r.params as P<{ group: string }>).group;
  const reclaim = (accountNumber: number, objectIds: readonly string[]) => reclaimRemoved(ctx.db, ctx.sink, accountNumber, objectIds);
  return [
    {
      method: 'GET', url: '/v1/accounts', tag: 'accounts', roles: admin, summary: 'list accounts',
      schema: { response: { 200: { type: 'object', properties: { accounts: { type: 'array', items: accountView } } } } },
      handler: async () => ({ accounts: await ops.list() }),
    },
    {
      method: 'POST', url: '/v1/accounts', tag: 'accounts', roles: admin, summary: 'create an account',
      schema: { body: createAccountBody, response: { 201: accountView } },
      handler: async ({ request, reply }) => {
        const b = request.body as Record<string, unknown>;
        const created = await ops.create({ ...(b as AccountConfig), name: String(b.name), number: numberOf(b.number), softBytes: (b.softBytes as number | null) ?? null, hardBytes: (b.hardBytes as number | null) ?? null });
        void reply.status(201);
        return created;
      },
    },
    {
      method: 'GET', url: '/v1/accounts/:account', tag: 'accounts', roles: admin, summary: 'account details: limits, usage, groups, monitoring state',
      schema: { params: accountParams, response: { 200: accountView } },
      handler: async ({ request }) => ops.info(account(request)),
    },
    {
      method: 'PATCH', url: '/v1/accounts/:account', tag: 'accounts', roles: admin, summary: 'set monitoring, heartbeat interval, clusters, regions',
      schema: { params: accountParams, body: configBody, response: { 200: accountView } },
      handler: async ({ request }) => ops.configure(account(request), request.body as AccountConfig),
    },
    {
      method: 'PUT', url: '/v1/accounts/:account/limits', tag: 'accounts', roles: admin, summary: 'set the soft and hard limits',
      schema: { params: accountParams, body: limitsBody, response: { 200: accountView } },
      handler: async ({ request }) => {
        const b = request.body as { softBytes: number | null; hardBytes: number | null };
        return ops.setLimits(account(request), b.softBytes, b.hardBytes);
      },
    },
    {
      method: 'PUT', url: '/v1/accounts/:account/enabled', tag: 'accounts', roles: admin, summary: 'enable or disable an account',
      schema: { params: accountParams, body: enabledBody, response: { 200: accountView } },
      handler: async ({ request }) => ops.setEnabled(account(request), (request.body as { enabled: boolean }).enabled),
    },
    {
      method: 'PUT', url: '/v1/accounts/:account/name', tag: 'accounts', roles: admin, summary: 'rename an account (certificates are named by it)',
      schema: { params: accountParams, body: nameBody, response: { 200: accountView } },
      handler: async ({ request }) => ops.rename(account(request), (request.body as { name: string }).name),
    },
    {
      method: 'DELETE', url: '/v1/accounts/:account', tag: 'accounts', roles: admin, summary: 'delete an account and its stored objects',
      schema: { params: accountParams },
      handler: async ({ request }) => {
        const result = await ops.delete(account(request));
        const n = ((result.deleted as { number: number } | undefined)?.number) ?? 0;
        await reclaim(n, (result.objectsToDelete as string[] | undefined) ?? []);
        return result;
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/housekeep', tag: 'accounts', roles: admin, summary: 'run housekeeping now (aggressive: remove every removable object)',
      schema: { params: accountParams, body: housekeepBody },
      handler: async ({ request }) => {
        const b = (request.body ?? {}) as { aggressive?: boolean };
        const result = await ops.housekeep(account(request), b.aggressive ?? false);
        await reclaim(result.account as number, (result.removedObjects as string[] | undefined) ?? []);
        return result;
      },
    },
    {
      method: 'POST', url: '/v1/accounts/:account/check', tag: 'accounts', roles: admin, summary: 'check the usage counters against the stored objects (fix: recompute them)',
      schema: { params: accountParams, body: checkBody },
      handler: async ({ request }) => ops.check(account(request), ((request.body ?? {}) as { fix?: boolean }).fix ?? false),
    },
    {
      method: 'DELETE', url: '/v1/accounts/:account/agent-key', tag: 'accounts', roles: admin, summary: "forget the agent key this node pinned for the account (a re-installed gateway registers anew)",
      schema: { params: accountParams },
      handler: async ({ request }) => ops.resetAgentKey(account(request)),
    },
    {
      method: 'GET', url: '/v1/groups', tag: 'groups', roles: admin, summary: 'list groups with their statistics',
      schema: { response: { 200: { type: 'object', properties: { groups: { type: 'array', items: groupView } } } } },
      handler: async () => ({ groups: await ops.listGroups() }),
    },
    {
      method: 'POST', url: '/v1/groups', tag: 'groups', roles: admin, summary: 'create a group',
      schema: { body: createGroupBody, response: { 201: groupView } },
      handler: async ({ request, reply }) => {
        const b = request.body as { name: string; admin: string; softBytes?: number | null; hardBytes?: number | null };
        const g = await ops.createGroup(b.name, b.admin, b.softBytes ?? null, b.hardBytes ?? null);
        void reply.status(201);
        return g;
      },
    },
    {
      method: 'GET', url: '/v1/groups/:group', tag: 'groups', roles: admin, summary: 'group statistics: sums over the members, and the member list',
      schema: { params: groupParams, response: { 200: groupView } },
      handler: async ({ request }) => ops.groupInfo(group(request)),
    },
    {
      method: 'PATCH', url: '/v1/groups/:group', tag: 'groups', roles: admin, summary: 'set the administrator contact or the limits',
      schema: { params: groupParams, body: groupPatchBody, response: { 200: groupView } },
      handler: async ({ request }) => ops.setGroup(group(request), request.body as { admin?: string; softBytes?: number | null; hardBytes?: number | null }),
    },
    {
      method: 'DELETE', url: '/v1/groups/:group', tag: 'groups', roles: admin, summary: 'delete a group (its members stay)',
      schema: { params: groupParams },
      handler: async ({ request }) => ops.deleteGroup(group(request)),
    },
    {
      method: 'PUT', url: '/v1/groups/:group/members/:account', tag: 'groups', roles: admin, summary: 'add an account to a group',
      schema: { params: memberParams, response: { 200: groupView } },
      handler: async ({ request }) => ops.addMember(group(request), account(request)),
    },
    {
      method: 'DELETE', url: '/v1/groups/:group/members/:account', tag: 'groups', roles: admin, summary: 'remove an account from a group',
      schema: { params: memberParams, response: { 200: groupView } },
      handler: async ({ request }) => ops.removeMember(group(request), account(request)),
    },
    {
      method: 'GET', url: '/v1/sites', tag: 'sites', roles: admin, summary: "registered edge sites: their ledger's validator keys and bound accounts",
      handler: async () => ({ sites: await ops.listSites() }),
    },
    {
      method: 'PUT', url: '/v1/sites/:site', tag: 'sites', roles: admin,
      summary: "register (or replace) an edge site's validator keys; migrations of its accounts must then carry blocks a quorum of them certified",
      schema: {
        params: siteParams,
        body: {
          type: 'object', additionalProperties: false, required: ['validators'],
          properties: {
            validators: {
              type: 'array', minItems: 1, maxItems: SITE_VALIDATORS_MAX,
              items: {
                type: 'object', additionalProperties: false, required: ['id', 'publicKey'],
                properties: { id: { type: 'string', minLength: 1, maxLength: 255 }, publicKey: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
              },
            },
            accounts: { type: 'array', maxItems: SITE_ACCOUNTS_MAX, items: { type: 'string', minLength: 1, maxLength: 255 } },
          },
        },
      },
      handler: async ({ request }) => {
        const b = request.body as { validators: SiteValidator[]; accounts?: string[] };
        return ops.registerSite((request.params as { site: string }).site, b.validators, b.accounts);
      },
    },
    {
      method: 'DELETE', url: '/v1/sites/:site', tag: 'sites', roles: admin, summary: 'forget a site (its accounts migrate without edge proofs again)',
      schema: { params: siteParams },
      handler: async ({ request }) => ops.deleteSite((request.params as { site: string }).site),
    },
  ];
}

const siteParams = {
  type: 'object', properties: { site: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['site'], additionalProperties: false,
};
