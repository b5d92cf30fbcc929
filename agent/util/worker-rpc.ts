/**
 * Request/reply over a worker thread: each request carries a sequence number, the worker answers with
 * the same number and either a result or an error as {code, message, hint, exitCode}, which becomes a
 * BaksaError again here (an INTERNAL one an Error). A worker that dies fails every pending call and
 * every later one. Used by the chunk sealers (backup) and the chunk openers (restore). A worker may
 * announce that its modules are loaded by posting `{ seq: 0 }` (`announceReady`); `ready` says it did.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { BaksaError } from '../../shared/errors.ts';

export interface WireError {
  code: string;
  message: string;
  hint?: string | undefined;
  exitCode?: number;
}

/** The error as it crosses from a worker (its side of `WorkerRpc`). */
export function wireErrorOf(error: unknown): WireError {
  if (error instanceof BaksaError) return { code: error.code, message: error.message, hint: error.hint, exitCode: error.exitCode };
  return { code: 'INTERNAL', message: error instanceof Error ? (error.stack ?? error.message) : String(error) };
}

/**
 * The worker's script: `module` (a .ts file beside `base`) when running from the TypeScript sources,
 * through worker-entry.mjs, which loads tsx in the thread first; the compiled .js file otherwise.
 */
export function workerScript(base: string, module: string): { entry: URL; argv: string[] } {
  if (!base.endsWith('.ts')) return { entry: new URL(module.replace(/\.ts$/, '.js'), base), argv: [] };
  return { entry: new URL('../util/worker-entry.mjs', base), argv: [new URL(module, base).href] };
}

/** The sequence number no request has: a message with it says the worker is loaded. */
const READY_SEQ = 0;

/** Worker side: tells `WorkerRpc` (`ready`) that this worker's modules are loaded and it takes requests. */
export function announceReady(port: MessagePort): void {
  port.postMessage({ seq: READY_SEQ });
}

/** A request without its sequence number (the RPC adds it), for each member of a union. */
export type Unsequenced<T> = T extends unknown ? Omit<T, 'seq'> : never;

type Pending<R> = { resolve: (r: R) => void; reject: (e: unknown) => void };

export class WorkerRpc<Req extends { seq: number }, Reply extends { seq: number; error?: WireError }> {
  private readonly worker: Worker;
  private seq = 0;
  private readonly pending = new Map<number, Pending<Reply>>();
  private dead: unknown;
  #ready = false;

  /** `base` is the caller's import.meta.url, `module` the worker's source file beside it. */
  constructor(base: string, module: string, workerData: unknown, readonly name: string) {
    const { entry, argv } = workerScript(base, module);
    this.worker = new Worker(entry, { workerData, argv });
    this.worker.on('message', (reply: Reply) => {
      if (reply.seq === READY_SEQ) this.#ready = true;
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
    this.worker.on('exit', (code) => fail(new Error(`${name} exited (${code})`)));
  }

  /** The worker announced it is loaded, and has not died or been closed since. */
  get ready(): boolean {
    return this.#ready && this.dead === undefined;
  }

  /** Alive and not announced yet (a worker that never announces stays so until it dies or is closed). */
  get loading(): boolean {
    return !this.#ready && this.dead === undefined;
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  call(request: Unsequenced<Req>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead !== undefined) return Promise.reject(this.dead);
    const seq = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      this.worker.postMessage({ ...request, seq }, transfer);
    }).then((reply) => {
      if (reply.error) {
        const e = reply.error;
        if (e.code === 'INTERNAL') throw new Error(e.message);
        throw new BaksaError(e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.exitCode !== undefined ? { exitCode: e.exitCode } : {}) });
      }
      return reply;
    });
  }

  /** Sends `last` (when given and the worker is alive), then stops the worker. */
  async close(last?: Unsequenced<Req>): Promise<void> {
    if (last !== undefined && this.dead === undefined) await this.call(last).catch(() => undefined);
    this.dead ??= new Error(`${this.name} is closed`);
    await this.worker.terminate();
  }
}

/**
 * Bytes to post to another thread without copying them: the whole ArrayBuffer under `view` is
 * transferred (the caller must own all of it; the view is unusable afterwards), except a small one,
 * which may be Node's shared Buffer pool and is copied.
 */
export function handOver(view: Uint8Array): { data: ArrayBuffer; offset: number; transfer: ArrayBuffer[] } {
  const buffer = view.buffer;
  if (buffer instanceof ArrayBuffer && buffer.byteLength > Buffer.poolSize) return { data: buffer, offset: view.byteOffset, transfer: [buffer] };
  const copy = new Uint8Array(view.length);
  copy.set(view);
  return { data: copy.buffer, offset: 0, transfer: [copy.buffer] };
}
