/**
 * How far V8 lets the old generation grow past what its last full collection kept, for the
 * long-running processes: an aggregator node (`aggregator run`, and the demo that hosts nodes), and an
 * agent daemon whose profile asks for it (`runtime.heapGrowingPercent`).
 *
 * Why. On these processes' small heaps (about 30 MB live) Node 20's V8 starts incremental marking
 * again right after each full collection, with plenty of room left below its limit (30 MB used, limit
 * 54 MB, 24 MB to spare, seen with --trace-incremental-marking), and every marking ends in a
 * mark-compact that frees almost nothing (31 -> 31 MB). The node taking a migration's uploads ran
 * 90-98 of them in one migration bench, ten a second while chunks arrived, and spent a third of its CPU
 * on them (9.5-10.4 s of CPU; with incremental marking off: 7 full collections and 6.4 s). A growing
 * factor of 4 (`--heap-growing-percent=300`) moves the limit far enough that marking starts when the
 * heap has grown: 15 full collections and 6.7 s of CPU for that node, and 20-31 -> 4-6 full collections
 * per edge daemon per 128 MB backed up, 12 % less CPU (each in the same bench, alternating).
 *
 * The cost is memory: garbage may reach three times the live heap before a full collection takes it
 * (observed peaks 40-57 MB instead of 40-44). Data-center nodes and gateways with gigabytes have it; a
 * 512 MB gateway's profile (small-arm) leaves V8's own heuristic in place, and so do the one-shot
 * commands: a backup's heap stays near 10 MB, where V8's minimum growing step, not the factor, decides.
 *
 * The flag is read whenever V8 computes a new limit, so setting it at start-up (before the heap has
 * grown) is enough; 0 restores V8's dynamic factor.
 */
import { setFlagsFromString } from 'node:v8';

/** The growing percent the long-running server processes use (a factor of 4). */
export const SERVER_HEAP_GROWING_PERCENT = 300;

/** Sets V8's old-generation growing factor to 1 + percent / 100 for this process (0: V8's own, dynamic). */
export function setHeapGrowingPercent(percent: number): void {
  if (!Number.isSafeInteger(percent) || percent < 0 || percent > 1000) {
    throw new RangeError(`heap growing percent must be a whole number from 0 to 1000, got ${percent}`);
  }
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
