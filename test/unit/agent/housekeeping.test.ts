// Daemon housekeeping: the profile's local retention forgets and prunes, at most once per interval.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import { runBackup } from '../../../agent/backup/run.ts';
import { openRepo } from '../../../agent/backup/open.ts';
import { Housekeeping } from '../../../agent/daemon/housekeeping.ts';
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

test.run();
