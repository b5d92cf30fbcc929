/**
 * The pure parts of migration, kept apart so they are tested without a cloud or a shard store: which
 * chunks a snapshot needs, the order snapshots go in (by priority class), which still have to go, where
 * their receipts are kept, and the summary's arithmetic.
 */
import { BaksaError, ExitCode } from '../../shared/errors.ts';
import type { ManifestEntry } from '../manifest/index.ts';
import { priorityClasses, type PriorityClass } from '../profile/schema.ts';

/** Catalog meta key of the cloud's receipt for a migrated snapshot: its presence means "done". */
export function receiptKey(snapshotId: string): string {
  return `cloud-receipt:${snapshotId}`;
}

/**
 * Every chunk a snapshot needs, each once: the manifest's own chunks (its root chunks) first, in order,
 * then the chunks of its files in manifest order.
 */
export async function collectChunkIds(rootChunks: readonly string[], entries: AsyncIterable<ManifestEntry>): Promise<string[]> {
  const seen = new Set<string>();
  const out: string[] = [];
  const add = (id: string) => {
    if (seen.has(id)) return;
    seen.add(id);
    out.push(id);
  };
  for (const id of rootChunks) add(id);
  for await (const e of entries) for (const c of e.chunks ?? []) add(c.id);
  return out;
}

/**
 * The order snapshots migrate in: by priority class (alarm, high, normal, bulk), oldest first within a
 * class, so an alarm log never waits behind a backlog of bulk logs. Ties in time go by id (deterministic).
 */
export function migrationOrder<S extends { id: string; timeMs: number }>(all: readonly S[], classOf: (s: S) => PriorityClass): S[] {
  const rank = (s: S) => priorityClasses.indexOf(classOf(s));
  return all
    .map((s) => ({ s, rank: rank(s) }))
    .sort((a, b) => a.rank - b.rank || a.s.timeMs - b.s.timeMs || (a.s.id < b.s.id ? -1 : a.s.id > b.s.id ? 1 : 0))
    .map((x) => x.s);
}

/** The snapshots of `all` that have no receipt yet, in the order of `all` (see migrationOrder). */
export function pendingSnapshots<S extends { id: string }>(all: readonly S[], migrated: ReadonlySet<string>): S[] {
  return all.filter((s) => !migrated.has(s.id));
}

/** MB (10^6 bytes) per second, 0 for an instant run. */
export function megabytesPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : 0;
}

/**
 * A snapshot of a list (oldest first) by id, unique id prefix, or `latest`, as the catalog's
 * findSnapshot does for local ones. Throws SNAPSHOT_NOT_FOUND / SNAPSHOT_AMBIGUOUS.
 */
export function findByRef<S extends { id: string }>(list: readonly S[], ref: string, where: string): S {
  const found = ref === 'latest' ? list.slice(-1) : /^[0-9a-f]{1,64}$/.test(ref) ? list.filter((s) => s.id.startsWith(ref)).slice(0, 2) : [];
  if (found.length === 0) {
    throw new BaksaError('SNAPSHOT_NOT_FOUND', ref === 'latest' ? `no snapshot ${where} yet` : `no snapshot ${where} matches "${ref}"`, {
      hint: ref === 'latest' ? 'migrate one first: 2baksa migrate --state DIR --server URL …' : 'list them with `2baksa snapshots --from cloud …`',
      exitCode: ExitCode.usage,
    });
  }
  if (found.length > 1) {
    throw new BaksaError('SNAPSHOT_AMBIGUOUS', `more than one snapshot ${where} starts with "${ref}"`, {
      hint: 'give more characters of the id',
      exitCode: ExitCode.usage,
    });
  }
  return found[0]!;
}
