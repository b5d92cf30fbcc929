/**
 * Shard and transaction ids. Both come from peers, so they are checked here before any of them
 * becomes part of a path: a shard id is exactly 64 lowercase hex characters (SHA-256 of the bytes),
 * a transaction id is 1–128 characters of [A-Za-z0-9_-] (no dots, no slashes: no path traversal).
 */
import { createHash } from 'node:crypto';
import { invalidShardId, invalidTxId } from './errors.ts';

export const SHARD_ID_HEX_CHARS = 64;
export const TX_ID_CHARS_MAX = 128;

const SHARD_ID_RE = /^[0-9a-f]{64}$/;
const TX_ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** The id of a shard: SHA-256 of its bytes, lowercase hex. */
export function shardIdOf(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function isShardId(value: unknown): value is string {
  return typeof value === 'string' && SHARD_ID_RE.test(value);
}

export function isTxId(value: unknown): value is string {
  return typeof value === 'string' && TX_ID_RE.test(value);
}

/** Throws SHARD_ID_INVALID unless `value` is a well-formed shard id. */
export function checkShardId(value: unknown): string {
  if (!isShardId(value)) throw invalidShardId(value);
  return value;
}

/** Throws TX_ID_INVALID unless `value` is a well-formed transaction id. */
export function checkTxId(value: unknown): string {
  if (!isTxId(value)) throw invalidTxId(value);
  return value;
}
