// Daemon housekeeping: the profile's local retention forgets and prunes, at most once per interval; with a
// cloud, only snapshots whose receipt is kept.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import { runBackup } from '../../../agent/backup/run.ts';
import { openRepo } from '../../../agent/backup/open.ts';
import { Housekeeping } from '../../../agent/daemon/housekeeping.ts';
import { receiptKey } from '../../../agent/migrate/plan.ts';
import { NOT_MIGRATED, forgetSnapshots, migratedSnapshots } from '../../../agent/retention/index.ts';
import { freshState, sensorLines, tempDir } from './_helpers.ts';

test('keeps what the profile retention says and prunes the rest, once per interval', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const state = await freshState(t.path, [src]);
    state.profile.retention = { keepLast: 2, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(src, 'log.csv'), sensorLines(2000 + i * 100, i * 7));
      await runBackup(state, { type: 'snapshot' });
    }
    const hk = new Housekeeping(state, silentLogger, 60_000);
    await hk.maybeRun(1_000_000);
    const repo = await openRepo(state);
    try {
      assert.is((await repo.catalog.listSnapshots()).length, 2);
      const chunksAfter = (await repo.catalog.chunkStats()).chunks;
      writeFileSync(join(src, 'log.csv'), sensorLines(50, 9999));
      await repo.close();
      await runBackup(state, { type: 'snapshot' });
      await hk.maybeRun(1_030_000); // within the interval: nothing happens
      const again = await openRepo(state);
      assert.is((await again.catalog.listSnapshots()).length, 3);
      await again.close();
      await hk.maybeRun(1_070_000);
      const last = await openRepo(state);
      assert.is((await last.catalog.listSnapshots()).length, 2);
      assert.ok(chunksAfter > 0);
      await last.close();
    } finally {
      await repo.close().catch(() => undefined);
    }
  } finally {
    t.cleanup();
  }
});

test('with a cloud, a snapshot the rules would forget stays until its receipt is kept', async () => {
  const t = tempDir();
  try {
    const src = join(t.path, 'src');
    mkdirSync(src);
    const state = await freshState(t.path, [src]);
    state.profile.retention = { keepLast: 1, keepHourly: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
    state.config.cloud = { server: 'https://cloud.example:8443', tlsDir: '/nonexistent', certName: 'gw.example' };
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      writeFileSync(join(src, 'log.csv'), sensorLines(1000 + i * 100, i * 3));
      ids.push((await runBackup(state, { type: 'snapshot' })).snapshot.id);
    }
    let repo = await openRepo(state);
    // The two oldest have migrated; the third has not.
    for (const id of ids.slice(0, 2)) await repo.catalog.setMeta(receiptKey(id), '{}');
    assert.equal([...(await migratedSnapshots(repo.catalog))].sort(), ids.slice(0, 2).sort());
    const plan = await forgetSnapshots(repo.catalog, state.profile.retention, { dryRun: true, migrated: await migratedSnapshots(repo.catalog) });
    assert.equal(plan.remove.map((s) => s.id).sort(), ids.slice(0, 2).sort());
    assert.equal(plan.keep.find((k) => k.snapshot.id === ids[2])?.reasons, [NOT_MIGRATED]);
    await repo.close();

    await new Housekeeping(state, silentLogger, 60_000).maybeRun(1_000_000);
    repo = await openRepo(state);
    assert.equal((await repo.catalog.listSnapshots()).map((s) => s.id).sort(), ids.slice(2).sort());
    await repo.close();
  } finally {
    t.cleanup();
  }
});

test.run();
