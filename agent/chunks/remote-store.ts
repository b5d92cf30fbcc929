/**
 * The main thread's side of the store worker: `put` hands a chunk's plaintext over (its bytes are
 * transferred, not shared) and resolves with the shard ids once they are staged; `commit`/`abort` act on
 * a transaction; `close` stops the worker.
 */
import { WorkerRpc, type WireError } from '../util/worker-rpc.ts';
import type { DataKeys } from '../../shared/crypto/keys.ts';
import type { CompressionOptions } from './codec.ts';
import type { StoredChunk } from './seal-store.ts';

export interface WorkerInit {
  volumes: string[];
  reserveBytes?: number;
  k: number;
  m: number;
  compression: CompressionOptions;
  keys: DataKeys;
}

export type WorkerRequest =
  | { op: 'put'; seq: number; txId: string; id: string; data: ArrayBuffer }
  | { op: 'commit' | 'abort'; seq: number; txId: string }
  | { op: 'close'; seq: number };

export interface WorkerReply {
  seq: number;
  result?: StoredChunk;
  error?: WireError;
}

export class RemoteStore {
  private readonly rpc: WorkerRpc<WorkerRequest, WorkerReply>;

  constructor(init: WorkerInit) {
    this.rpc = new WorkerRpc(import.meta.url, './store-worker.ts', init, 'store worker');
  }

  /** Seals and stages a chunk in the worker. `plain` is copied into a buffer the worker takes over. */
  async put(txId: string, id: string, plain: Uint8Array): Promise<StoredChunk> {
    const copy = new Uint8Array(plain.length); // a Buffer's slice() would be a view: copy explicitly
    copy.set(plain);
    const data = copy.buffer as ArrayBuffer;
    const reply = await this.rpc.call({ op: 'put', txId, id, data }, [data]);
    return reply.result!;
  }

  async commit(txId: string): Promise<void> {
    await this.rpc.call({ op: 'commit', txId });
  }

  async abort(txId: string): Promise<void> {
    await this.rpc.call({ op: 'abort', txId });
  }

  async close(): Promise<void> {
    await this.rpc.close({ op: 'close' });
  }
}
