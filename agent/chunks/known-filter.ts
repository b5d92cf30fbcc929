/**
 * A Bloom filter of the chunk ids the catalog holds, loaded once per backup, so the dedup check of a new
 * chunk needs no database round trip (those queue behind compression and fsyncs on the libuv pool). A
 * "maybe" still asks the catalog, so a false positive costs one query and never a wrong answer.
 * Chunk ids are HMAC outputs, uniformly random: the bit positions are taken straight from their bytes.
 * 16 bits per id and 4 probes: under 0.3 % false positives; 1 M chunks cost 2 MiB.
 */
const PROBES = 4;
const BITS_PER_ID = 16;
const MIN_BITS = 1 << 20;

export class KnownChunkFilter {
  private readonly bits: Uint8Array;
  private readonly mask: number;
  count = 0;

  constructor(expectedIds: number) {
    let size = MIN_BITS;
    while (size < expectedIds * BITS_PER_ID && size < 2 ** 31) size *= 2;
    this.bits = new Uint8Array(size >>> 3);
    this.mask = size - 1;
  }

  private positions(idHex: string): number[] {
    const out: number[] = [];
    for (let p = 0; p < PROBES; p++) out.push(Number.parseInt(idHex.slice(p * 8, p * 8 + 8), 16) & this.mask);
    return out;
  }

  add(idHex: string): void {
    for (const bit of this.positions(idHex)) this.bits[bit >>> 3]! |= 1 << (bit & 7);
    this.count++;
  }

  /** False: certainly not in the catalog. True: maybe (ask the catalog). */
  mayHave(idHex: string): boolean {
    for (const bit of this.positions(idHex)) if ((this.bits[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
    return true;
  }
}
