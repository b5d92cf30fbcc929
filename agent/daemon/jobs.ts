/**
 * The daemon's backup job: one run at a time (a second trigger while one runs is skipped), snapshot runs
 * close the live capture files first, lazy runs take only settled files and commit nothing when the tree is
 * unchanged. Results go to status.json and, through `onEvent`, to telemetry.
 */
import { BaksaError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { BackupEvent } from '../backup/events.ts';
import { runBackup, type BackupSummary } from '../backup/run.ts';
import type { SnapshotType } from '../catalog/index.ts';
import type { AgentState } from '../config/index.ts';
import { recordRun } from '../status/record.ts';

export interface JobHooks {
  beforeSnapshot?: () => Promise<void>;
  onEvent?: (event: BackupEvent) => void;
  onDone?: (type: SnapshotType, result: BackupSummary | undefined, error: BaksaError | undefined) => void;
}

export class BackupJob {
  private running: Promise<void> | undefined;
  private controller: AbortController | undefined;
  runs = 0;
  skipped = 0;

  constructor(
    private readonly state: AgentState,
    private readonly hooks: JobHooks,
    private readonly logger: Logger,
  ) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Starts a run unless one is running; resolves when it ends (never rejects). */
  trigger(type: SnapshotType): Promise<void> {
    if (this.running) {
      this.skipped++;
      this.logger.info({ type }, 'a backup is still running: this trigger is skipped');
      return this.running;
    }
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.running = this.run(type, signal).finally(() => {
      this.running = undefined;
      this.controller = undefined;
    });
    return this.running;
  }

  /** Stops a running backup (its staged work is rolled back) and waits for it. */
  async cancel(): Promise<void> {
    this.controller?.abort();
    await this.running;
  }

  private async run(type: SnapshotType, signal: AbortSignal): Promise<void> {
    this.runs++;
    // Lazy runs happen every scan interval; their events are told only when they committed something
    // or failed, so an idle gateway does not chatter.
    const held: BackupEvent[] = [];
    const flush = () => {
      for (const e of held.splice(0)) this.hooks.onEvent?.(e);
    };
    const listener = (e: BackupEvent) => {
      if (type === 'lazy') held.push(e);
      else this.hooks.onEvent?.(e);
      if (e.type === 'backup-ok' || e.type === 'backup-error') flush();
    };
    try {
      if (type === 'snapshot') await this.hooks.beforeSnapshot?.();
      const result = await runBackup(this.state, {
        type,
        settleS: this.state.profile.schedule.settleS,
        skipUnchanged: type === 'lazy',
        signal,
        listener,
      });
      if (!result.unchanged) {
        await recordRun(this.state.paths, { type, ok: true, snapshotId: result.snapshot.id, counters: result.counters });
        this.logger.info({ type, snapshot: result.snapshot.id, files: result.snapshot.fileCount, storedNew: result.counters.storedNew }, 'backup done');
      }
      this.hooks.onDone?.(type, result, undefined);
    } catch (error) {
      const e = error instanceof BaksaError ? error : new BaksaError('INTERNAL', String(error));
      if (e.code === 'LOCKED') {
        this.logger.info('another backup holds the lock: this run is skipped');
        return;
      }
      this.logger.error({ code: e.code, err: e.message }, 'backup failed');
      await recordRun(this.state.paths, { type, ok: false, error: e.code }).catch(() => undefined);
      this.hooks.onDone?.(type, undefined, e);
    }
  }
}
