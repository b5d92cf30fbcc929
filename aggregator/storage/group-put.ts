/**
 * Several shards stored on this node at once, for the batched shard puts of the cluster store (a batch
 * of chunk uploads sends each node its shards of every chunk in one request).
 *
 * Each shard goes through the store's own `put` (written to a temp file, fsynced, renamed into place,
 * its directory fsynced), so each is acknowledged only once it is durable, exactly as a single put.
 * They run side by side: the file system commits the journal for the fsyncs that wait together at
 * once, which is the group commit. (Staging the batch as one transaction and committing it was
 * measured slower: its marker, links and staging directory cost more than they save, because every
 * shard lands in its own fan-out directory, which needs its own fsync either way.) A shard that
 * cannot be stored (wrong id, full disk) fails alone.
 */
import { BaksaError } from '../../shared/errors.ts';
import { forEachLimited } from '../../shared/storage/fsutil.ts';
import { shardIdOf, type ShardStore } from '../../shared/storage/index.ts';
import { shardIdMismatch } from './errors.ts';

/** Shards of one batch written at once. */
const PUT_PARALLEL_MAX = 8;

export interface ShardToStore {
  id: string;
  bytes: Uint8Array;
}

/** Why a shard was not stored, or undefined when it was stored (committed, durable). */
export type PutOutcome = string | undefined;

/** Stores `shards` side by side; one outcome per shard, in order. */
export async function putShardsGrouped(store: ShardStore, shards: readonly ShardToStore[]): Promise<PutOutcome[]> {
  const outcomes: PutOutcome[] = shards.map(() => 'not stored');
  await forEachLimited([...shards.keys()], PUT_PARALLEL_MAX, async (i) => {
    const { id, bytes } = shards[i]!;
    try {
      await putCheckedShard(store, id, bytes);
      outcomes[i] = undefined;
    } catch (e) {
      if (!(e instanceof BaksaError)) throw e;
      outcomes[i] = `${e.code}: ${e.message}`;
    }
  });
  return outcomes;
}

/**
 * Stores a shard that came from elsewhere as `id`: hashed here, once. Bytes that are not that id's are
 * refused (SHARD_ID_MISMATCH) before anything is written, so a damaged shard is stored under no name;
 * the store gets the id checked and does not hash the bytes again. Every put of a shard that arrives at
 * a node goes through here.
 */
export async function putCheckedShard(store: ShardStore, id: string, bytes: Uint8Array): Promise<void> {
  const actual = shardIdOf(bytes);
  if (actual !== id) throw shardIdMismatch(id, actual);
  await store.put(bytes, id);
}
