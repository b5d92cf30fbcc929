/**
 * Chunk plaintext from the cloud, for restore and compare when the local shard store is gone: the sealed
 * object comes from the cluster, and is opened here with the agent's own key ring, which checks that
 * its content is the chunk id asked for (the cloud never holds the keys, so it can neither read nor
 * forge a chunk). Its sealed length and SHA-256 are checked against what the cloud recorded first, so
 * a damaged copy is named as such before decryption is tried.
 *
 * The plaintext length `openChunk` needs comes from `chunks/info`. Restore asks for chunks one at a time
 * as its memory budget allows, so lookups made within one turn of the event loop go out as one batched
 * call, and so do the downloads: several chunks a request (`chunks/fetch`, within the batch limits), a
 * few requests in flight (one TLS connection each). One request for many chunks is what lets the node
 * read their shards from each other node in one request too.
 */
import { createHash } from 'node:crypto';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';
import { chunkCorrupt, openChunk } from '../chunks/codec.ts';
import type { ChunkOpen, ChunkSource } from '../chunks/reader.ts';
import { CLOUD_BATCH_MAX, FETCH_BATCH_BYTES_MAX, FETCH_BATCH_CHUNKS_MAX, sizedGroups, type ChunkInfo, type CloudClient } from './cloud-client.ts';
import { Limiter } from '../util/limiter.ts';

export interface CloudChunkReaderOptions {
  /** Download requests in flight (default 4). */
  concurrency?: number;
  /** Chunk infos kept (default 65536; the oldest are dropped first). */
  infoCacheMax?: number;
}

interface Waiter {
  resolve: (info: ChunkInfo) => void;
  reject: (error: unknown) => void;
}

export class CloudChunkReader implements ChunkSource {
  private readonly infos = new Map<string, ChunkInfo>();
  private readonly pending = new Map<string, Waiter[]>();
  private flushScheduled = false;
  private readonly downloads: Limiter;
  private readonly infoCacheMax: number;
  private readonly downloadsPending: Array<{ info: ChunkInfo; resolve: (sealed: Uint8Array) => void; reject: (error: unknown) => void }> = [];
  private downloadScheduled = false;
  /** Sealed bytes received (for the summary). */
  bytesReceived = 0;
  private readonly openHere: ChunkOpen = (id, object, lengthMax) => openChunk(this.ring, id, object, lengthMax, true);
  /**
   * Where `read` opens chunks: on this thread unless a restore hands them to worker threads
   * (ChunkReader.open). When that fails other than with a BaksaError (the thread died), the chunk is
   * downloaded again and opened here, and so is every later one.
   */
  open: ChunkOpen = this.openHere;

  constructor(
    private readonly client: CloudClient,
    private readonly ring: KeyRing,
    options: CloudChunkReaderOptions = {},
  ) {
    this.downloads = new Limiter(options.concurrency ?? 4);
    this.infoCacheMax = options.infoCacheMax ?? 65_536;
  }

  async read(id: string): Promise<Uint8Array> {
    const info = await this.info(id);
    const sealed = await new Promise<Uint8Array>((resolve, reject) => {
      this.downloadsPending.push({ info, resolve, reject });
      if (!this.downloadScheduled) {
        this.downloadScheduled = true;
        setImmediate(() => this.startDownloads());
      }
    });
    this.bytesReceived += sealed.length;
    if (sealed.length !== info.sealedLength) throw chunkCorrupt(`the cloud sent ${sealed.length} bytes, ${info.sealedLength} were recorded`, id);
    if (createHash('sha256').update(sealed).digest('hex') !== info.sha256) throw chunkCorrupt('the SHA-256 of the copy from the cloud is not the recorded one', id);
    const open = this.open;
    if (open === this.openHere) return open(id, sealed, info.length);
    try {
      return await open(id, owned(sealed), info.length);
    } catch (error) {
      if (error instanceof BaksaError) throw error;
      this.open = this.openHere;
      return this.read(id);
    }
  }

  /** The downloads asked for in this turn, in batches within the limits, a few batches in flight. */
  private startDownloads(): void {
    this.downloadScheduled = false;
    const asked = this.downloadsPending.splice(0);
    for (const group of sizedGroups(asked.map((d) => ({ ...d, sealedLength: d.info.sealedLength })), FETCH_BATCH_CHUNKS_MAX, FETCH_BATCH_BYTES_MAX)) {
      void this.downloads
        .run(() => (group.length === 1 ? this.client.getChunk(group[0]!.info.id).then((b) => [b]) : this.client.getChunks(group.map((d) => d.info.id))))
        .then(
          (all) => group.forEach((d, i) => d.resolve(all[i]!)),
          (error: unknown) => group.forEach((d) => d.reject(error)),
        );
    }
  }

  /** The cloud's record of chunk `id` (batched with the other lookups of this turn). */
  info(id: string): Promise<ChunkInfo> {
    const known = this.infos.get(id);
    if (known) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const waiting = this.pending.get(id);
      if (waiting) waiting.push({ resolve, reject });
      else this.pending.set(id, [{ resolve, reject }]);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    while (this.pending.size > 0) {
      const batch = [...this.pending.keys()].slice(0, CLOUD_BATCH_MAX);
      const waiters = new Map(batch.map((id) => [id, this.pending.get(id)!]));
      for (const id of batch) this.pending.delete(id);
      try {
        const found = new Map((await this.client.chunkInfo(batch)).map((i) => [i.id, i]));
        for (const [id, list] of waiters) {
          const info = found.get(id);
          if (info) {
            this.remember(info);
            for (const w of list) w.resolve(info);
          } else {
            const error = new BaksaError('CHUNK_NOT_IN_CLOUD', `chunk ${id} is not stored in the cloud for account ${this.client.account}`, {
              hint: 'the snapshot was not migrated completely: run `2baksa migrate` again from the gateway that made it',
              exitCode: ExitCode.data,
              details: { id },
            });
            for (const w of list) w.reject(error);
          }
        }
      } catch (error) {
        for (const list of waiters.values()) for (const w of list) w.reject(error);
      }
    }
  }

  private remember(info: ChunkInfo): void {
    if (this.infos.size >= this.infoCacheMax) {
      const oldest = this.infos.keys().next();
      if (!oldest.done) this.infos.delete(oldest.value);
    }
    this.infos.set(info.id, info);
  }
}

/** `view` alone in a buffer of its own: the chunks of one download share the answer's buffer, and an opener takes over the whole buffer. */
function owned(view: Uint8Array): Uint8Array {
  return view.byteOffset === 0 && view.byteLength === view.buffer.byteLength ? view : new Uint8Array(view);
}
