/**
 * Child process for the storage crash test: opens a FsShardStore over the given volumes and writes
 * forever: transactions of 1–8 shards that it commits (most; half of them after a syncStaged, as a 2PC
 * participant does before it answers), aborts, or syncs and leaves staged, and some direct puts. It
 * prints `ready` once open, `C <id>` for every shard only after the commit (or put) that made it durable
 * has returned, and `S <txId> <id>` for every shard of a tx left staged only after its syncStaged
 * returned. The parent kills it with SIGKILL at a random moment.
 *
 * Usage: node --import tsx crash-child.ts <seed> <volume>...
 */
import { randomBytes } from 'node:crypto';
import { FsShardStore } from '../../../shared/storage/index.ts';

const [seedArg, ...volumes] = process.argv.slice(2);
let state = (Number(seedArg) >>> 0) || 1;
const rand = (n: number) => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state % n;
};

const out = (line: string) => process.stdout.write(line + '\n'); // pipes are synchronous on Linux

const store = await FsShardStore.open({ volumes, volumeReserveBytes: 0 });
out(`ready ${store.recovery.commitsFinished.length} ${store.recovery.tempFilesRemoved}`);
for (let tx = 0; ; tx++) {
  const txId = `c${seedArg}-${tx}`;
  const action = rand(10);
  if (action === 0) {
    const id = await store.put(new Uint8Array(randomBytes(1 + rand(256 * 1024))));
    out(`C ${id}`);
    continue;
  }
  const count = 1 + rand(8);
  const ids = await Promise.all(
    Array.from({ length: count }, () => store.putStaged(txId, new Uint8Array(randomBytes(1 + rand(128 * 1024))))),
  );
  if (action === 1) {
    await store.abort(txId);
  } else if (action === 2) {
    // synced and left staged (a participant that answered Prepare): the caller rolls it back after a timeout
    await store.syncStaged(txId);
    for (const id of ids) out(`S ${txId} ${id}`);
  } else {
    if (action % 2 === 0) await store.syncStaged(txId);
    await store.commit(txId);
    for (const id of ids) out(`C ${id}`);
  }
}
