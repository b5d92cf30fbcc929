/**
 * Rendezvous (highest-random-weight) scores. For a key and a member, SHA-256 over a domain tag, the key and
 * the member id gives 256 bits; `score` maps 52 of them to u in (0, 1) and returns -weight / ln(u), the
 * weighted HRW score (a member's chance of ranking first is proportional to its weight). Per-shard scores
 * (slot ≥ 0) mix the slot into the same digest with murmur3's finaliser instead of hashing again, so a chunk
 * of n shards over N members costs N hashes, not n·N. Pure and deterministic across platforms.
 */
import { createHash } from 'node:crypto';

export type Key = string | Uint8Array;

/** The digest words of (tag, key, member) that every score of that pair derives from. */
export function pairWords(tag: string, key: Key, memberId: string): Uint32Array {
  const keyBytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(keyBytes.length, 0);
  const d = createHash('sha256').update(tag).update('\0').update(len).update(keyBytes).update(memberId).digest();
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = d.readUInt32BE(i * 4);
  return w;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** u in (0, 1) for a slot (-1 = the key itself, i ≥ 0 = shard index i). */
export function unit(words: Uint32Array, slot: number): number {
  let hi: number;
  let lo: number;
  if (slot < 0) {
    hi = words[0]!;
    lo = words[1]!;
  } else {
    const s = (slot + 1) >>> 0;
    hi = fmix32(words[2]! ^ Math.imul(s, 0x9e3779b1));
    lo = fmix32(words[3]! ^ hi ^ Math.imul(s, 0x27d4eb2f));
  }
  return (hi * 2 ** 20 + (lo >>> 12) + 0.5) / 2 ** 52;
}

/** Weighted HRW score: larger is better. */
export function score(words: Uint32Array, slot: number, weight = 1): number {
  return -weight / Math.log(unit(words, slot));
}
