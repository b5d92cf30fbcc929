/**
 * The main thread's side of the store worker: `put` hands a chunk's plaintext over (its bytes are
 * transferred, not shared) and resolves with the shard ids once they are staged; `commit`/`abort` act on
 * a transaction; `close` stops the worker.
 */
import { Worker } from 'node:worker_threads';
import { BaksaError } from '../../shared/errors.ts';
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
  error?: { code: string; message: string; hint?: string | undefined; exitCode?: number };
}

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: unknown) => void };

export class RemoteStore {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private dead: unknown;

  constructor(init: WorkerInit) {
    const fromSources = import.meta.url.endsWith('.ts');
    const entry = new URL(fromSources ? './store-worker-entry.mjs' : './store-worker.js', import.meta.url);
    this.worker = new Worker(entry, { workerData: init });
    this.worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.seq);
      if (!p) return;
      this.pending.delete(reply.seq);
      p.resolve(reply);
    });
    const fail = (error: unknown) => {
      this.dead ??= error;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`store worker exited (${code})`)));
  }

  private call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(request.seq, { resolve, reject });
      this.worker.postMessage(request, transfer);
    }).then((reply) => {
      if (reply.error) {
        const e = reply.error;
        if (e.code === 'INTERNAL') throw new Error(e.message);
        throw new BaksaError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) });
      }
      return reply;
    });
  }

  /** Seals and stages a chunk in the worker. `plain` is copied into a buffer the worker takes over. */
  async put(txId: string, id: string, plain: Uint8Array): Promise<StoredChunk> {
    const copy = new Uint8Array(plain.length); // a Buffer's slice() would be a view: copy explicitly
    copy.set(plain);
    const data = copy.buffer as ArrayBuffer;
    const reply = await this.call({ op: 'put', seq: ++this.seq, txId, id, data }, [data]);
    return reply.result!;
  }

  async commit(txId: string): Promise<void> {
    await this.call({ op: 'commit', seq: ++this.seq, txId });
  }

  async abort(txId: string): Promise<void> {
    await this.call({ op: 'abort', seq: ++this.seq, txId });
  }

  async close(): Promise<void> {
    if (this.dead === undefined) await this.call({ op: 'close', seq: ++this.seq }).catch(() => undefined);
    await this.worker.terminate();
  }
}
