/**
 * Opens what the backup, restore and check commands work on: the catalog, the shard store (its open
 * finishes interrupted commits and removes torn temp files) and the key ring.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import { FsShardStore } from '../../shared/storage/index.ts';
import { Catalog } from '../catalog/index.ts';
import { loadKeyRing, type AgentState } from '../config/index.ts';
import type { KeyRing } from '../../shared/crypto/keys.ts';

export interface OpenedRepo {
  catalog: Catalog;
  store: FsShardStore;
  ring: KeyRing;
  close(): Promise<void>;
}

/**
 * `store`: a store this process already owns (the daemon's, in an edge cluster); it is not closed with
 * the repo. Without it the store is opened here, which in cluster mode only the daemon may do.
 */
export async function openRepo(state: AgentState, owned?: FsShardStore): Promise<OpenedRepo> {
  const ring = await loadKeyRing(state.paths, state.config);
  const reserve = state.config.storage?.reserveBytes;
  if (!owned && state.config.cluster) throw daemonOwnsStore();
  const store = owned ?? (await FsShardStore.open({ volumes: [state.paths.shards], ...(reserve !== undefined ? { volumeReserveBytes: reserve } : {}) }));
  let catalog: Catalog;
  try {
    catalog = await Catalog.open(state.paths.catalog);
  } catch (error) {
    if (!owned) await store.close();
    throw error;
  }
  return {
    catalog,
    store,
    ring,
    async close() {
      await catalog.close().catch(() => undefined);
      if (!owned) await store.close().catch(() => undefined);
    },
  };
}

/** In an edge cluster the daemon owns the shard store (and the MQTT session that reaches the peers). */
export function daemonOwnsStore(): BaksaError {
  return new BaksaError('EDGE_DAEMON_OWNS_STORE', 'in an edge cluster the agent daemon owns the shard store, and this command does not go through it yet', {
    hint: 'backup, restore, compare, check, forget, migrate and cluster status work through the running daemon (`2baksa agent run`)',
    exitCode: ExitCode.usage,
  });
}

/** Rolls back staged shards no checkpoint committed (left by a crashed run). Call holding the lock. */
export async function rollBackStaged(store: FsShardStore): Promise<number> {
  const staged = await store.stagedTransactions();
  for (const tx of staged) await store.abort(tx.txId).catch(() => undefined);
  return staged.length;
}
