/**
 * ObjectReader: an object committed by the site ledger read back from any k of its shards, k reads at
 * once, a read that fails or does not hash to its id replaced by the next shard of the record.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { ObjectReader } from '../../../agent/edge/objects.ts';
import { ReedSolomon, splitIntoShards } from '../../../shared/erasure/index.ts';
import type { BlockRecord } from '../../../shared/protocol/messages.ts';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** A 3+2 object: its record (shard i on node `n<i>`) and the shards by id. */
async function placed(object: Uint8Array) {
  const shards = splitIntoShards(object, 3, 2);
  (await ReedSolomon.create(3, 2)).encode(shards);
  const chunk = sha(object);
  const record: BlockRecord = {
    txId: randomBytes(16), ts: 1, account: 'acct', snapshotId: 'snap', manifestRoot: new Uint8Array(32), dataShards: 3, parityShards: 2,
    shards: shards.map((s, index) => ({ chunk, index, hash: sha(s), node: `n${index}` })),
    signatures: [],
  };
  return { id: hexOf(chunk), record, byId: new Map(shards.map((s) => [hexOf(sha(s)), s])) };
}

test('k shards are read at once, data shards first; a failed and a damaged read give way to the parity shards', async () => {
  const object = new Uint8Array(randomBytes(10_000));
  const { id, record, byId } = await placed(object);
  let inFlight = 0;
  let most = 0;
  const asked: string[] = [];
  const reader = new ObjectReader(async (node, shardId) => {
    asked.push(node);
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
    if (node === 'n1') throw new Error('down');
    const bytes = byId.get(shardId)!;
    return node === 'n2' ? bytes.map((b) => b ^ 1) : bytes;
  });
  assert.equal(await reader.fromRecord(record, id, object.length), object);
  assert.is(most, 3, 'k reads in flight together');
  assert.equal(asked.slice(0, 3).sort(), ['n0', 'n1', 'n2'], 'the data shards are asked first');
  assert.equal(asked.slice(3).sort(), ['n3', 'n4'], 'then the parity shards, in place of the two that failed');
});

test('fewer than k readable shards: refused, naming how many were', async () => {
  const { id, record, byId } = await placed(new Uint8Array(randomBytes(3_000)));
  const reader = new ObjectReader(async (node, shardId) => {
    if (node === 'n0' || node === 'n3' || node === 'n4') throw new Error('down');
    return byId.get(shardId)!;
  });
  await reader.fromRecord(record, id).then(
    () => assert.unreachable('rebuilt from two of three needed shards'),
    (e: Error) => assert.match(e.message, /2 of the 3 shards needed are readable/),
  );
});

test.run();
