/**
 * Per-blob whitening: before a blob is cut into shards its bytes are XORed with a keystream derived
 * from the blob's key (AES-256-CTR, key = SHA-256(tag ‖ blob key), zero IV), and XORed again after
 * a read joins them. Not for secrecy (the key is public; agents encrypt before they send): it makes
 * shard ids unique per blob key.
 *
 * Why. Shards are content-addressed, so without it two blobs with equal content (an object uploaded
 * twice under two keys, two zero-filled segments) have equal shard ids, and where placement puts them
 * on the same member they are one file. Deleting one blob would then delete a shard of the other.
 * With whitening a shard belongs to exactly one blob key (a collision needs a SHA-256 collision), so
 * deleting a blob's shards is safe as long as each key names one blob.
 */
import { createCipheriv, createHash, type Cipher } from 'node:crypto';

const TAG = '2baksa/v1/cluster-blob-whitening';
const IV = Buffer.alloc(16);
/**
 * Bytes XORed per cipher call. The cipher returns a new buffer for each call: in pieces this small
 * those die at once, where one call over a whole blob made a temporary of the blob's size, copied
 * back after (a stripe now takes the blob whitened straight into its shard buffer, cluster-store.ts).
 */
const PIECE_BYTES = 64 * 1024;

/** The key's keystream from offset 0, applied piece after piece. */
export class Whitener {
  readonly #cipher: Cipher;

  constructor(key: string) {
    const aesKey = createHash('sha256').update(TAG).update('\0').update(key, 'utf8').digest();
    this.#cipher = createCipheriv('aes-256-ctr', aesKey, IV);
  }

  /**
   * Writes `from` XORed with the next `from.length` bytes of the keystream into `to` at offset 0
   * (`to` may be `from` itself, for in place).
   */
  xor(from: Uint8Array, to: Uint8Array): void {
    if (to.length < from.length) throw new RangeError(`whitening ${from.length} bytes into ${to.length}`);
    for (let at = 0; at < from.length; at += PIECE_BYTES) {
      to.set(this.#cipher.update(from.subarray(at, Math.min(from.length, at + PIECE_BYTES))), at);
    }
  }
}

/** XORs `bytes` in place with the key's keystream from offset 0 (the same call undoes it). */
export function whiten(key: string, bytes: Uint8Array): void {
  if (bytes.length === 0) return;
  new Whitener(key).xor(bytes, bytes);
}
