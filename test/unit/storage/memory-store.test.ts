import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BaksaError } from '../../../shared/errors.ts';
import { MemoryShardStore } from '../../../shared/storage/index.ts';
import { runShardStoreContract } from './contract.ts';

runShardStoreContract('MemoryShardStore', async () => ({ store: new MemoryShardStore(), cleanup: async () => {} }));

test('corrupt() makes get report SHARD_CORRUPT; a fresh put of the bytes heals it', async () => {
  const store = new MemoryShardStore();
  const data = new Uint8Array([1, 2, 3]);
  const id = await store.put(data);
  store.corrupt(id);
  try {
    await store.get(id);
    assert.unreachable('corrupt');
  } catch (err) {
    assert.is((err as BaksaError).code, 'SHARD_CORRUPT');
  }
  await store.put(data);
  assert.equal([...(await store.get(id))], [1, 2, 3]);
});

test('capacity is enforced and staged times come from the injected clock', async () => {
  let now = 1000;
  const store = new MemoryShardStore({ capacityBytes: 100, now: () => now });
  await store.putStaged('t1', new Uint8Array(60));
  now = 2000;
  try {
    await store.put(new Uint8Array(50));
    assert.unreachable('full');
  } catch (err) {
    assert.is((err as BaksaError).code, 'DISK_FULL');
  }
  const [tx] = await store.stagedTransactions();
  assert.is(tx!.modifiedMs, 1000);
  const [vol] = await store.space();
  assert.is(vol!.freeBytes, 40);
});

test.run();
