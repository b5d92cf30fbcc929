// The node's queue of uploaded chunks waiting for their records: flushes (in the background after
// uploads, for a snapshot's record, on the node's timer) run one at a time, so no queued chunk is
// submitted to consensus twice, and a background flush asked for while one waits is not queued again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Database } from '../../../shared/db/index.ts';
import type { AccountCommand } from '../../../aggregator/accounts/types.ts';
import { flushPendingRecords, recordSoon, type OrderedResult } from '../../../aggregator/api/routes-migration.ts';

async function queue(db: Database, account: number, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await db.run('INSERT INTO migration_pending(account, object_id, bytes, layout, queued_ms) VALUES (?, ?, ?, ?, ?)', [account, `chunk:${id}`, 10, '{}', 1]);
  }
}

test('flushes run one at a time: every queued chunk is submitted once, and the queue ends empty', async () => {
  const db = await Database.open(':memory:', { durable: false });
  try {
    const submitted: string[] = [];
    const deps = {
      db,
      now: () => 1,
      submitOrdered: async (command: AccountCommand): Promise<OrderedResult> => {
        // Slow enough that flushes running side by side would both read the same queued rows.
        await new Promise((r) => setTimeout(r, 5));
        if (command.type === 'RecordObjects') submitted.push(...command.objects.map((o) => o.objectId));
        return { result: { ok: true, value: {}, quotaEvents: [] }, position: 1, chain: '00' };
      },
    };
    assert.is(await flushPendingRecords(deps), 0, 'an empty queue (the table is made on first use)');
    await queue(db, 1, ['a', 'b']);
    await queue(db, 2, ['c']);
    recordSoon(deps);
    recordSoon(deps); // asked again while the first waits: not queued twice
    const forAccount = flushPendingRecords(deps, 1);
    await queue(db, 1, ['d']);
    const timer = flushPendingRecords(deps);
    await Promise.all([forAccount, timer]);
    recordSoon(deps); // nothing left: a flush that finds the queue empty
    await flushPendingRecords(deps);
    assert.equal([...submitted].sort(), ['chunk:a', 'chunk:b', 'chunk:c', 'chunk:d'], 'each chunk submitted once');
    assert.is((await db.get<{ n: number }>('SELECT count(*) AS n FROM migration_pending'))?.n, 0);
  } finally {
    await db.close();
  }
});

test.run();
