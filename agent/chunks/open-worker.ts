/** A chunk opener (runs in a worker thread, open-pool.ts): sealed object in, verified plaintext out. */
import { parentPort, workerData } from 'node:worker_threads';
import { KeyRing } from '../../shared/crypto/keys.ts';
import { announceReady, handOver, wireErrorOf } from '../util/worker-rpc.ts';
import { openChunk } from './codec.ts';
import type { OpenReply, OpenRequest, OpenerInit } from './open-pool.ts';

const init = workerData as OpenerInit;
const ring = new KeyRing(init.keys, init.current);
const port = parentPort!;

port.on('message', (msg: OpenRequest) => {
  void (async () => {
    try {
      const plain = await openChunk(ring, msg.id, new Uint8Array(msg.data, msg.offset, msg.length), msg.lengthMax, true);
      const { data, offset, transfer } = handOver(plain);
      port.postMessage({ seq: msg.seq, data, offset, length: plain.length } satisfies OpenReply, transfer);
    } catch (error) {
      port.postMessage({ seq: msg.seq, error: wireErrorOf(error) } satisfies OpenReply);
    }
  })();
});
announceReady(port);
