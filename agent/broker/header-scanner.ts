/**
 * A pure scanner of MQTT 3.1.1 fixed headers (§2.2) for the bytes a client sends, so the broker can cap
 * packet sizes before anything parses or buffers a body. aedes 1.x has no size cap of its own: its parser
 * would happily collect a CONNECT that declares 256 MB.
 *
 * The scanner reads each packet's first byte (type and flags) and the remaining-length varint, then skips
 * the body by counting, never copying it. It refuses, at the first offending byte:
 *   - a first packet that is not CONNECT                                  first-not-connect
 *   - a type a client never sends (0, CONNACK, SUBACK, …, 15 = MQTT 5 AUTH) unexpected-type
 *   - reserved flag bits that are wrong for the type (§2.2.2)             bad-flags
 *   - a remaining length longer than four bytes (§2.2.3)                  bad-length
 *   - a declared remaining length above `limitBytes`                      too-large
 * `limitBytes` is a field the caller raises once the client has authenticated.
 */

export type ScanRefusalReason = 'first-not-connect' | 'unexpected-type' | 'bad-flags' | 'bad-length' | 'too-large';

export interface ScanRefusal {
  reason: ScanRefusalReason;
  /** The packet type (first byte >> 4) of the refused packet. */
  packetType: number;
  /** The declared remaining length, for `too-large`. */
  declaredBytes?: number;
  /** The limit in force, for `too-large`. */
  limitBytes?: number;
}

/** MQTT 3.1.1 control packet types a client may send. */
export const PacketType = {
  CONNECT: 1,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  UNSUBSCRIBE: 10,
  PINGREQ: 12,
  DISCONNECT: 14,
} as const;

const CLIENT_TYPES = new Set<number>(Object.values(PacketType));
/** Types whose flags must be 0b0010 (§2.2.2); PUBLISH flags are DUP/QoS/RETAIN; the rest must be 0. */
const FLAGS_0010 = new Set<number>([PacketType.PUBREL, PacketType.SUBSCRIBE, PacketType.UNSUBSCRIBE]);
const LENGTH_BYTES_MAX = 4;

/** Why `firstByte` cannot start a client packet, or undefined when it can. */
export function firstByteProblem(firstByte: number, isFirstPacket: boolean): ScanRefusalReason | undefined {
  const type = firstByte >> 4;
  const flags = firstByte & 0x0f;
  if (isFirstPacket && type !== PacketType.CONNECT) return 'first-not-connect';
  if (!CLIENT_TYPES.has(type)) return 'unexpected-type';
  if (type === PacketType.PUBLISH) return ((flags >> 1) & 3) === 3 ? 'bad-flags' : undefined;
  if (FLAGS_0010.has(type)) return flags === 0b0010 ? undefined : 'bad-flags';
  return flags === 0 ? undefined : 'bad-flags';
}

export class FixedHeaderScanner {
  /** The largest remaining length accepted for the next packet. */
  limitBytes: number;
  /** Complete fixed headers read so far. */
  packets = 0;
  /** Bytes of the last chunk `feed` went through. */
  consumed = 0;
  private state: 'type' | 'length' | 'body' = 'type';
  private packetType = 0;
  private length = 0;
  private lengthBytes = 0;
  private bodyLeft = 0;
  private refused: ScanRefusal | undefined;

  constructor(limitBytes: number) {
    this.limitBytes = limitBytes;
  }

  /**
   * Scans the next bytes of the stream; returns the refusal once a packet breaks the rules (and ever after).
   * With `stopAfterPacket`, scanning stops where a packet ends; `consumed` tells how far it got.
   */
  feed(chunk: Uint8Array, stopAfterPacket = false): ScanRefusal | undefined {
    this.consumed = 0;
    if (this.refused) return this.refused;
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) {
          this.state = 'type';
          if (stopAfterPacket) break;
        }
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        const problem = firstByteProblem(byte, this.packets === 0);
        this.packetType = byte >> 4;
        if (problem) return this.refuse({ reason: problem, packetType: this.packetType });
        this.state = 'length';
        this.length = 0;
        this.lengthBytes = 0;
        continue;
      }
      // state 'length': little-endian base-128 digits, at most four (§2.2.3)
      this.length += (byte & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === LENGTH_BYTES_MAX) return this.refuse({ reason: 'bad-length', packetType: this.packetType });
        continue;
      }
      if (this.length > this.limitBytes) {
        return this.refuse({ reason: 'too-large', packetType: this.packetType, declaredBytes: this.length, limitBytes: this.limitBytes });
      }
      this.packets++;
      this.bodyLeft = this.length;
      this.state = this.length === 0 ? 'type' : 'body';
      if (stopAfterPacket && this.length === 0) break;
    }
    this.consumed = i;
    return undefined;
  }

  /** True between packets (no header or body partly read). */
  get atBoundary(): boolean {
    return this.state === 'type';
  }

  private refuse(refusal: ScanRefusal): ScanRefusal {
    this.refused = refusal;
    return refusal;
  }
}
