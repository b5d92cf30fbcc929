/**
 * The one error type that leaves the protocol decoder. Bad bytes from a peer are an operating error, never a
 * crash: every rejection is a `ProtocolError` with a stable code that a shell can count per peer and log.
 *
 * `peerFault` follows Lodestar's REJECT / IGNORE split: true when the bytes themselves are bad (count it
 * against the sender), false when a well-formed message is merely late, repeated or from a key we do not
 * know yet (drop it quietly).
 */
import { BaksaError, ExitCode } from '../errors.ts';

export const ProtocolErrorCode = {
  /** The input is longer than `DecodeLimits.inputBytesMax`, or a length exceeds a `max*Length` limit. */
  OVERSIZE: 'OVERSIZE',
  /** Not valid MessagePack: truncated, an unknown type byte, a non-string or `__proto__` map key. */
  MALFORMED: 'MALFORMED',
  /** Valid MessagePack followed by extra bytes. */
  TRAILING_BYTES: 'TRAILING_BYTES',
  /** Containers nested deeper than `DecodeLimits.depthMax`. */
  TOO_DEEP: 'TOO_DEEP',
  /** A field is missing or has the wrong type or size; `field` names it. */
  SCHEMA: 'SCHEMA',
  /** The message type is not registered. */
  UNKNOWN_TYPE: 'UNKNOWN_TYPE',
  /** No public key is known for the sender. */
  UNKNOWN_SENDER: 'UNKNOWN_SENDER',
  /** The signature does not verify over the payload bytes. */
  BAD_SIGNATURE: 'BAD_SIGNATURE',
  /** The sender's timestamp is outside the accepted window. */
  STALE: 'STALE',
  /** The message id was already seen from this sender. */
  REPLAY: 'REPLAY',
} as const;
export type ProtocolErrorCode = (typeof ProtocolErrorCode)[keyof typeof ProtocolErrorCode];

const NOT_PEER_FAULT: ReadonlySet<ProtocolErrorCode> = new Set(['STALE', 'REPLAY', 'UNKNOWN_SENDER']);

export class ProtocolError extends BaksaError {
  declare readonly code: ProtocolErrorCode;
  /** Dotted path of the offending field for SCHEMA errors (`body.shards.3.hash`), else undefined. */
  readonly field: string | undefined;
  /** True when the bytes are bad in themselves (reject and count against the peer), false to just drop. */
  readonly peerFault: boolean;

  constructor(code: ProtocolErrorCode, message: string, field?: string) {
    super(code, message, {
      exitCode: ExitCode.data,
      hint: 'the peer sent a message this node cannot accept; it was dropped',
      details: field === undefined ? undefined : { field },
    });
    this.name = 'ProtocolError';
    this.field = field;
    this.peerFault = !NOT_PEER_FAULT.has(code);
  }
}

export function protocolError(code: ProtocolErrorCode, message: string, field?: string): ProtocolError {
  return new ProtocolError(code, message, field);
}
