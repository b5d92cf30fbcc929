/**
 * Local housekeeping in the daemon: after backups, at most once per `intervalMs`, the profile's local
 * retention rules forget old snapshots and prune what nothing references any more (under the backup lock).
 * On a gateway that migrates, only snapshots that have migrated are forgotten. In an edge cluster the
 * forgotten snapshots' shards are released on every member through the site ledger (`cluster`: the
 * daemon's forgetNow).
 */
import type { Logger } from '../../shared/log.ts';
import { acquireLock } from '../../shared/process-lock.ts';
import { openRepo } from '../backup/open.ts';
import type { AgentState } from '../config/index.ts';
import { forgetSnapshots, isEmptyPolicy, migrationGate, prune, type ClusterForgetResult, type RetentionPolicy } from '../retention/index.ts';

export const defaultHousekeepingIntervalMs = 60 * 60 * 1000;

export class Housekeeping {
  private lastMs = 0;

  constructor(
    private readonly state: AgentState,
    private readonly logger: Logger,
    private readonly intervalMs = defaultHousekeepingIntervalMs,
    private readonly cluster?: (policy: RetentionPolicy) => Promise<ClusterForgetResult>,
  ) {}

  /** Runs when due; never throws (a failure is logged and retried next time). */
  async maybeRun(nowMs = Date.now()): Promise<void> {
    if (nowMs - this.lastMs < this.intervalMs || isEmptyPolicy(this.state.profile.retention)) return;
    this.lastMs = nowMs;
    try {
      if (this.cluster) {
        const r = await this.cluster(this.state.profile.retention);
        if (r.released) this.logger.info({ forgotten: r.released.snapshots, chunksReleased: r.released.chunks, notices: r.released.notices }, 'housekeeping done');
        return;
      }
      const lock = await acquireLock(this.state.paths.lock, 'housekeeping');
      try {
        const repo = await openRepo(this.state);
        try {
          const forgot = await forgetSnapshots(repo.catalog, this.state.profile.retention, await migrationGate(repo.catalog, this.state.config.cloud !== undefined));
          if (forgot.remove.length === 0) return;
          const pruned = await prune(repo.catalog, repo.store, repo.ring);
          this.logger.info({ forgotten: forgot.remove.length, chunksDeleted: pruned.chunksDeleted, bytesFreed: pruned.bytesFreed }, 'housekeeping done');
        } finally {
          await repo.close();
        }
      } finally {
        await lock.release();
      }
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, 'housekeeping failed; it will be retried');
    }
  }
}
