/**
 * The store worker (runs in a worker thread): owns a shard store on the state's volume and seals, encodes
 * and stages the chunks the main thread sends. Messages carry a sequence number; errors travel back as
 * {code, message, hint, exitCode} and become BaksaErrors again on the main side (remote-store.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wireErrorOf } from '../util/worker-rpc.ts';
import { ReedSolomon } from '../../shared/erasure/index.ts';
import { FsShardStore } from '../../shared/storage/index.ts';
import { sealAndStage } from './seal-store.ts';
import type { WorkerInit, WorkerRequest, WorkerReply } from './remote-store.ts';

const init = workerData as WorkerInit;
const port = parentPort!;
const ready = (async () => {
  const store = await FsShardStore.open({ volumes: init.volumes, ...(init.reserveBytes !== undefined ? { volumeReserveBytes: init.reserveBytes } : {}) });
  const rs = await ReedSolomon.create(init.k, init.m);
  return { store, rs };
})();

port.on('message', (msg: WorkerRequest) => {
  void (async () => {
    try {
      const { store, rs } = await ready;
      let reply: WorkerReply;
      switch (msg.op) {
        case 'put': {
          const r = await sealAndStage(store, rs, init.keys, init.compression, msg.txId, msg.id, new Uint8Array(msg.data));
          reply = { seq: msg.seq, result: r };
          break;
        }
        case 'commit':
          await store.commit(msg.txId);
          reply = { seq: msg.seq };
          break;
        case 'abort':
          await store.abort(msg.txId);
          reply = { seq: msg.seq };
          break;
        case 'close':
          await store.close();
          reply = { seq: msg.seq };
          break;
      }
      port.postMessage(reply);
    } catch (error) {
      port.postMessage({ seq: msg.seq, error: wireErrorOf(error) } satisfies WorkerReply);
    }
  })();
});
