/**
 * At most `limit` async tasks at once (uploads and downloads to the cloud: each holds a TLS connection
 * and a chunk in memory). Tasks start in the order they were handed in.
 */
export class Limiter {
  readonly limit: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`invariant violated: limiter of ${limit}`);
    this.limit = limit;
  }

  get active(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes on: `running` stays
      else this.running--;
    }
  }
}
