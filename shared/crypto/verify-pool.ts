/**
 * Ed25519 verification off the main thread: a small worker_threads pool that checks signatures in
 * batches. A batch travels as ONE packed ArrayBuffer (transferred, not copied) and comes back as one
 * byte per item, so 10,000 heartbeats cost a few dozen messages, not 10,000.
 *
 *   packed batch: u32 count | count × u32 dataBytes | per item: 32-byte key | 64-byte signature | data
 *
 * A large call is split into chunks of `batchItemsMax` items / `batchBytesMax` bytes, spread over the
 * least-loaded workers (at most `batchesPerWorkerMax` chunks posted to each; the rest wait here).
 * Each worker keeps a bounded cache of KeyObjects per public key (building one costs about a verify).
 *
 * Never throws and never rejects for bad input: a malformed key or signature is `false`. It degrades
 * to verifying on the calling thread (same results, `verify` of sign.ts) when
 *   - workers cannot start or die (their chunks in flight are verified here, the pool goes on with the
 *     rest, or with none),
 *   - more than `queuedItemsMax` items are waiting (this also pushes back on the producer: the main
 *     thread is busy verifying instead of reading more input),
 *   - the pool is closed, or `size` is 0.
 *
 * The worker is plain CommonJS run with `eval: true` and no execArgv: it needs only node:crypto, so it
 * starts the same from tsx-run sources, tests and compiled output (no file to locate or copy).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verify } from './sign.ts';

export interface VerifyItem {
  publicKey: Uint8Array;
  data: Uint8Array;
  signature: Uint8Array;
}

/** What a consumer needs: the pool, or `syncVerifier` on the calling thread. */
export interface BatchVerifier {
  verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]>;
}

export interface VerifyPoolOptions {
  /** Worker threads; 0 verifies on the calling thread. */
  size: number;
  /** Items per chunk posted to one worker. */
  batchItemsMax: number;
  /** Bytes of signed data per chunk (a chunk holds at least one item). */
  batchBytesMax: number;
  /** Chunks posted to one worker and not yet answered; more wait in the pool. */
  batchesPerWorkerMax: number;
  /** Items accepted and not yet answered; a call that would pass this is verified on the calling thread. */
  queuedItemsMax: number;
  /** KeyObjects cached per worker (oldest dropped first). */
  keyCacheEntriesMax: number;
  /** The worker's CommonJS source. Replaced only by tests (a worker that fails to start). */
  workerSource: string;
}

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const cacheMax = workerData.keyCacheEntriesMax;
const cache = new Map();
function keyAt(b, off) {
  const id = b.toString('latin1', off, off + 32);
  let key = cache.get(id);
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, b.subarray(off, off + 32)]), format: 'der', type: 'spki' });
    } catch {
      key = null;
    }
    if (cache.size >= cacheMax) cache.delete(cache.keys().next().value);
    cache.set(id, key);
  }
  return key;
}
parentPort.on('message', ({ id, buf }) => {
  try {
    const b = Buffer.from(buf);
    const count = b.readUInt32LE(0);
    const ok = new Uint8Array(count);
    let off = 4 + 4 * count;
    for (let i = 0; i < count; i++) {
      const len = b.readUInt32LE(4 + 4 * i);
      const key = keyAt(b, off);
      if (key) {
        try {
          ok[i] = verify(null, b.subarray(off + 96, off + 96 + len), key, b.subarray(off + 32, off + 96)) ? 1 : 0;
        } catch {}
      }
      off += 96 + len;
    }
    parentPort.postMessage({ id, ok }, [ok.buffer]);
  } catch (e) {
    parentPort.postMessage({ id, error: String(e) });
  }
});
`;

/**
 * One worker per core (at most 8). Measured on 2 shared cores (test/bench/heartbeat.ts): two workers
 * beat one although the main thread also decodes, tracks and writes, because verifying is most of the
 * CPU a heartbeat costs and the main thread mostly waits for the verdicts.
 */
export function defaultVerifyPoolSize(): number {
  return Math.min(8, Math.max(1, availableParallelism()));
}

export const defaultVerifyPoolOptions: VerifyPoolOptions = {
  size: defaultVerifyPoolSize(),
  batchItemsMax: 256,
  batchBytesMax: 1 << 20,
  batchesPerWorkerMax: 8,
  queuedItemsMax: 16_384,
  keyCacheEntriesMax: 65_536,
  workerSource: WORKER_SOURCE,
};

/** Verifies on the calling thread: the reference the pool must agree with, and its fallback. */
export const syncVerifier: BatchVerifier = {
  verifyBatch: (items) => Promise.resolve(items.map((it) => verify(it.publicKey, it.data, it.signature))),
};

export interface VerifyPoolStats {
  workers: number;
  /** Items answered by workers / on the calling thread. */
  workerItems: number;
  syncItems: number;
  /** Workers that failed to start or died. */
  workerFailures: number;
  queuedItems: number;
}

interface Chunk {
  id: number;
  items: readonly VerifyItem[];
  /** Index of each packed item in `items` (items with a malformed key or signature are not sent). */
  sent: number[];
  out: boolean[];
  done(): void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Chunk>;
  dead: boolean;
}

export class VerifyPool implements BatchVerifier {
  readonly options: VerifyPoolOptions;
  private readonly slots: Slot[] = [];
  private readonly waiting: Chunk[] = [];
  private nextId = 0;
  private queued = 0;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { workerItems: 0, syncItems: 0, workerFailures: 0 };

  constructor(options: Partial<VerifyPoolOptions> = {}) {
    this.options = { ...defaultVerifyPoolOptions, ...options };
    const o = this.options;
    if (!(Number.isInteger(o.size) && o.size >= 0 && o.batchItemsMax >= 1 && o.batchesPerWorkerMax >= 1 && o.keyCacheEntriesMax >= 1 && o.queuedItemsMax >= 0)) {
      throw new RangeError('VerifyPool needs an integer size ≥ 0, batchItemsMax, batchesPerWorkerMax and keyCacheEntriesMax ≥ 1, queuedItemsMax ≥ 0');
    }
    for (let i = 0; i < o.size; i++) this.spawn();
  }

  get size(): number {
    return this.slots.length;
  }

  stats(): VerifyPoolStats {
    return { workers: this.slots.length, ...this.counters, queuedItems: this.queued };
  }

  private spawn(): void {
    let worker: Worker;
    try {
      worker = new Worker(this.options.workerSource, { eval: true, execArgv: [], workerData: { keyCacheEntriesMax: this.options.keyCacheEntriesMax } });
    } catch {
      this.counters.workerFailures++;
      return;
    }
    const slot: Slot = { worker, inFlight: new Map(), dead: false };
    worker.unref();
    worker.on('message', (m: { id: number; ok?: Uint8Array; error?: string }) => this.answer(slot, m));
    worker.on('error', () => this.fail(slot));
    worker.on('exit', () => this.fail(slot));
    this.slots.push(slot);
  }

  /** Verifies every item; `result[i]` is whether `items[i]` verifies. Never rejects. */
  verifyBatch(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.closed || this.slots.length === 0 || this.queued + items.length > this.options.queuedItemsMax) {
      return Promise.resolve(this.verifyHere(items));
    }
    const chunks: Promise<boolean[]>[] = [];
    let start = 0;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) {
      bytes += items[i]!.data.length;
      const last = i === items.length - 1;
      if (last || i + 1 - start >= this.options.batchItemsMax || bytes >= this.options.batchBytesMax) {
        chunks.push(this.enqueue(items.slice(start, i + 1)));
        start = i + 1;
        bytes = 0;
      }
    }
    this.pump();
    return chunks.length === 1 ? chunks[0]! : Promise.all(chunks).then((parts) => parts.flat());
  }

  private verifyHere(items: readonly VerifyItem[]): boolean[] {
    this.counters.syncItems += items.length;
    return items.map((it) => verify(it.publicKey, it.data, it.signature));
  }

  private enqueue(items: readonly VerifyItem[]): Promise<boolean[]> {
    this.queued += items.length;
    return new Promise((resolve) => {
      const out = new Array<boolean>(items.length).fill(false);
      this.waiting.push({
        id: this.nextId++,
        items,
        sent: [],
        out,
        done: () => {
          this.queued -= items.length;
          resolve(out);
          if (this.queued === 0) for (const w of this.idleWaiters.splice(0)) w();
        },
      });
    });
  }

  /** Posts waiting chunks to the least-loaded live workers. */
  private pump(): void {
    while (this.waiting.length > 0) {
      let best: Slot | undefined;
      for (const s of this.slots) if (s.inFlight.size < this.options.batchesPerWorkerMax && (!best || s.inFlight.size < best.inFlight.size)) best = s;
      if (!best) {
        if (this.slots.length > 0) return;
        // No worker left: answer everything here.
        for (const c of this.waiting.splice(0)) this.finishHere(c);
        return;
      }
      const chunk = this.waiting.shift()!;
      const buf = this.pack(chunk);
      if (chunk.sent.length === 0) {
        chunk.done(); // nothing well-formed to check: all false
        continue;
      }
      if (best.inFlight.size === 0) best.worker.ref();
      best.inFlight.set(chunk.id, chunk);
      best.worker.postMessage({ id: chunk.id, buf }, [buf]);
    }
  }

  private pack(chunk: Chunk): ArrayBuffer {
    let bytes = 0;
    chunk.items.forEach((it, i) => {
      if (it.publicKey.length !== PUBLIC_KEY_BYTES || it.signature.length !== SIGNATURE_BYTES) return;
      chunk.sent.push(i);
      bytes += PUBLIC_KEY_BYTES + SIGNATURE_BYTES + it.data.length;
    });
    const n = chunk.sent.length;
    const buf = new ArrayBuffer(4 + 4 * n + bytes);
    const view = new DataView(buf);
    const u8 = new Uint8Array(buf);
    view.setUint32(0, n, true);
    let off = 4 + 4 * n;
    chunk.sent.forEach((idx, j) => {
      const it = chunk.items[idx]!;
      view.setUint32(4 + 4 * j, it.data.length, true);
      u8.set(it.publicKey, off);
      u8.set(it.signature, off + PUBLIC_KEY_BYTES);
      u8.set(it.data, off + PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
      off += PUBLIC_KEY_BYTES + SIGNATURE_BYTES + it.data.length;
    });
    return buf;
  }

  private answer(slot: Slot, m: { id: number; ok?: Uint8Array; error?: string }): void {
    const chunk = slot.inFlight.get(m.id);
    if (!chunk) return;
    slot.inFlight.delete(m.id);
    if (slot.inFlight.size === 0) slot.worker.unref();
    if (m.ok && m.ok.length === chunk.sent.length) {
      chunk.sent.forEach((idx, j) => (chunk.out[idx] = m.ok![j] === 1));
      this.counters.workerItems += chunk.items.length;
      chunk.done();
    } else {
      this.finishHere(chunk);
    }
    this.pump();
  }

  private finishHere(chunk: Chunk): void {
    this.verifyHere(chunk.items).forEach((ok, i) => (chunk.out[i] = ok));
    chunk.done();
  }

  /** A worker errored or exited: its chunks are answered here, the others go on. */
  private fail(slot: Slot): void {
    if (slot.dead) return;
    slot.dead = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    if (!this.closed) this.counters.workerFailures++;
    void slot.worker.terminate().catch(() => undefined);
    const lost = [...slot.inFlight.values()];
    slot.inFlight.clear();
    for (const c of lost) this.finishHere(c);
    this.pump();
  }

  /** Answers everything accepted so far, then stops the workers. Later calls verify on the calling thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.queued > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    const slots = this.slots.splice(0);
    for (const s of slots) s.dead = true;
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }
}
