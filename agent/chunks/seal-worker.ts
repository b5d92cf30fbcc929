/** A chunk sealer (runs in a worker thread, seal-pool.ts): plaintext in, shards and their ids out. */
import { parentPort, workerData } from 'node:worker_threads';
import { reedSolomonFor } from '../../shared/erasure/index.ts';
import { shardIdOf } from '../../shared/storage/index.ts';
import { announceReady, wireErrorOf } from '../util/worker-rpc.ts';
import { sealChunkShards } from './codec.ts';
import type { SealReply, SealRequest, SealerInit } from './seal-pool.ts';

const init = workerData as SealerInit;
const port = parentPort!;

port.on('message', (msg: SealRequest) => {
  void (async () => {
    try {
      const layout = await sealChunkShards(init.keys, msg.id, new Uint8Array(msg.plain, 0, msg.length), init.compression, msg.k, msg.m);
      if (msg.m > 0) (await reedSolomonFor(msg.k, msg.m)).encode(layout.shards);
      const shardIds = layout.shards.map(shardIdOf);
      const whole = layout.buffer.buffer as ArrayBuffer;
      if (layout.buffer.byteOffset !== 0 || layout.buffer.byteLength !== whole.byteLength) throw new Error('invariant violated: a shard layout is not a whole buffer');
      const reply: SealReply = { seq: msg.seq, plain: msg.plain, buffer: whole, shardBytes: layout.shardBytes, sealedLength: layout.sealedLength, shardIds };
      port.postMessage(reply, [whole, msg.plain]);
    } catch (error) {
      port.postMessage({ seq: msg.seq, error: wireErrorOf(error) } satisfies SealReply);
    }
  })();
});
announceReady(port);
