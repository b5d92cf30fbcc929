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
import type { EdgeRuntime } from '../edge/runtime.ts';

/** Runs of one request when the edge cluster fails to commit a checkpoint. */
const EDGE_COMMIT_ATTEMPTS = 3;

/** `p`, or BACKUP_CANCELLED once `signal` fires (waiting for the cluster to form at shutdown). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new BaksaError('BACKUP_CANCELLED', 'the backup was stopped while waiting for the edge cluster', { hint: 'run it again' }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export interface JobHooks {
  beforeSnapshot?: () => Promise<void>;
  /** Edge cluster mode: runs wait for the node to join, then commit through it. */
  edge?: EdgeRuntime;
  onEvent?: (event: BackupEvent) => void;
  onDone?: (type: SnapshotType, result: BackupSummary | undefined, error: BaksaError | undefined) => void;
}

/** Lazy mode: how long a file that never settles (a live log) waits before it is taken anyway. */
export const DEFAULT_MAX_WAIT_S = 3600;

export class BackupJob {
  private running: Promise<void> | undefined;
  /** Lazy runs: when each file still changing was first found so (runBackup's `maxWaitS`). */
  private readonly pendingSince = new Map<string, number>();
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

  /**
   * A run asked for now (the CLI through the control socket, like Box Backup's `bbackupctl sync`): waits
   * for a run in progress, then runs; resolves with the summary or rejects with the run's error.
   * `listener` gets this run's events as well as the hooks.
   */
  async request(type: SnapshotType, listener?: (event: BackupEvent) => void, force = false): Promise<BackupSummary> {
    // A transaction the edge cluster could not commit (a gateway died mid-prepare) is settled by then:
    // the run again resumes from its last checkpoint, with the members that are up.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.requestOnce(type, listener, force);
      } catch (error) {
        if (!(error instanceof BaksaError) || error.code !== 'EDGE_COMMIT_FAILED' || attempt >= EDGE_COMMIT_ATTEMPTS) throw error;
        this.logger.warn({ attempt, err: error.message }, 'the edge cluster did not commit a checkpoint: running the backup again');
      }
    }
  }

  private async requestOnce(type: SnapshotType, listener: ((event: BackupEvent) => void) | undefined, force: boolean): Promise<BackupSummary> {
    while (this.running) await this.running;
    let outcome: { result?: BackupSummary; error?: BaksaError } = {};
    this.controller = new AbortController();
    const signal = this.controller.signal;
    this.running = this.run(type, signal, listener, (o) => (outcome = o), force).finally(() => {
      this.running = undefined;
      this.controller = undefined;
    });
    await this.running;
    if (outcome.error) throw outcome.error;
    if (!outcome.result) throw new BaksaError('BACKUP_SKIPPED', 'another backup held the lock: nothing was run', { hint: 'run it again once the other backup has finished' });
    return outcome.result;
  }

  /** Stops a running backup (its staged work is rolled back) and waits for it. */
  async cancel(): Promise<void> {
    this.controller?.abort();
    await this.running;
  }

  private async run(
    type: SnapshotType,
    signal: AbortSignal,
    extra?: (event: BackupEvent) => void,
    report?: (outcome: { result?: BackupSummary; error?: BaksaError }) => void,
    force = false,
  ): Promise<void> {
    this.runs++;
    // Lazy runs happen every scan interval; their events are told only when they committed something
    // or failed, so an idle gateway does not chatter.
    const held: BackupEvent[] = [];
    const flush = () => {
      for (const e of held.splice(0)) this.hooks.onEvent?.(e);
    };
    const listener = (e: BackupEvent) => {
      extra?.(e);
      if (type === 'lazy') held.push(e);
      else this.hooks.onEvent?.(e);
      if (e.type === 'backup-ok' || e.type === 'backup-error') flush();
    };
    try {
      if (type === 'snapshot') await this.hooks.beforeSnapshot?.();
      const edge = this.hooks.edge;
      const node = edge ? await abortable(edge.ready, signal) : undefined;
      const result = await runBackup(this.state, {
        type,
        settleS: this.state.profile.schedule.settleS,
        maxWaitS: this.state.profile.schedule.maxWaitS ?? DEFAULT_MAX_WAIT_S,
        pendingSince: this.pendingSince,
        skipUnchanged: type === 'lazy',
        force,
        signal,
        listener,
        ...(edge && node ? { edge: { store: edge.store, node } } : {}),
      });
      report?.({ result });
      if (result.keyRotation) this.logger.info({ from: result.keyRotation.from, to: result.keyRotation.to }, 'key rotated: new data is sealed with the new version');
      if (!result.unchanged) {
        await recordRun(this.state.paths, { type, ok: true, snapshotId: result.snapshot.id, counters: result.counters, durationMs: result.durationMs });
        this.logger.info({ type, snapshot: result.snapshot.id, files: result.snapshot.fileCount, storedNew: result.counters.storedNew }, 'backup done');
      }
      this.hooks.onDone?.(type, result, undefined);
    } catch (error) {
      const e = error instanceof BaksaError ? error : new BaksaError('INTERNAL', String(error));
      report?.({ error: e });
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
