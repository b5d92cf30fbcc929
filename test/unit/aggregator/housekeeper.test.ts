// Housekeeping the cluster runs by itself: a crossed soft limit records a request, one live node (by
// rendezvous) runs it through the state machine and frees what it removed, from the layouts the
// deletions recorded; the other nodes leave it alone, and a request done is not run again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { apply, applyOrThrow, openAccountDb } from '../../../aggregator/accounts/index.ts';
import type { ObjectSink } from '../../../aggregator/api/object-sink.ts';
import { alertOwner } from '../../../aggregator/monitoring/alert-id.ts';
import { Housekeeper } from '../../../aggregator/node/housekeeper.ts';
import { silentLogger } from '../../../shared/log.ts';

const T = 1_700_000_000_000;
const NODES = ['agg1', 'agg2', 'agg3', 'agg4'];

test('a crossed soft limit is housekept by one live node, and the removed objects are freed from their recorded layouts', async () => {
  const db = await openAccountDb(':memory:', { durable: false });
  try {
    await applyOrThrow(db, { type: 'CreateAccount', atMs: T, name: 'gw1.example', number: null, softBytes: 100, hardBytes: null });
    for (let i = 0; i < 2; i++) await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: `o${i}`, bytes: 40, atMs: T + i, layout: `{"at":${i}}` });
    for (const id of ['o0', 'o1']) await applyOrThrow(db, { type: 'MarkObject', account: 1, objectId: id, state: 'old', atMs: T + 5 });
    // The third object takes the account over its soft limit: a housekeeping request is recorded.
    const crossing = await applyOrThrow(db, { type: 'RecordObject', account: 1, objectId: 'o2', bytes: 40, atMs: T + 6, layout: '{"at":2}' });
    assert.equal(crossing.quotaEvents.map((e) => e.limit), ['soft']);

    const freed: Array<[number, string, string | null | undefined]> = [];
    const sink = { delete: async (account: number, id: string, layout?: string | null) => (freed.push([account, id, layout]), true) } as unknown as ObjectSink;
    const owner = alertOwner('housekeeping:1', NODES)!;
    const keeper = (self: string) => new Housekeeper({ db, submit: (c) => apply(db, c), sink, self, liveNodes: () => NODES, now: () => T + 100, logger: silentLogger });

    for (const other of NODES.filter((n) => n !== owner)) assert.equal(await keeper(other).runOnce(), { accounts: 0, removedObjects: 0, removedBytes: 0 }, `${other} is not the owner`);
    assert.equal(await keeper(owner).runOnce(), { accounts: 1, removedObjects: 2, removedBytes: 80 });
    assert.equal(freed, [[1, 'o0', '{"at":0}'], [1, 'o1', '{"at":1}']]);
    const left = await db.all<{ object_id: string }>('SELECT object_id FROM objects WHERE account = 1 ORDER BY object_id');
    assert.equal(left.map((r) => r.object_id), ['o2']);
    assert.equal(await keeper(owner).runOnce(), { accounts: 0, removedObjects: 0, removedBytes: 0 }, 'a request done is not run again');

    // With the owner gone, another live node takes its requests.
    await applyOrThrow(db, { type: 'Housekeep', account: 1, atMs: T + 200, aggressive: false, reason: 'x' }); // done at once
    await db.run("INSERT INTO housekeeping(id, account, aggressive, reason, requested_ms) VALUES (99, 1, 1, 'test', ?)", [T + 300]);
    const rest = NODES.filter((n) => n !== owner);
    const next = alertOwner('housekeeping:1', rest)!;
    const k = new Housekeeper({ db, submit: (c) => apply(db, c), sink, self: next, liveNodes: () => rest, now: () => T + 400, logger: silentLogger });
    assert.is((await k.runOnce()).accounts, 1);
  } finally {
    await db.close();
  }
});

test.run();
