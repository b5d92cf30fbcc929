/**
 * A small FIFO reader/writer lock for the one sqlite connection.
 *
 * Plain statements take the shared side, transactions the exclusive side. A statement issued while a
 * transaction is open would otherwise run inside it (there is one connection), and vanish if that
 * transaction rolls back. Waiters are served in arrival order, so a stream of statements cannot
 * starve a transaction and the reverse.
 */

interface Waiter {
  exclusive: boolean;
  wake: () => void;
}

export class SharedExclusiveLock {
  private shared = 0;
  private exclusive = false;
  private readonly waiters: Waiter[] = [];

  /** Runs `fn` holding the lock in the given mode and releases it however `fn` ends. */
  async with<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await this.acquire(exclusive);
    try {
      return await fn();
    } finally {
      this.release(exclusive);
    }
  }

  /** True when nothing holds or waits for the lock. */
  get idle(): boolean {
    return this.shared === 0 && !this.exclusive && this.waiters.length === 0;
  }

  private canTake(exclusive: boolean): boolean {
    return exclusive ? !this.exclusive && this.shared === 0 : !this.exclusive;
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiters.length === 0 && this.canTake(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ exclusive, wake: resolve }));
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusive = true;
    else this.shared++;
  }

  private release(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.shared--;
    while (this.waiters.length > 0) {
      const next = this.waiters[0]!;
      if (!this.canTake(next.exclusive)) break;
      this.waiters.shift();
      this.take(next.exclusive);
      next.wake();
      if (next.exclusive) break;
    }
  }
}
