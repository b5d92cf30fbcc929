/**
 * Operating errors of the cluster store. Factories, so every place that raises one says the same thing;
 * each has a stable code and a hint that says what to do. A shard with the wrong bytes is not an error
 * here (it is counted as missing and healed); these are the cases a caller has to act on.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';

export const ClusterStoreErrorCode = {
  blobUnrecoverable: 'BLOB_UNRECOVERABLE',
  blobStoreFailed: 'BLOB_STORE_FAILED',
  blobRefInvalid: 'BLOB_REF_INVALID',
  shardIdMismatch: 'SHARD_ID_MISMATCH',
  manifestInvalid: 'MANIFEST_INVALID',
  objectCorrupt: 'OBJECT_CORRUPT',
} as const;

export function blobUnrecoverable(key: string, found: number, needed: number, total: number): BaksaError {
  return new BaksaError(
    ClusterStoreErrorCode.blobUnrecoverable,
    `blob ${key}: only ${found} of its ${total} shards were found intact, ${needed} are needed to rebuild it`,
    {
      hint: 'bring the nodes that hold its other shards back online (a node that is down still has them), then read again',
      exitCode: ExitCode.unavailable,
      details: { key, found, needed, total },
    },
  );
}

export interface ShardFailure {
  index: number;
  /** Every member tried for this shard, with why it failed. */
  tried: { node: string; reason: string }[];
}

export function blobStoreFailed(key: string, failures: readonly ShardFailure[]): BaksaError {
  const text = failures
    .map((f) => `shard ${f.index} (${f.tried.map((t) => `${t.node}: ${t.reason}`).join('; ') || 'no member left to try'})`)
    .join(', ');
  return new BaksaError(ClusterStoreErrorCode.blobStoreFailed, `blob ${key}: could not store ${failures.length} shard(s): ${text}`, {
    hint: 'every shard needs a distinct reachable member with free space: bring members back, free space, or add members',
    exitCode: ExitCode.unavailable,
    details: { key, failures },
  });
}

export function blobRefInvalid(key: string, why: string): BaksaError {
  return new BaksaError(ClusterStoreErrorCode.blobRefInvalid, `blob ${key}: the blob reference is invalid: ${why}`, {
    hint: 'the reference was not made by this cluster store or was damaged on the way; use the one putBlob returned',
    exitCode: ExitCode.data,
    details: { key },
  });
}

export function shardIdMismatch(expected: string, actual: string): BaksaError {
  return new BaksaError(ClusterStoreErrorCode.shardIdMismatch, `the shard bytes hash to ${actual}, not to their id ${expected}`, {
    hint: 'a shard id is the SHA-256 of its bytes; the bytes were damaged on the way or the id belongs to another shard',
    exitCode: ExitCode.data,
    details: { expected, actual },
  });
}

export function manifestInvalid(key: string, why: string): BaksaError {
  return new BaksaError(ClusterStoreErrorCode.manifestInvalid, `object ${key}: the segment manifest is invalid: ${why}`, {
    hint: 'the object reference does not belong to this object, or the cluster holds a damaged manifest; restore from another copy',
    exitCode: ExitCode.data,
    details: { key },
  });
}

export function objectCorrupt(key: string, why: string): BaksaError {
  return new BaksaError(ClusterStoreErrorCode.objectCorrupt, `object ${key}: ${why}`, {
    hint: 'the data read back is not the data stored; discard what was received and run a scrub of this object',
    exitCode: ExitCode.data,
    details: { key },
  });
}
