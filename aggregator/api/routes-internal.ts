/**
 * Node-to-node shard routes (role `replica` only): the cluster store on one node puts and gets the
 * erasure-coded shards of a blob on the others (aggregator/storage). People's certificates (admin,
 * auditor, operator, agent) are refused by RBAC before the body is read.
 *
 *   PUT /v1/internal/shards/:id   raw body = the shard; stored committed once SHA-256(body) = id
 *   POST /v1/internal/shards/batch  several shards (shared/http/frames.ts, head = the raw 32-byte id),
 *                                 stored side by side, each durable as a single put (storage/group-put.ts);
 *                                 {results: [{ok: true} | {ok: false, reason}]}, in order
 *   POST /v1/internal/shards/fetch {ids}: the shards held here (frames, as above), hash-verified,
 *                                 in the order asked, up to shardBatchBytesMax; the rest are left out
 *   GET /v1/internal/shards/:id   the shard, hash-verified by the store; 404 when missing or corrupt
 *                                 (a corrupt copy is removed, so the caller's heal can store a good one)
 *   DELETE /v1/internal/shards/:id {removed: boolean}: the cluster store deleting an object's shards
 *
 * The server never trusts the id it is given: it hashes the body and refuses a mismatch (400), so a
 * damaged transfer is never stored under the wrong name. A body past `shardBytesMax` is refused by its
 * Content-Length before reading, or as soon as the stream passes the bound (413), so a peer cannot make
 * this node buffer more than one shard; a batch is bounded the same way by `shardBatchBytesMax` (and
 * `shardBatchCountMax` shards), and a batch that breaks its format is refused whole (400). In a batch,
 * each shard whose bytes do not hash to its id fails alone (and is stored under no name); the
 * others are stored, and each is reported stored only once it is durable.
 */
import type { FastifyReply } from 'fastify';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { formatBytes } from '../../shared/output.ts';
import { SHARD_BYTES_MAX_DEFAULT, StorageErrorCode, type ShardStore } from '../../shared/storage/index.ts';
import { decodeFrames, encodeFrames, type Frame } from '../../shared/http/frames.ts';
import { ProtocolError } from '../../shared/protocol/errors.ts';
import { putCheckedShard, putShardsGrouped } from '../storage/group-put.ts';
import { SHARD_FRAME_HEAD_BYTES, defaultShardBatchLimits } from '../storage/peers.ts';
import { apiError } from './errors.ts';
import { BodyTooLarge, collectBody, declaredLength } from '../../shared/http/body.ts';
import type { RouteSpec } from './route.ts';

export interface InternalRoutesOptions {
  /** Largest shard body accepted (413 past it). */
  shardBytesMax: number;
  /** Shards in one batch. */
  shardBatchCountMax: number;
  /** Bytes of one batch request (413 past it). */
  shardBatchBytesMax: number;
}

export const defaultInternalRoutesOptions: InternalRoutesOptions = { shardBytesMax: SHARD_BYTES_MAX_DEFAULT, ...defaultShardBatchLimits };

const internalRoles = ['replica'] as const;

/** Shards a batched read reads at once. */
const FETCH_PARALLEL_MAX = 4;

const shardParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the shard, 64 lowercase hex' } },
  required: ['id'],
  additionalProperties: false,
};

function shardTooLarge(bytes: number | undefined, max: number): BaksaError {
  return new BaksaError('PAYLOAD_TOO_LARGE', `the shard is larger than the limit of ${formatBytes(max)}${bytes === undefined ? '' : ` (${bytes} bytes)`}`, {
    hint: 'use smaller segments or more data shards on the sending node, or raise shardBytesMax on this one',
    exitCode: ExitCode.data,
    details: { shardBytesMax: max },
  });
}

/** Replies with the API's error shape and an explicit status (codes the shared table does not know). */
function replyError(reply: FastifyReply, status: number, error: BaksaError): FastifyReply {
  return reply.status(status).send({
    error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}), ...(error.details ? { details: error.details } : {}) },
  });
}

/** Reads a raw body into one buffer, refusing it as soon as it passes `bytesMax`. */
async function readBounded(request: { headers: Record<string, unknown>; body: unknown }, bytesMax: number): Promise<Buffer> {
  const body = request.body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] !== 'function') {
    throw apiError('UNSUPPORTED_MEDIA_TYPE', 'send the shard as application/octet-stream', 'set Content-Type: application/octet-stream');
  }
  try {
    return await collectBody(body as AsyncIterable<Uint8Array>, bytesMax, declaredLength(request.headers['content-length']));
  } catch (error) {
    if (error instanceof BodyTooLarge) throw shardTooLarge(undefined, bytesMax);
    throw error;
  }
}

export function internalRoutes(store: ShardStore, options: Partial<InternalRoutesOptions> = {}): RouteSpec[] {
  const { shardBytesMax, shardBatchCountMax, shardBatchBytesMax } = { ...defaultInternalRoutesOptions, ...options };
  return [
    {
      method: 'POST', url: '/v1/internal/shards/batch', tag: 'internal', roles: internalRoles, rawBody: true,
      summary: 'store several shards (node to node) in one request; each must hash (SHA-256) to its id',
      schema: {
        response: {
          200: { description: '{results: [{ok: true} | {ok: false, reason}]}, one per shard, in order' },
          400: { description: 'BAD_REQUEST: not a shard batch' },
          413: { description: 'PAYLOAD_TOO_LARGE: more than shardBatchBytesMax bytes' },
        },
      },
      handler: async ({ request, reply }) => {
        const declared = Number(request.headers['content-length']);
        if (Number.isFinite(declared) && declared > shardBatchBytesMax) return replyError(reply, 413, shardTooLarge(declared, shardBatchBytesMax));
        let frames: Frame[];
        try {
          frames = decodeFrames(await readBounded(request, shardBatchBytesMax), {
            headBytes: SHARD_FRAME_HEAD_BYTES, countMax: shardBatchCountMax, frameBytesMax: shardBytesMax, batchBytesMax: shardBatchBytesMax,
          });
        } catch (e) {
          if (e instanceof BaksaError && e.code === 'PAYLOAD_TOO_LARGE') return replyError(reply, 413, e);
          if (e instanceof ProtocolError) return replyError(reply, 400, apiError('BAD_REQUEST', `not a shard batch: ${e.message}`, 'send shards framed as shared/http/frames.ts says'));
          throw e;
        }
        const outcomes = await putShardsGrouped(store, frames.map((f) => ({ id: Buffer.from(f.head).toString('hex'), bytes: f.bytes })));
        return { results: outcomes.map((reason) => (reason === undefined ? { ok: true } : { ok: false, reason })) };
      },
    },
    {
      method: 'PUT', url: '/v1/internal/shards/:id', tag: 'internal', roles: internalRoles, rawBody: true,
      summary: 'store one shard (node to node): the body must hash (SHA-256) to the id',
      schema: {
        params: shardParams,
        response: {
          204: { description: 'stored (or already held)' },
          400: { description: 'SHARD_ID_MISMATCH: the body does not hash to the id' },
          413: { description: 'PAYLOAD_TOO_LARGE: the shard is larger than shardBytesMax' },
        },
      },
      handler: async ({ request, reply }) => {
        const { id } = request.params as { id: string };
        const declared = Number(request.headers['content-length']);
        if (Number.isFinite(declared) && declared > shardBytesMax) return replyError(reply, 413, shardTooLarge(declared, shardBytesMax));
        let bytes: Buffer;
        try {
          bytes = await readBounded(request, shardBytesMax);
        } catch (e) {
          if (e instanceof BaksaError && e.code === 'PAYLOAD_TOO_LARGE') return replyError(reply, 413, e);
          throw e;
        }
        try {
          await putCheckedShard(store, id, bytes);
        } catch (e) {
          if (e instanceof BaksaError && e.code === 'SHARD_ID_MISMATCH') return replyError(reply, 400, e);
          throw e;
        }
        return reply.status(204).send();
      },
    },
    {
      method: 'POST', url: '/v1/internal/shards/fetch', tag: 'internal', roles: internalRoles, rawResponse: true,
      summary: 'read several shards (node to node): the ones held here, verified, framed; missing, corrupt and what passes the batch size are left out',
      bodyLimit: shardBatchCountMax * 80 + 1024,
      schema: {
        body: {
          type: 'object', additionalProperties: false, required: ['ids'],
          properties: { ids: { type: 'array', minItems: 1, maxItems: shardBatchCountMax, items: shardParams.properties.id } },
        },
      },
      handler: async ({ request, reply }) => {
        const { ids } = request.body as { ids: string[] };
        const read = async (id: string): Promise<Frame | undefined> => {
          try {
            return { head: Buffer.from(id, 'hex'), bytes: await store.get(id) };
          } catch (e) {
            if (!(e instanceof BaksaError)) throw e;
            // As a single read: a corrupt copy goes, so the reader's heal can write a good one.
            if (e.code === StorageErrorCode.shardCorrupt) await store.delete(id).catch(() => false);
            return undefined;
          }
        };
        // A few reads at a time, in order, until the batch is full: at most that many shards past it in memory.
        const frames: Frame[] = [];
        let bytes = 0;
        fill: for (let at = 0; at < ids.length; at += FETCH_PARALLEL_MAX) {
          for (const f of await Promise.all(ids.slice(at, at + FETCH_PARALLEL_MAX).map(read))) {
            if (f === undefined) continue;
            bytes += f.bytes.length + SHARD_FRAME_HEAD_BYTES + 4;
            if (bytes > shardBatchBytesMax) break fill;
            frames.push(f);
          }
        }
        const body = encodeFrames(frames, SHARD_FRAME_HEAD_BYTES);
        return reply.header('content-type', 'application/octet-stream').header('content-length', String(body.length)).send(body);
      },
    },
    {
      method: 'GET', url: '/v1/internal/shards/:id', tag: 'internal', roles: internalRoles, rawResponse: true,
      summary: 'read one shard (node to node), verified against its id',
      schema: {
        params: shardParams,
        response: { 200: { description: 'the shard bytes' }, 404: { description: 'SHARD_MISSING: not held here, or held corrupt' } },
      },
      handler: async ({ request, reply }) => {
        const { id } = request.params as { id: string };
        let bytes: Uint8Array;
        try {
          bytes = await store.get(id);
        } catch (e) {
          if (e instanceof BaksaError && e.code === StorageErrorCode.shardMissing) return replyError(reply, 404, e);
          if (e instanceof BaksaError && e.code === StorageErrorCode.shardCorrupt) {
            // A corrupt copy answers like a missing one, and goes, so the sender's heal can write a good one.
            await store.delete(id).catch(() => false);
            return replyError(reply, 404, e);
          }
          throw e;
        }
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(bytes.length))
          .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
      },
    },
    {
      method: 'DELETE', url: '/v1/internal/shards/:id', tag: 'internal', roles: internalRoles,
      summary: 'remove one shard (node to node, when an object is deleted)',
      schema: {
        params: shardParams,
        response: { 200: { type: 'object', properties: { removed: { type: 'boolean' } }, description: 'removed is false when the shard was not held' } },
      },
      handler: async ({ request }) => ({ removed: await store.delete((request.params as { id: string }).id) }),
    },
  ];
}
