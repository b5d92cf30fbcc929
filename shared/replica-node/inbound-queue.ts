/**
 * The replica's inbound frames: a FIFO of (sender, frame) with a head index, so taking from the front
 * is O(1), and a byte count for the bound the node enforces.
 */
export class InboundQueue {
  private from: string[] = [];
  private frames: Uint8Array[] = [];
  private head = 0;
  bytes = 0;

  get length(): number {
    return this.frames.length - this.head;
  }

  push(from: string, frame: Uint8Array): void {
    this.from.push(from);
    this.frames.push(frame);
    this.bytes += frame.length;
  }

  shift(): [string, Uint8Array] | undefined {
    if (this.head >= this.frames.length) return undefined;
    const item: [string, Uint8Array] = [this.from[this.head]!, this.frames[this.head]!];
    this.head += 1;
    this.bytes -= item[1].length;
    if (this.head === this.frames.length) {
      this.from = [];
      this.frames = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.frames.length) {
      this.from = this.from.slice(this.head);
      this.frames = this.frames.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
