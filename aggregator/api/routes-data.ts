/**
 * Backup Operator routes (role `operator`, and `agent` for its own account): submit a backup (an object
 * streamed into the object sink), job status, list and restore/download. Auditors and administrators
 * never read data.
 *
 * A backup is admitted twice: before the body is read (by its Content-Length, so an account over its
 * hard limit or a group at its hard limit is refused at once, QUOTA_EXCEEDED → 507) and after it is
 * stored (by its real size, since uploads race). Only then is it recorded in the account database.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from '../../shared/db/index.ts';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { objectsOf, resolveAccount } from '../accounts/queries.ts';
import { quotaHoldsOf } from '../accounts/quota.ts';
import { requireResidency } from '../accounts/residency.ts';
import type { ApiContext } from './context.ts';
import { apiError } from './errors.ts';
import { requireOwnAccount } from './rbac.ts';
import type { RouteSpec } from './route.ts';
import { accountParams, accountRef } from './schemas.ts';

const dataRoles = ['operator', 'agent'] as const;

export interface JobRecord {
  id: string;
  kind: string;
  account: number;
  state: 'receiving' | 'stored' | 'failed';
  objectId: string | null;
  bytes: number | null;
  error: string | null;
  createdMs: number;
  updatedMs: number;
}

async function saveJob(db: Database, job: JobRecord): Promise<void> {
  await db.run(
    `INSERT INTO jobs(id, kind, account, state, object_id, bytes, error, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET state = excluded.state, object_id = excluded.object_id, bytes = excluded.bytes,
       error = excluded.error, updated_ms = excluded.updated_ms`,
    [job.id, job.kind, job.account, job.state, job.objectId, job.bytes, job.error, job.createdMs, job.updatedMs],
  );
}

async function loadJob(db: Database, id: string): Promise<JobRecord | undefined> {
  const r = await db.get<{ id: string; kind: string; account: number; state: JobRecord['state']; object_id: string | null; bytes: number | null; error: string | null; created_ms: number; updated_ms: number }>(
    'SELECT * FROM jobs WHERE id = ?',
    [id],
  );
  return r && { id: r.id, kind: r.kind, account: r.account, state: r.state, objectId: r.object_id, bytes: r.bytes, error: r.error, createdMs: r.created_ms, updatedMs: r.updated_ms };
}

const jobView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string' },
    account: { type: 'integer' },
    state: { type: 'string', enum: ['receiving', 'stored', 'failed'] },
    objectId: { type: ['string', 'null'] },
    bytes: { type: ['integer', 'null'] },
    error: { type: ['string', 'null'] },
  },
};

export function dataRoutes(ctx: ApiContext): RouteSpec[] {
  const { db, ops, sink } = ctx;
  const holds = quotaHoldsOf(db);
  return [
    {
      method: 'POST', url: '/v1/accounts/:account/backups', tag: 'backups', roles: dataRoles, rawBody: true,
      summary: 'submit a backup: the request body (application/octet-stream) is stored as one object',
      schema: { params: accountParams, response: { 201: { ...jobView, description: 'stored' }, 200: { ...jobView, description: 'the same content was already stored' }, 507: { description: 'QUOTA_EXCEEDED: the account or one of its groups is at its hard limit' } } },
      handler: async ({ request, reply, principal }) => {
        const account = await resolveAccount(db, (request.params as { account: string }).account);
        requireOwnAccount(principal, account);
        requireResidency(account, ctx.region);
        const body = request.body as AsyncIterable<Uint8Array> | undefined;
        if (!body || typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
          throw apiError('UNSUPPORTED_MEDIA_TYPE', 'send the backup as application/octet-stream', 'set Content-Type: application/octet-stream');
        }
        const declared = Number(request.headers['content-length'] ?? 0);
        // Held while it streams in, then again (its stored size) until its record counts it.
        let hold = await holds.admit(account.number, Number.isFinite(declared) ? declared : 0);
        const now = ctx.now();
        const job: JobRecord = { id: randomBytes(16).toString('hex'), kind: 'backup', account: account.number, state: 'receiving', objectId: null, bytes: null, error: null, createdMs: now, updatedMs: now };
        await saveJob(db, job);
        try {
          const stored = await sink.put(account.number, body, { bytesMax: ctx.backupBytesMax });
          job.objectId = stored.objectId;
          job.bytes = stored.bytes;
          const known = await db.get('SELECT 1 FROM objects WHERE account = ? AND object_id = ?', [account.number, stored.objectId]);
          if (known) {
            // The same content is recorded already: what this upload wrote is not needed.
            await sink.discard(account.number, stored);
          } else {
            hold.release();
            try {
              hold = await holds.admit(account.number, stored.bytes);
            } catch (e) {
              await sink.discard(account.number, stored);
              throw e;
            }
            await ops.submit({ type: 'RecordObject', account: account.number, objectId: stored.objectId, bytes: stored.bytes, atMs: ctx.now(), ...(stored.layout ? { layout: stored.layout } : {}) });
          }
          job.state = 'stored';
          job.updatedMs = ctx.now();
          await saveJob(db, job);
          void reply.status(known ? 200 : 201);
          return { ...job, deduplicated: Boolean(known) };
        } catch (e) {
          job.state = 'failed';
          job.error = e instanceof BaksaError ? e.code : 'INTERNAL';
          job.updatedMs = ctx.now();
          await saveJob(db, job);
          throw e;
        } finally {
          hold.release();
        }
      },
    },
    {
      method: 'GET', url: '/v1/accounts/:account/backups', tag: 'backups', roles: dataRoles, summary: 'list the stored objects of an account',
      schema: { params: accountParams },
      handler: async ({ request, principal }) => {
        const account = await resolveAccount(db, (request.params as { account: string }).account);
        requireOwnAccount(principal, account);
        return { account: account.name, objects: await objectsOf(db, account.number) };
      },
    },
    {
      method: 'GET', url: '/v1/accounts/:account/backups/:objectId', tag: 'backups', roles: dataRoles, rawResponse: true,
      summary: 'restore/download one stored object',
      schema: {
        params: { type: 'object', properties: { account: accountRef, objectId: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' } }, required: ['account', 'objectId'], additionalProperties: false },
        response: { 200: { description: 'the object bytes' } },
      },
      handler: async ({ request, reply, principal }) => {
        const { account: ref, objectId } = request.params as { account: string; objectId: string };
        const account = await resolveAccount(db, ref);
        requireOwnAccount(principal, account);
        const known = await db.get('SELECT 1 FROM objects WHERE account = ? AND object_id = ?', [account.number, objectId]);
        const found = known ? await sink.get(account.number, objectId) : undefined;
        if (!found) {
          throw new BaksaError('OBJECT_NOT_FOUND', `object ${objectId} of ${account.name} is not stored`, { exitCode: ExitCode.data, hint: 'list the objects with GET /v1/accounts/{account}/backups' });
        }
        void reply.header('content-type', 'application/octet-stream').header('content-length', String(found.bytes));
        return reply.send(found.stream);
      },
    },
    {
      method: 'GET', url: '/v1/jobs/:job', tag: 'backups', roles: dataRoles, summary: 'status of a backup job',
      schema: { params: { type: 'object', properties: { job: { type: 'string', pattern: '^[0-9a-f]{32}$' } }, required: ['job'], additionalProperties: false }, response: { 200: jobView } },
      handler: async ({ request, principal }) => {
        const job = await loadJob(db, (request.params as { job: string }).job);
        if (job && principal.role === 'agent') {
          const account = await resolveAccount(db, job.account).catch(() => undefined);
          if (account) requireOwnAccount(principal, account);
          else throw apiError('FORBIDDEN', 'agents may read only their own jobs');
        }
        if (!job) throw new BaksaError('JOB_NOT_FOUND', 'no such job', { exitCode: ExitCode.data, hint: 'use the id a backup submission returned' });
        return job;
      },
    },
  ];
}
