/**
 * One chunk on its way to the shard store and back.
 *
 *   plaintext ─compress─▶ body ─seal─▶ sealed object ─RS─▶ k data + m parity shards
 *
 * Sealed object (format 1):
 *
 *     offset 0  1 byte   format (0x01)
 *     offset 1  1 byte   compression of the body: 0 none, 1 gzip, 2 brotli
 *     offset 2  …        sealVersioned(tenant data key, body, aad = chunk id ‖ bytes 0..1)
 *
 * The chunk id (HMAC of the plaintext under the ring's dedup key, `KeyRing.idKeys`) is bound into the AAD,
 * so a shard set cannot be passed off as another chunk, and `openChunk` re-computes the id from the
 * plaintext it returns. Compression is skipped when it does not make the body smaller.
 */
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { chunkId, type DataKeys, type KeyRing } from '../../shared/crypto/keys.ts';
import { openVersioned, sealVersioned, sealVersionedInto, sealedVersionedBytes } from '../../shared/crypto/aead.ts';
import { allocShards, type ShardLayout } from '../../shared/erasure/index.ts';
import type { CompressionAlgorithm } from '../profile/index.ts';

export const CHUNK_FORMAT = 0x01;
export const CHUNK_HEADER_BYTES = 2;
const compressionCodes: Record<CompressionAlgorithm, number> = { none: 0, gzip: 1, brotli: 2 };

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const brotli = promisify(zlib.brotliCompress);
const unbrotli = promisify(zlib.brotliDecompress);

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
  if (opts.algorithm === 'none' || plain.length < 64) return { code: 0, body: plain };
  if (plain.length >= 4 * SAMPLE_BYTES && sampleEntropy(plain) > INCOMPRESSIBLE_BITS_PER_BYTE) return { code: 0, body: plain };
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

/** Decompresses a chunk body of at most `maxBytes` (the catalog's length); anything else is CHUNK_CORRUPT. */
async function decompress(code: number, body: Uint8Array, maxBytes: number, idHex: string): Promise<Uint8Array> {
  const unpack = code === 0 ? undefined : code === 1 ? gunzip : code === 2 ? unbrotli : null;
  if (unpack === null) throw chunkCorrupt(`unknown compression code ${code}`, idHex);
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
  const { code, body } = await compress(plain, opts);
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
