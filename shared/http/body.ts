/**
 * Collecting an HTTP body (request or response) into one buffer without holding it twice.
 *
 * With a Content-Length the buffer is allocated once at that size and every piece the socket hands
 * over is copied in as it comes, so no piece is kept. Gathering the pieces and joining them at the end
 * (what `Buffer.concat` does) holds the body twice at its peak: a node taking 32 MiB shard batches
 * and chunk uploads during migration peaked at 323–336 MiB resident with that, 284–296 MiB with this
 * and the senders' unjoined bodies (ByteParts), in `npm run bench -- migration`; its CPU time did not
 * change measurably. Without a Content-Length (chunked) the pieces are joined at the end. The buffer
 * for a declared length is taken when the body starts, never more than `bytesMax`: what one request
 * may hold either way.
 *
 * A body past `bytesMax` is refused as soon as it is known: at once when its Content-Length says so,
 * or at the piece that crosses the bound.
 */
export class BodyTooLarge extends Error {
  constructor(readonly bytesMax: number) {
    super(`a body larger than ${bytesMax} bytes`);
  }
}

/** The declared length when it is a usable one (a decimal integer), else undefined. */
export function declaredLength(header: unknown): number | undefined {
  if (typeof header !== 'string' || !/^\d{1,15}$/.test(header)) return undefined;
  return Number(header);
}

export class BodyCollector {
  readonly #bytesMax: number;
  readonly #into: Buffer | undefined;
  readonly #pieces: Buffer[] = [];
  #size = 0;

  /** Throws BodyTooLarge when `declared` is already past `bytesMax`. */
  constructor(bytesMax: number, declared?: number) {
    this.#bytesMax = bytesMax;
    if (declared !== undefined && declared > bytesMax) throw new BodyTooLarge(bytesMax);
    this.#into = declared !== undefined && declared > 0 ? Buffer.allocUnsafe(declared) : undefined;
  }

  get size(): number {
    return this.#size;
  }

  /** Takes one piece (copied or kept); throws BodyTooLarge when the body passes the bound. */
  add(piece: Uint8Array): void {
    const size = this.#size + piece.length;
    if (size > this.#bytesMax) throw new BodyTooLarge(this.#bytesMax);
    let from = 0;
    if (this.#into !== undefined && this.#size < this.#into.length) {
      from = Math.min(piece.length, this.#into.length - this.#size);
      this.#into.set(from === piece.length ? piece : piece.subarray(0, from), this.#size);
    }
    if (from < piece.length) this.#pieces.push(Buffer.from(piece.buffer, piece.byteOffset + from, piece.length - from));
    this.#size = size;
  }

  /** The body as received (shorter than declared when the peer sent less; the HTTP layer reports that). */
  bytes(): Buffer {
    if (this.#into === undefined) return Buffer.concat(this.#pieces, this.#size);
    const filled = Math.min(this.#size, this.#into.length);
    // More than declared cannot come through Node's HTTP parser; kept correct all the same.
    if (this.#pieces.length > 0) return Buffer.concat([this.#into.subarray(0, filled), ...this.#pieces], this.#size);
    return this.#into.subarray(0, filled);
  }
}

/** Reads a whole body stream; BodyTooLarge past `bytesMax`. */
export async function collectBody(body: AsyncIterable<Uint8Array>, bytesMax: number, declared?: number): Promise<Buffer> {
  const collector = new BodyCollector(bytesMax, declared);
  for await (const piece of body) collector.add(piece);
  return collector.bytes();
}

/**
 * A binary body given as pieces, sent in order under one Content-Length (ApiClient.request): buffers
 * the caller already holds (shards, sealed chunks) go out as they are instead of joined into a copy.
 */
export class ByteParts {
  readonly length: number;
  constructor(readonly parts: readonly Uint8Array[]) {
    this.length = parts.reduce((n, p) => n + p.length, 0);
  }
}
