/**
 * One chunk on its way to the shard store and back.
 *
 *   plaintext ─compress─▶ body ─seal─▶ sealed object ─RS─▶ k data + m parity shards
 *
 * Sealed object (format 1):
 *
 *     offset 0  1 byte   format (0x01)
 *     offset 1  1 byte   compression of the body: 0 none, 1 gzip, 2 brotli, 3 zstd
 *     offset 2  …        sealVersioned(tenant data key, body, aad = chunk id ‖ bytes 0..1)
 *
 * The chunk id (HMAC of the plaintext under the ring's dedup key, `KeyRing.idKeys`) is bound into the AAD,
 * so a shard set cannot be passed off as another chunk, and `openChunk` re-computes the id from the
 * plaintext it returns. Compression is skipped when it does not make the body smaller.
 *
 * zstd (level 1, the default of every profile) replaced brotli 0: on gateway logs (gen-sensor-logs.py,
 * 2 MiB chunks, one core) it compresses at 577 MB/s against 472, to 3.30× against 2.98×, and
 * decompresses at 1,630 MB/s against 644, which took a restore of 280 MB from 0.77–1.09 s to 0.65–0.68 s
 * (CPU 1.28 s to 0.87 s). Node 20's zlib has no zstd, so it comes from zstd-napi (the reference library,
 * built from source at install). Its calls are synchronous, on the calling thread: brotli ran on the
 * libuv pool beside the main thread. Chunks stored with gzip or brotli still open.
 */
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { chunkId, type DataKeys, type KeyRing } from '../../shared/crypto/keys.ts';
import { openVersioned, sealVersioned, sealVersionedInto, sealedVersionedBytes } from '../../shared/crypto/aead.ts';
import { allocShards, type ShardLayout } from '../../shared/erasure/index.ts';
import type { CompressionAlgorithm } from '../profile/index.ts';

export const CHUNK_FORMAT = 0x01;
export const CHUNK_HEADER_BYTES = 2;
const compressionCodes: Record<CompressionAlgorithm, number> = { none: 0, gzip: 1, brotli: 2, zstd: 3 };
const ZSTD = 3;

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const brotli = promisify(zlib.brotliCompress);
const unbrotli = promisify(zlib.brotliDecompress);

/** zstd-napi's native binding (CommonJS: its exports are not visible to an ESM import). */
const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js');

/** One zstd context each, per thread, and the buffer each zstd compression writes into first. */
let zstdCompressor: InstanceType<typeof zstd.CCtx> | undefined;
let zstdDecompressor: InstanceType<typeof zstd.DCtx> | undefined;
let zstdScratch = new Uint8Array(0);

/**
 * `plain` compressed with zstd at `level`, as a view of this thread's scratch buffer: valid until the
 * next call on this thread, so the caller uses it before it awaits anything. No chunk-sized allocation
 * per chunk (each one was page faults and a copy), and the scratch grows to the largest chunk's bound.
 */
function zstdCompressScratch(plain: Uint8Array, level: number): Uint8Array {
  const bound = zstd.compressBound(plain.length);
  if (zstdScratch.length < bound) zstdScratch = new Uint8Array(bound);
  zstdCompressor ??= new zstd.CCtx();
  return zstdScratch.subarray(0, zstdCompressor.compress(zstdScratch, plain, level));
}

/**
 * A zstd frame decompressed into a buffer of its own. The frame must state its size (ours always do),
 * at most `maxBytes`, and decompress to exactly that: a frame that claims more is refused before any
 * allocation.
 */
function zstdDecompress(body: Uint8Array, maxBytes: number, idHex: string): Uint8Array {
  let size: number | null;
  try {
    size = zstd.getFrameContentSize(body);
  } catch (error) {
    throw chunkCorrupt(`it does not decompress (${(error as Error).message})`, idHex);
  }
  if (size === null) throw chunkCorrupt('its zstd frame does not state its size', idHex);
  if (size > maxBytes) throw chunkCorrupt(`it decompresses to more than the ${maxBytes} bytes recorded`, idHex);
  const plain = Buffer.allocUnsafe(size);
  let written: number;
  try {
    zstdDecompressor ??= new zstd.DCtx();
    written = zstdDecompressor.decompress(plain, body);
  } catch (error) {
    throw chunkCorrupt(`it does not decompress (${(error as Error).message})`, idHex);
  }
  if (written !== size) throw chunkCorrupt(`it decompresses to ${written} bytes, not the ${size} its frame states`, idHex);
  return plain;
}

export interface CompressionOptions {
  algorithm: CompressionAlgorithm;
  level: number;
}

export function chunkIdHex(keys: DataKeys, plaintext: Uint8Array): string {
  return Buffer.from(chunkId(keys.dedupKey, plaintext)).toString('hex');
}

const SAMPLE_BYTES = 8192;
/** Above this many bits per byte (order-0 entropy of a sample) a chunk is taken as incompressible. */
export const INCOMPRESSIBLE_BITS_PER_BYTE = 7.6;

/** Order-0 entropy (bits per byte) of up to 8 KiB from the middle of `data`: a cheap "is it random?" test. */
export function sampleEntropy(data: Uint8Array): number {
  const from = Math.max(0, (data.length >> 1) - (SAMPLE_BYTES >> 1));
  const sample = data.subarray(from, from + SAMPLE_BYTES);
  const counts = new Uint32Array(256);
  for (let i = 0; i < sample.length; i++) counts[sample[i]!]!++;
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = counts[b]!;
    if (c > 0) {
      const p = c / sample.length;
      bits -= p * Math.log2(p);
    }
  }
  return bits;
}

/**
 * The brotli window for a chunk: no larger than the chunk (same output, far less memory per encoder),
 * and 64 KiB at the fast qualities 0 and 1, whose one-block compressors gain nothing from a wider one:
 * on gateway logs a 64 KiB window gives about 8 % smaller output than the chunk-sized window, at the
 * same speed (measured on gen-sensor-logs.py data, 256 KiB and 1 MiB chunks).
 */
export function brotliWindowBits(level: number, length: number): number {
  const chunkBits = Math.min(24, Math.max(16, Math.ceil(Math.log2(length + 1))));
  return level <= 1 ? 16 : chunkBits;
}

/**
 * Compresses on the libuv thread pool (so it runs beside the main thread). Random-looking data (camera
 * stills, firmware, encrypted files) is stored as it is without trying: compressing it costs CPU for nothing.
 */
export async function compress(plain: Uint8Array, opts: CompressionOptions): Promise<{ code: number; body: Uint8Array }> {
  if (opts.algorithm === 'zstd') {
    const out = compressNow(plain, opts);
    return out.code === ZSTD ? { code: ZSTD, body: out.body.slice() } : out;
  }
  if (worthCompressing(plain, opts) === false) return { code: 0, body: plain };
  // One output buffer of half the input: what compressible data needs (gateway logs shrink to about a
  // third), so one thread-pool round trip per chunk and half the allocation of an input-sized buffer;
  // a larger body spills into a second buffer (one more copy, only for data that barely compresses).
  const chunkSize = Math.max(64 * 1024, (plain.length >>> 1) + 1024);
  const body =
    opts.algorithm === 'gzip'
      ? await gzip(plain, { level: Math.min(9, opts.level), chunkSize })
      : await brotli(plain, {
          chunkSize,
          params: {
            [zlib.constants.BROTLI_PARAM_QUALITY]: opts.level,
            [zlib.constants.BROTLI_PARAM_LGWIN]: brotliWindowBits(opts.level, plain.length),
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: plain.length,
          },
        });
  if (body.length >= plain.length) return { code: 0, body: plain };
  return { code: compressionCodes[opts.algorithm], body };
}

function worthCompressing(plain: Uint8Array, opts: CompressionOptions): boolean {
  if (opts.algorithm === 'none' || plain.length < 64) return false;
  return plain.length < 4 * SAMPLE_BYTES || sampleEntropy(plain) <= INCOMPRESSIBLE_BITS_PER_BYTE;
}

/**
 * Compression with zstd (or none), on this thread and at once: with zstd the body is a view of the
 * thread's scratch buffer (`zstdCompressScratch`), so it is sealed before the caller awaits anything.
 */
function compressNow(plain: Uint8Array, opts: CompressionOptions): { code: number; body: Uint8Array } {
  if (opts.algorithm !== 'zstd' || !worthCompressing(plain, opts)) return { code: 0, body: plain };
  const body = zstdCompressScratch(plain, opts.level);
  return body.length >= plain.length ? { code: 0, body: plain } : { code: ZSTD, body };
}

/** Decompresses a chunk body of at most `maxBytes` (the catalog's length); anything else is CHUNK_CORRUPT. */
async function decompress(code: number, body: Uint8Array, maxBytes: number, idHex: string): Promise<Uint8Array> {
  if (code === ZSTD) return zstdDecompress(body, maxBytes, idHex);
  const unpack = code === 0 ? undefined : code === 1 ? gunzip : code === 2 ? unbrotli : null;
  if (unpack === null) {
    // The header byte is authenticated (it is in the AAD): a code this agent does not know was written
    // by a newer one, not damaged. Repairing would not help; upgrading does.
    throw new BaksaError('CHUNK_FORMAT_UNKNOWN', `chunk ${idHex} is compressed with method ${code}, which this version of 2baksa does not know: a newer version wrote it`, {
      hint: 'upgrade 2baksa on this machine to the version that wrote it, or a later one',
      exitCode: ExitCode.data,
      details: { id: idHex, compression: code },
    });
  }
  if (unpack === undefined) {
    if (body.length > maxBytes) throw chunkCorrupt(`it holds ${body.length} bytes, more than the ${maxBytes} recorded`, idHex);
    return body;
  }
  try {
    return await unpack(body, { maxOutputLength: maxBytes, chunkSize: Math.max(64 * 1024, maxBytes) });
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' ? `it decompresses to more than the ${maxBytes} bytes recorded` : `it does not decompress (${(error as Error).message})`;
    throw chunkCorrupt(why, idHex);
  }
}

function aadOf(idHex: string, header: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(idHex, 'hex'), header]);
}

/** The sealed object in two parts (header, sealed body), so the shards can be cut without joining them first. */
export interface SealedParts {
  header: Uint8Array;
  sealed: Uint8Array;
  length: number;
}

/** Compresses and seals a chunk. */
export async function sealChunkParts(keys: DataKeys, idHex: string, plain: Uint8Array, opts: CompressionOptions): Promise<SealedParts> {
  const { code, body } = await compress(plain, opts);
  const header = Uint8Array.of(CHUNK_FORMAT, code);
  const sealed = sealVersioned(keys, body, aadOf(idHex, header));
  return { header, sealed, length: CHUNK_HEADER_BYTES + sealed.length };
}

/**
 * Compresses and seals a chunk straight into its k data shards (zero-padded) and m parity shards, views
 * of one buffer, ready for `ReedSolomon.encode`: no chunk-sized intermediate buffer and no copy.
 */
export async function sealChunkShards(
  keys: DataKeys,
  idHex: string,
  plain: Uint8Array,
  opts: CompressionOptions,
  k: number,
  m: number,
): Promise<ShardLayout & { sealedLength: number }> {
  // zstd's body is scratch: sealed below with no await between.
  const { code, body } = opts.algorithm === 'zstd' ? compressNow(plain, opts) : await compress(plain, opts);
  const header = Uint8Array.of(CHUNK_FORMAT, code);
  const sealedLength = CHUNK_HEADER_BYTES + sealedVersionedBytes(body.length);
  const layout = allocShards(sealedLength, k, m);
  layout.buffer.set(header, 0);
  const end = sealVersionedInto(keys, body, aadOf(idHex, header), layout.buffer, CHUNK_HEADER_BYTES);
  if (end !== sealedLength) throw new Error(`invariant violated: sealed ${end - CHUNK_HEADER_BYTES} bytes, expected ${sealedLength - CHUNK_HEADER_BYTES}`);
  return { ...layout, sealedLength };
}

/** Compresses and seals a chunk; returns the sealed object to erasure-code. */
export async function sealChunk(keys: DataKeys, idHex: string, plain: Uint8Array, opts: CompressionOptions): Promise<Uint8Array> {
  const parts = await sealChunkParts(keys, idHex, plain, opts);
  const out = new Uint8Array(parts.length);
  out.set(parts.header, 0);
  out.set(parts.sealed, CHUNK_HEADER_BYTES);
  return out;
}

export function chunkCorrupt(why: string, id?: string): BaksaError {
  return new BaksaError('CHUNK_CORRUPT', `chunk ${id ?? ''} cannot be decoded: ${why}`.replace('  ', ' '), {
    hint: 'run `2baksa check --read-data --repair` to rebuild it from its other shards',
    exitCode: ExitCode.data,
    details: id ? { id } : undefined,
  });
}

/**
 * Opens a sealed object: authenticates, decompresses and checks the chunk id. With `consume`, the
 * caller hands `object` over: it is decrypted over its own bytes (`openInPlace`: no body-sized
 * allocation, about twice the speed), and its bytes are garbage afterwards, whatever the outcome.
 */
export async function openChunk(ring: KeyRing, idHex: string, object: Uint8Array, lengthMax: number, consume = false): Promise<Uint8Array> {
  if (object.length < CHUNK_HEADER_BYTES || object[0] !== CHUNK_FORMAT) throw chunkCorrupt('unknown format', idHex);
  const header = object.subarray(0, CHUNK_HEADER_BYTES);
  const sealed = object.subarray(CHUNK_HEADER_BYTES);
  const body = openVersioned(ring, sealed, aadOf(idHex, header), consume);
  const plain = await decompress(object[1]!, body, lengthMax, idHex);
  if (chunkIdHex(ring.idKeys, plain) !== idHex) throw chunkCorrupt('its content does not match its id', idHex);
  return plain;
}
