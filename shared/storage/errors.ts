/**
 * Operating errors of the shard store, each with a stable code and a hint. Factories, so every
 * place that raises one says the same thing.
 */
import { BaksaError, ExitCode } from '../errors.ts';

export const StorageErrorCode = {
  shardMissing: 'SHARD_MISSING',
  shardCorrupt: 'SHARD_CORRUPT',
  shardIdInvalid: 'SHARD_ID_INVALID',
  shardTooLarge: 'SHARD_TOO_LARGE',
  txIdInvalid: 'TX_ID_INVALID',
  txCommitting: 'TX_COMMITTING',
  diskFull: 'DISK_FULL',
  volumeUnwritable: 'VOLUME_UNWRITABLE',
  volumeIo: 'VOLUME_IO',
  volumeFormat: 'VOLUME_FORMAT',
  storeClosed: 'STORE_CLOSED',
} as const;

function show(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

export function invalidShardId(value: unknown): BaksaError {
  return new BaksaError(StorageErrorCode.shardIdInvalid, `not a shard id: ${show(value)}`, {
    hint: 'a shard id is the SHA-256 of the shard in 64 lowercase hex characters',
    exitCode: ExitCode.usage,
  });
}

export function invalidTxId(value: unknown): BaksaError {
  return new BaksaError(StorageErrorCode.txIdInvalid, `not a transaction id: ${show(value)}`, {
    hint: 'a transaction id is 1 to 128 characters of letters, digits, "_" and "-"',
    exitCode: ExitCode.usage,
  });
}

export function shardMissing(id: string): BaksaError {
  return new BaksaError(StorageErrorCode.shardMissing, `shard ${id} is not stored here`, {
    hint: 'fetch it from another holder, or run a check with --read-data to heal it',
    exitCode: ExitCode.data,
    details: { id },
  });
}

export function shardCorrupt(id: string, volume: string, actual: string): BaksaError {
  return new BaksaError(StorageErrorCode.shardCorrupt, `shard ${id} on volume ${volume} is corrupt (its bytes hash to ${actual})`, {
    hint: 'the disk returned wrong bytes: check the disk, then heal the shard from the other holders (check --read-data)',
    exitCode: ExitCode.data,
    details: { id, volume, actual },
  });
}

export function shardTooLarge(bytes: number, max: number): BaksaError {
  return new BaksaError(StorageErrorCode.shardTooLarge, `shard of ${bytes} bytes is larger than the limit of ${max} bytes`, {
    hint: 'use a smaller chunk size or more data shards, or raise shardBytesMax',
    exitCode: ExitCode.data,
    details: { bytes, max },
  });
}

export function txCommitting(txId: string): BaksaError {
  return new BaksaError(StorageErrorCode.txCommitting, `transaction ${txId} is being committed and cannot change any more`, {
    hint: 'a committed transaction is never rolled back or extended: start a new transaction',
    exitCode: ExitCode.failure,
    details: { txId },
  });
}

export function storageFull(volumes: readonly string[], bytes: number): BaksaError {
  return new BaksaError(StorageErrorCode.diskFull, `no volume has room for ${bytes} more bytes (${volumes.join(', ')})`, {
    hint: 'free space on a volume, add a volume, or lower the reserve (volumeReserveBytes)',
    exitCode: ExitCode.unavailable,
    details: { volumes, bytes },
  });
}

export function storeClosed(): Error {
  return new Error('invariant violated: shard store used after close()');
}

/** Maps a failed fs call on a volume to an operating error; unknown errno values pass through. */
export function volumeError(err: unknown, volume: string, what: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  const details = { volume, errno: code, what };
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BaksaError(StorageErrorCode.diskFull, `volume ${volume} is full (${what})`, {
        hint: 'free space on the volume or add another volume', exitCode: ExitCode.unavailable, details, cause: err,
      });
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new BaksaError(StorageErrorCode.volumeUnwritable, `volume ${volume} refused ${what} (${String(code)})`, {
        hint: 'check that the volume is mounted read-write and owned by the 2baksa user', exitCode: ExitCode.unavailable, details, cause: err,
      });
    case 'EIO':
      return new BaksaError(StorageErrorCode.volumeIo, `volume ${volume} reported an I/O error (${what})`, {
        hint: 'check the disk and the kernel log; the shards on it may need healing', exitCode: ExitCode.unavailable, details, cause: err,
      });
    default:
      return err;
  }
}
