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
      // Checked before anything is written, as a single put is: a damaged shard is stored under no name.
      const actual = shardIdOf(bytes);
      if (actual !== id) {
        outcomes[i] = `SHARD_ID_MISMATCH: the bytes hash to ${actual}, not ${id}`;
        return;
      }
      await store.put(bytes, id); // hashed just above: the store does not hash it again
      outcomes[i] = undefined;
    } catch (e) {
      if (!(e instanceof BaksaError)) throw e;
      outcomes[i] = `${e.code}: ${e.message}`;
    }
  });
  return outcomes;
}
