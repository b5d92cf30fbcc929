/**
 * A shard peer is one member of the cluster as the cluster store sees it: somewhere to put a shard and
 * to ask for one back (or several at once, `putMany` and `getMany`: one request for a batch of
 * uploads or reads), and to remove one. `LocalShardPeer` is this node's own shard store; `HttpShardPeer` is another node,
 * reached over the internal shard routes (aggregator/api/routes-internal.ts) with this node's `replica`
 * certificate.
 *
 * The two calls fail differently on purpose. `get` never throws for an operating problem: a shard that
 * is missing, corrupt, or on a node that does not answer is all the same to a reader, who asks another
 * holder and heals, so it returns undefined (and logs why). The caller still verifies SHA-256 = id of
 * whatever comes back: a peer is not trusted. `put` throws a BaksaError when the shard is not stored,
 * because the writer must place it elsewhere; `putMany` answers per shard (a reason, or undefined when
 * stored), so one refused shard leaves the others of its batch stored.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { SHARD_BYTES_MAX_DEFAULT, StorageErrorCode, checkShardId, type ShardStore } from '../../shared/storage/index.ts';
import type { ApiClient } from '../../shared/http/api-client.ts';
import { ByteParts } from '../../shared/http/body.ts';
import { decodeFrames, encodeFrameParts, framesBytes } from '../../shared/http/frames.ts';
import { putCheckedShard, putShardsGrouped, type PutOutcome, type ShardToStore } from './group-put.ts';

/**
 * Bounds of one batched shard put (POST /v1/internal/shards/batch) and read (POST /v1/internal/shards/fetch):
 * a sender splits, a receiver refuses past them (a read answers what fits).
 */
export const defaultShardBatchLimits = {
  shardBatchCountMax: 256,
  /** Above SHARD_BYTES_MAX_DEFAULT, so one shard of the largest size still fits a batch. */
  shardBatchBytesMax: 32 * 1024 * 1024,
} as const;

/** Bytes of a shard batch frame's head: the shard id, raw. */
export const SHARD_FRAME_HEAD_BYTES = 32;

export interface ShardPeer {
  /** The member id (node name) this peer stands for. */
  readonly node: string;
  /**
   * True when `get` and `getMany` return only bytes this process has just hashed against their ids
   * (this node's own store, which checks every read), so the cluster store does not hash them a second
   * time. Absent or false for anything across a network: a reader checks what another member sends.
   */
  readonly checksReads?: boolean;
  /** Stores `bytes` as shard `id` (committed, durable); throws a BaksaError when it could not. */
  put(id: string, bytes: Uint8Array): Promise<void>;
  /** Stores several shards (each committed and durable before it counts); why each was not stored, or undefined, in order. Never throws for an operating problem. */
  putMany(shards: readonly ShardToStore[]): Promise<PutOutcome[]>;
  /** The shard's bytes as stored; undefined when the peer answered that it has no good copy; throws when it did not answer. */
  get(id: string): Promise<Uint8Array | undefined>;
  /**
   * Several shards at once (one request), for reads of many blobs: the ones the peer sent. Never throws;
   * a shard left out (missing, corrupt, past the batch's bytes, peer down) is asked for again by `get`,
   * which tells those cases apart. The caller verifies every shard against its id.
   */
  getMany(ids: readonly string[]): Promise<Map<string, Uint8Array>>;
  /** Removes the shard; true when something was removed. Throws a BaksaError when it could not ask. */
  delete(id: string): Promise<boolean>;
}

export interface LocalShardPeerOptions {
  logger?: Logger;
}

/** This node's own shard store as a peer. */
export class LocalShardPeer implements ShardPeer {
  /** The store's get hashes every read against its id. */
  readonly checksReads = true;
  readonly #logger: Logger;

  constructor(
    readonly node: string,
    readonly store: ShardStore,
    options: LocalShardPeerOptions = {},
  ) {
    this.#logger = options.logger ?? silentLogger;
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    checkShardId(id);
    await putCheckedShard(this.store, id, bytes);
  }

  putMany(shards: readonly ShardToStore[]): Promise<PutOutcome[]> {
    return putShardsGrouped(this.store, shards);
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    try {
      return await this.store.get(id);
    } catch (e) {
      if (!(e instanceof BaksaError)) throw e;
      if (e.code === StorageErrorCode.shardMissing) return undefined;
      if (e.code === StorageErrorCode.shardCorrupt) {
        // Corrupt looks missing, and goes, so the healed copy the reader writes back is the one kept.
        this.#logger.warn({ node: this.node, shard: id, err: e.message }, 'cluster store: corrupt local shard removed');
        await this.store.delete(id).catch((err: unknown) => {
          this.#logger.warn({ node: this.node, shard: id, err: String(err) }, 'cluster store: could not remove a corrupt local shard');
        });
        return undefined;
      }
      this.#logger.warn({ node: this.node, shard: id, code: e.code, err: e.message }, 'cluster store: local shard unreadable');
      return undefined;
    }
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    await Promise.all(ids.map(async (id) => {
      const bytes = await this.get(id).catch(() => undefined);
      if (bytes !== undefined) out.set(id, bytes);
    }));
    return out;
  }

  async delete(id: string): Promise<boolean> {
    return this.store.delete(id);
  }
}

export interface HttpShardPeerOptions {
  /** Largest shard this peer will send (the client's response bound should allow it). */
  shardBytesMax?: number;
  /** Shards and bytes per batched put request (the receiving node's limits). */
  shardBatchCountMax?: number;
  shardBatchBytesMax?: number;
  logger?: Logger;
}

export const defaultHttpShardPeerOptions = { shardBytesMax: SHARD_BYTES_MAX_DEFAULT, ...defaultShardBatchLimits } as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Another node over its REST API. `client` must present this node's certificate with role `replica`
 * (the internal routes refuse every other role) and allow responses of a whole shard
 * (`ApiClient` option `responseBytesMax` ≥ shardBytesMax).
 */
export class HttpShardPeer implements ShardPeer {
  readonly #logger: Logger;
  readonly #shardBytesMax: number;
  readonly #batchCountMax: number;
  readonly #batchBytesMax: number;

  constructor(
    readonly node: string,
    readonly client: ApiClient,
    options: HttpShardPeerOptions = {},
  ) {
    const o = { ...defaultHttpShardPeerOptions, ...options };
    this.#logger = o.logger ?? silentLogger;
    this.#shardBytesMax = o.shardBytesMax;
    this.#batchCountMax = o.shardBatchCountMax;
    this.#batchBytesMax = o.shardBatchBytesMax;
  }

  async putMany(shards: readonly ShardToStore[]): Promise<PutOutcome[]> {
    const outcomes: PutOutcome[] = shards.map(() => undefined);
    // Consecutive runs within the batch limits, one request each, sent at once; a shard past the
    // limit of one shard fails alone.
    const runs: Array<Array<{ at: number; shard: ShardToStore }>> = [];
    let bytes = Infinity;
    for (const [at, s] of shards.entries()) {
      checkShardId(s.id);
      if (s.bytes.length > this.#shardBytesMax) {
        outcomes[at] = `PAYLOAD_TOO_LARGE: a shard of ${s.bytes.length} bytes, more than ${this.#shardBytesMax}`;
        continue;
      }
      const cost = framesBytes(SHARD_FRAME_HEAD_BYTES, [s.bytes.length]);
      const last = runs.at(-1);
      if (!last || last.length >= this.#batchCountMax || bytes + cost > this.#batchBytesMax) {
        runs.push([{ at, shard: s }]);
        bytes = cost;
      } else {
        last.push({ at, shard: s });
        bytes += cost;
      }
    }
    await Promise.all(runs.map(async (run) => {
      const result = await this.#putRun(run.map((r) => r.shard));
      run.forEach((r, i) => (outcomes[r.at] = result[i]));
    }));
    return outcomes;
  }

  async #putRun(run: readonly ShardToStore[]): Promise<PutOutcome[]> {
    // The shards go out as they are (views of their stripe), not joined into one body first.
    const body = new ByteParts(encodeFrameParts(run.map((s) => ({ head: Buffer.from(s.id, 'hex'), bytes: s.bytes })), SHARD_FRAME_HEAD_BYTES));
    let answer: unknown;
    try {
      answer = (await this.client.request<unknown>('POST', '/v1/internal/shards/batch', body)).body;
    } catch (e) {
      const why = e instanceof BaksaError ? `${e.code}: ${e.message}` : `API_UNREACHABLE: ${String(e)}`;
      return run.map(() => why);
    }
    const results = isObject(answer) ? answer.results : undefined;
    if (!Array.isArray(results) || results.length !== run.length) {
      this.#logger.warn({ node: this.node, shards: run.length }, 'cluster store: a peer answered a shard batch with another shape');
      return run.map(() => 'BAD_ANSWER: the peer did not answer for every shard of the batch');
    }
    return results.map((r: unknown) => (isObject(r) && r.ok === true ? undefined : isObject(r) && typeof r.reason === 'string' ? r.reason.slice(0, 500) : 'BAD_ANSWER: no outcome for the shard'));
  }

  async put(id: string, bytes: Uint8Array): Promise<void> {
    checkShardId(id);
    if (bytes.length > this.#shardBytesMax) {
      throw new BaksaError('PAYLOAD_TOO_LARGE', `shard ${id} has ${bytes.length} bytes, more than the limit of ${this.#shardBytesMax}`, {
        hint: 'use smaller segments or more data shards, or raise shardBytesMax on every node',
        exitCode: ExitCode.data,
        details: { id, bytes: bytes.length, shardBytesMax: this.#shardBytesMax },
      });
    }
    try {
      await this.client.request('PUT', `/v1/internal/shards/${id}`, bytes);
    } catch (e) {
      if (e instanceof BaksaError) throw e;
      throw new BaksaError('API_UNREACHABLE', `PUT shard ${id} on ${this.node}: ${String(e)}`, {
        hint: 'check that the node runs and that its API address is right',
        exitCode: ExitCode.unavailable,
        cause: e,
      });
    }
  }

  async get(id: string): Promise<Uint8Array | undefined> {
    checkShardId(id);
    try {
      const r = await this.client.request<Buffer>('GET', `/v1/internal/shards/${id}`, undefined, { responseBytes: true });
      if (r.body.length > this.#shardBytesMax) {
        this.#logger.warn({ node: this.node, shard: id, bytes: r.body.length }, 'cluster store: peer sent an oversized shard');
        return undefined;
      }
      return new Uint8Array(r.body.buffer, r.body.byteOffset, r.body.length);
    } catch (e) {
      const code = e instanceof BaksaError ? e.code : 'ERROR';
      if (code === StorageErrorCode.shardMissing || code === StorageErrorCode.shardCorrupt || code === 'NOT_FOUND') return undefined;
      // Not an answer about the shard: the member is down or unreachable (the caller must not heal onto it).
      throw new BaksaError('API_UNREACHABLE', `GET shard ${id} on ${this.node}: ${(e as Error).message}`, { exitCode: ExitCode.unavailable, cause: e });
    }
  }

  async getMany(ids: readonly string[]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>();
    const wanted = new Set(ids);
    const runs: string[][] = [];
    for (let i = 0; i < ids.length; i += this.#batchCountMax) runs.push(ids.slice(i, i + this.#batchCountMax));
    await Promise.all(runs.map(async (run) => {
      for (const id of run) checkShardId(id);
      try {
        const r = await this.client.request<Buffer>('POST', '/v1/internal/shards/fetch', { ids: run }, { responseBytes: true });
        const frames = decodeFrames(r.body, { headBytes: SHARD_FRAME_HEAD_BYTES, countMax: run.length, frameBytesMax: this.#shardBytesMax, batchBytesMax: this.#batchBytesMax + 1024 });
        for (const f of frames) {
          const id = Buffer.from(f.head).toString('hex');
          if (wanted.has(id)) out.set(id, f.bytes);
        }
      } catch (e) {
        // Asked again one by one, which tells a missing shard from a member that is down.
        this.#logger.debug({ node: this.node, shards: run.length, err: String(e) }, 'cluster store: a batched shard read failed');
      }
    }));
    return out;
  }

  async delete(id: string): Promise<boolean> {
    checkShardId(id);
    try {
      const r = await this.client.request<{ removed?: unknown }>('DELETE', `/v1/internal/shards/${id}`);
      return r.body?.removed === true;
    } catch (e) {
      if (e instanceof BaksaError) throw e;
      throw new BaksaError('API_UNREACHABLE', `DELETE shard ${id} on ${this.node}: ${String(e)}`, {
        hint: 'check that the node runs and that its API address is right',
        exitCode: ExitCode.unavailable,
        cause: e,
      });
    }
  }
}
