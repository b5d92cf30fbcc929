/**
 * Two connected in-memory Duplex ends: what one writes the other reads, the same Buffer objects (no
 * copy), with backpressure (a write waits until the other end is read), and ending or destroying one
 * ends the other. The gateway that embeds the site broker joins it through a pair instead of a TCP
 * (and TLS) connection to itself (site-broker.ts `connectLocal`). Node 22 has `duplexPair`; Node 20,
 * which the agent runs on, does not.
 */
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  other!: PairEnd;
  /** The other end's last write, held until this end is read again (backpressure). */
  private held: ((error?: Error | null) => void) | undefined;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.other.destroyed) return callback(new Error('the other end of the pair is closed'));
    if (this.other.push(chunk)) callback();
    else this.other.held = callback;
  }

  override _read(): void {
    const held = this.held;
    this.held = undefined;
    held?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const held = this.held;
    this.held = undefined;
    held?.(new Error('the other end of the pair is closed'));
    if (!this.other.destroyed) this.other.destroy();
    callback(error);
  }
}

export function localPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.other = b;
  b.other = a;
  return [a, b];
}
