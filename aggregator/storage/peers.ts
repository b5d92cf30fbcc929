/**
 * A shard peer is one member of the cluster as the cluster store sees it: somewhere to put a shard and
 * to ask for one back (and to remove one). `LocalShardPeer` is this node's own shard store; `HttpShardPeer` is another node,
 * reached over the internal shard routes (aggregator/api/routes-internal.ts) with this node's `replica`
 * certificate.
 *
 * The two calls fail differently on purpose. `get` never throws for an operating problem: a shard that
 * is missing, corrupt, or on a node that does not answer is all the same to a reader, who asks another
 * holder and heals, so it returns undefined (and logs why). The caller still verifies SHA-256 = id of
 * whatever comes back: a peer is not trusted. `put` throws a BaksaError when the shard is not stored,
 * because the writer must place it elsewhere.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { silentLogger, type Logger } from '../../shared/log.ts';
import { SHARD_BYTES_MAX_DEFAULT, StorageErrorCode, checkShardId, shardIdOf, type ShardStore } from '../../shared/storage/index.ts';
import type { ApiClient } from '../../shared/http/api-client.ts';
import { shardIdMismatch } from './errors.ts';

export interface ShardPeer {
  /** The member id (node name) this peer stands for. */
  readonly node: string;
  /** Stores `bytes` as shard `id` (committed, durable); throws a BaksaError when it could not. */
  put(id: string, bytes: Uint8Array): Promise<void>;
  /** The shard's bytes as stored; undefined when the peer answered that it has no good copy; throws when it did not answer. */
  get(id: string): Promise<Uint8Array | undefined>;
  /** Removes the shard; true when something was removed. Throws a BaksaError when it could not ask. */
  delete(id: string): Promise<boolean>;
}

export interface LocalShardPeerOptions {
  logger?: Logger;
}

/** This node's own shard store as a peer. */
export class LocalShardPeer implements ShardPeer {
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
    const actual = shardIdOf(bytes);
    if (actual !== id) throw shardIdMismatch(id, actual);
    const stored = await this.store.put(bytes);
    if (stored !== id) throw new Error(`invariant violated: the shard store named ${id} as ${stored}`);
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

  async delete(id: string): Promise<boolean> {
    return this.store.delete(id);
  }
}

export interface HttpShardPeerOptions {
  /** Largest shard this peer will send (the client's response bound should allow it). */
  shardBytesMax?: number;
  logger?: Logger;
}

export const defaultHttpShardPeerOptions = { shardBytesMax: SHARD_BYTES_MAX_DEFAULT } as const;

/**
 * Another node over its REST API. `client` must present this node's certificate with role `replica`
 * (the internal routes refuse every other role) and allow responses of a whole shard
 * (`ApiClient` option `responseBytesMax` ≥ shardBytesMax).
 */
export class HttpShardPeer implements ShardPeer {
  readonly #logger: Logger;
  readonly #shardBytesMax: number;

  constructor(
    readonly node: string,
    readonly client: ApiClient,
    options: HttpShardPeerOptions = {},
  ) {
    this.#logger = options.logger ?? silentLogger;
    this.#shardBytesMax = options.shardBytesMax ?? defaultHttpShardPeerOptions.shardBytesMax;
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
