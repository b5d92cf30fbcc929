/**
 * A binary min-heap of (deadline, key, version) for the heartbeat tracker. Entries are never removed
 * in place: a newer deadline for the same key pushes a new entry with a higher version, and the
 * tracker skips entries whose version is stale when they reach the top (lazy deletion). `compact`
 * rebuilds the heap when stale entries outnumber live ones, so memory stays O(accounts).
 */

export interface DeadlineEntry {
  deadlineMs: number;
  key: string;
  version: number;
}

export class DeadlineHeap {
  private items: DeadlineEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  push(entry: DeadlineEntry): void {
    const a = this.items;
    a.push(entry);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.deadlineMs <= a[i]!.deadlineMs) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }

  peek(): DeadlineEntry | undefined {
    return this.items[0];
  }

  pop(): DeadlineEntry | undefined {
    const a = this.items;
    const top = a[0];
    if (top === undefined) return undefined;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.deadlineMs < a[m]!.deadlineMs) m = l;
        if (r < a.length && a[r]!.deadlineMs < a[m]!.deadlineMs) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }

  /** Keeps only the entries `live` accepts, and restores the heap order. */
  compact(live: (e: DeadlineEntry) => boolean): void {
    const kept = this.items.filter(live);
    this.items = [];
    for (const e of kept.sort((x, y) => x.deadlineMs - y.deadlineMs)) this.items.push(e);
  }
}
