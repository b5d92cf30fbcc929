/**
 * Scrub: on a schedule (node-cron, `storage.scrubCron`), each node reads in full a rotating share of
 * the objects it owns, verifies every shard of every segment, and heals what is missing or corrupt
 * from the others (ClusterStore.scrubObject). An object's owner is the first of the cluster's nodes in
 * rendezvous order for its id, so the nodes split the work without talking, and over 1 / share runs a
 * node has read all of its objects once. A run never overlaps the previous one.
 *
 * Objects are the REST API's backups (segmented objects) and the chunks migrated from gateways (one blob
 * each). A stripe written while a node was down, with two shards on one node, gets a copy of the second
 * on a node it does not use (ClusterStore.scrubBlob), so it survives as many losses as the others again.
 *
 * Each run logs and returns what it checked and healed, and the node's volume space, so a scrub is
 * also the periodic space report of the node.
 */
import type { Logger } from 'pino';
import type { Database } from '../../shared/db/index.ts';
import { coordinatorOf } from '../../shared/placement/index.ts';
import type { ShardStore, VolumeSpace } from '../../shared/storage/index.ts';
import type { ClusterStore } from '../storage/index.ts';
import { parseLayout } from './cluster-sink.ts';
import { chunkLayout } from '../api/routes-migration.ts';

export interface ScrubReport {
  startedMs: number;
  durationMs: number;
  /** Objects this node owns, and how many this run read. */
  owned: number;
  objects: number;
  shardsChecked: number;
  shardsHealed: number;
  /** Shards copied off a node holding two of their stripe. */
  shardsRespread: number;
  /** Objects that could not be read back (fewer than k good shards, or other errors). */
  failed: Array<{ account: number; objectId: string; error: string }>;
  volumes: VolumeSpace[];
}

export interface ScrubberOptions {
  node: string;
  members: readonly string[];
  share: number;
  logger: Logger;
  now?: () => number;
}

export class Scrubber {
  private cursor = 0;
  private running: Promise<ScrubReport> | undefined;
  last: ScrubReport | undefined;

  constructor(
    private readonly db: Database,
    private readonly store: ClusterStore,
    private readonly local: ShardStore,
    private readonly options: ScrubberOptions,
  ) {}

  /** One run (or the one in progress). */
  run(): Promise<ScrubReport> {
    this.running ??= this.runOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves once no run is in progress. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async runOnce(): Promise<ScrubReport> {
    const now = this.options.now ?? Date.now;
    const startedMs = now();
    const rows = await this.db.all<{ account: number; object_id: string; layout: string | null }>(
      'SELECT account, object_id, layout FROM objects WHERE layout IS NOT NULL ORDER BY account, seq',
    );
    const owned = rows.filter((r) => coordinatorOf(`${r.account}/${r.object_id}`, this.options.members) === this.options.node);
    const count = owned.length === 0 ? 0 : Math.min(owned.length, Math.ceil(owned.length * this.options.share));
    const report: ScrubReport = { startedMs, durationMs: 0, owned: owned.length, objects: 0, shardsChecked: 0, shardsHealed: 0, shardsRespread: 0, failed: [], volumes: [] };
    for (let i = 0; i < count; i++) {
      const row = owned[(this.cursor + i) % owned.length]!;
      const layout = parseLayout(row.layout);
      const chunk = layout ? undefined : chunkLayout(row.layout);
      if (!layout && !chunk) continue;
      try {
        if (layout) {
          const r = await this.store.scrubObject(layout.key, layout.ref);
          report.shardsChecked += r.checked;
          report.shardsHealed += r.healed;
          report.shardsRespread += r.respread;
        } else {
          const r = await this.store.scrubBlob(chunk!.key, chunk!.blob);
          report.shardsChecked += r.checked;
          report.shardsHealed += r.healed.length;
          report.shardsRespread += r.respread.length;
        }
      } catch (error) {
        report.failed.push({ account: row.account, objectId: row.object_id, error: (error as Error).message });
      }
      report.objects++;
    }
    this.cursor = owned.length === 0 ? 0 : (this.cursor + count) % owned.length;
    report.volumes = await this.local.space();
    report.durationMs = now() - startedMs;
    this.last = report;
    const level = report.failed.length > 0 ? 'error' : report.shardsHealed > 0 ? 'warn' : 'info';
    this.options.logger[level](
      {
        owned: report.owned, objects: report.objects, shardsChecked: report.shardsChecked, shardsHealed: report.shardsHealed, shardsRespread: report.shardsRespread,
        failed: report.failed.slice(0, 10), volumes: report.volumes.map((v) => ({ path: v.path, shards: v.shards, usedBytes: v.usedBytes, freeBytes: v.freeBytes })),
        durationMs: report.durationMs,
      },
      'scrub done',
    );
    return report;
  }
}
