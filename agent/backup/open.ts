/**
 * Opens what the backup, restore and check commands work on: the catalog, the shard store (its open
 * finishes interrupted commits and removes torn temp files) and the key ring.
 */
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

export async function openRepo(state: AgentState): Promise<OpenedRepo> {
  const ring = await loadKeyRing(state.paths, state.config);
  const reserve = state.config.storage?.reserveBytes;
  const store = await FsShardStore.open({ volumes: [state.paths.shards], ...(reserve !== undefined ? { volumeReserveBytes: reserve } : {}) });
  let catalog: Catalog;
  try {
    catalog = await Catalog.open(state.paths.catalog);
  } catch (error) {
    await store.close();
    throw error;
  }
  return {
    catalog,
    store,
    ring,
    async close() {
      await catalog.close().catch(() => undefined);
      await store.close().catch(() => undefined);
    },
  };
}

/** Rolls back staged shards no checkpoint committed (left by a crashed run). Call holding the lock. */
export async function rollBackStaged(store: FsShardStore): Promise<number> {
  const staged = await store.stagedTransactions();
  for (const tx of staged) await store.abort(tx.txId).catch(() => undefined);
  return staged.length;
}
