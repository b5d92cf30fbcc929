/** What the EdgeNode tests share: a member of an in-process cluster, and the shards of a made-up chunk. */
import { createHash } from 'node:crypto';
import type { EdgeNode } from '../../../agent/edge/node.ts';
import type { SigningKeyPair } from '../../../shared/crypto/sign.ts';
import type { ShardPut } from '../../../shared/protocol/messages.ts';
import type { FsShardStore } from '../../../shared/storage/index.ts';

export interface Member {
  name: string;
  key: SigningKeyPair;
  dir: string;
  store: FsShardStore;
  node?: EdgeNode;
}

export const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest());

/** `count` shards (indexes 0…count−1) of chunk `seed`, each with its hash and distinct data. */
export function chunkShards(seed: number, count: number): ShardPut[] {
  const chunk = sha(Buffer.from(`chunk ${seed}`));
  return Array.from({ length: count }, (_, index) => {
    const data = new Uint8Array(Buffer.from(`chunk ${seed} shard ${index} `.repeat(40 + index)));
    return { chunk, index, hash: sha(data), data };
  });
}
