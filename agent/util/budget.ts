/**
 * A byte budget: bounds the bytes in flight in a pipeline (the profile's memoryBudgetBytes).
 * `acquire(n)` waits until n more bytes fit; a single request larger than the whole budget is let
 * through alone (when nothing else is in flight), so a big chunk cannot deadlock the pipeline.
 */
export class ByteBudget {
  readonly limitBytes: number;
  private usedBytes = 0;
  private peak = 0;
  private readonly waiters: Array<{ n: number; wake: () => void }> = [];

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  get inFlightBytes(): number {
    return this.usedBytes;
  }

  /** The most bytes ever held at once. */
  get peakBytes(): number {
    return this.peak;
  }

  acquire(n: number): Promise<void> {
    if (this.waiters.length === 0 && this.fits(n)) {
      this.take(n);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ n, wake: resolve }));
  }

  release(n: number): void {
    this.usedBytes -= n;
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.n)) {
      const w = this.waiters.shift()!;
      this.take(w.n);
      w.wake();
    }
  }

  private fits(n: number): boolean {
    return this.usedBytes === 0 || this.usedBytes + n <= this.limitBytes;
  }

  private take(n: number): void {
    this.usedBytes += n;
    if (this.usedBytes > this.peak) this.peak = this.usedBytes;
  }
}
