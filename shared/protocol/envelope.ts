/**
 * The envelope: every payload on the wire is one MessagePack map `{p, s}`. `p` is the canonical MessagePack
 * of the message `{v, type, from, to?, id, ts, body}` and `s` is the sender's Ed25519 signature over exactly
 * those bytes, so a receiver verifies the bytes it got and nothing is ever re-encoded to check a signature.
 * A payload over PREHASH_ABOVE bytes (a frame carrying shards) is signed over a context string and its
 * SHA-256 instead (`envelopeSigningBytes`): Ed25519 hashes its message with SHA-512 twice to sign and
 * once to verify, at half SHA-256's speed on CPUs with SHA extensions, so a 1 MiB frame cost 3.4 ms to
 * sign and 2.2 ms to verify, and costs about 1 ms each now. Small payloads (heartbeats, births, consensus
 * messages) are signed as they always were.
 *
 * Opening runs the cheap checks first and remembers an id only once everything else passed:
 *   1. outer bytes: size, MessagePack structure, limits, depth     OVERSIZE MALFORMED TRAILING_BYTES TOO_DEEP
 *   2. outer map `{p: bin, s: 64-byte bin}`, then `p` the same way  SCHEMA (+ the codes of 1)
 *   3. header fields, then the type                                 SCHEMA UNKNOWN_TYPE
 *   4. body against the type's schema                               SCHEMA
 *   5. sender key, signature over `p`                               UNKNOWN_SENDER BAD_SIGNATURE
 *   6. freshness (only in openEnvelope)                             STALE REPLAY
 * Only ProtocolError escapes (a throwing `keyOf` callback is the caller's own bug and propagates).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { sign, verify } from '../crypto/sign.ts';
import { decodeUntrusted, defaultDecodeLimits, encodeCanonical, type DecodeLimits } from './codec.ts';
import { MESSAGE_ID_BYTES, newMessageId } from './digest.ts';
import { ProtocolError } from './errors.ts';
import { CONSENSUS_BODY_BYTES_MAX, nodeIdSchema, signature64 } from './messages.ts';
import { PROTOCOL_VERSION, defaultRegistry, type Message, type MessageRegistry, type MessageType } from './registry.ts';
import { bytes, literal, object, optional, parseWith, str, uint } from './schema.ts';
import type { ReplayGuard } from './replay.ts';

export interface Signer {
  readonly privateKey: KeyObject;
}

/** What a sender fills in; `v` is added and `id` drawn at random when absent. */
export type OutgoingMessage<K extends MessageType = MessageType> = {
  [T in K]: Omit<Message<T>, 'v' | 'id'> & { id?: Uint8Array };
}[K];

export interface VerifyOptions {
  /** The sender's raw 32-byte Ed25519 public key, or undefined when the sender is unknown. */
  keyOf(from: string): Uint8Array | undefined;
  limits?: DecodeLimits;
  registry?: MessageRegistry;
}

export interface OpenOptions extends VerifyOptions {
  /** Our clock, ms since the epoch. */
  now: number;
  /** Remembers ids; its window replaces `skewMsMax`. Without one, only the timestamp is checked. */
  replay?: ReplayGuard;
  /** Accepted clock distance when no replay guard is given. */
  skewMsMax?: number;
}

export const defaultSkewMsMax = 5 * 60_000;

export interface OpenedEnvelope<K extends MessageType = MessageType> {
  message: Message<K>;
  /** The signed payload bytes (a view into the input), kept for certificates and forwarding. */
  payload: Uint8Array;
  signature: Uint8Array;
}

/** Payloads longer than this are signed over their SHA-256 (module comment). */
export const PREHASH_ABOVE = 4096;
const PREHASH_CONTEXT = new TextEncoder().encode('2baksa envelope sha256 v1\0');

/** The bytes an envelope's signature covers: the payload itself, or for a long one a context and its SHA-256. */
export function envelopeSigningBytes(payload: Uint8Array): Uint8Array {
  if (payload.length <= PREHASH_ABOVE) return payload;
  const out = new Uint8Array(PREHASH_CONTEXT.length + 32);
  out.set(PREHASH_CONTEXT);
  out.set(createHash('sha256').update(payload).digest(), PREHASH_CONTEXT.length);
  return out;
}

const outerSchema = object({ p: bytes({ min: 1 }), s: signature64 });
const headerSchema = object({
  v: literal(PROTOCOL_VERSION),
  type: str({ min: 1, max: 64 }),
  from: nodeIdSchema,
  to: optional(nodeIdSchema),
  id: bytes({ len: MESSAGE_ID_BYTES }),
  ts: uint(),
});

/** Signs a message and returns the envelope bytes. Throws ProtocolError if the message breaks its schema. */
export function sealEnvelope<K extends MessageType>(
  message: OutgoingMessage<K>,
  signer: Signer,
  registry: MessageRegistry = defaultRegistry,
): Uint8Array {
  const header = parseWith(headerSchema, {
    v: PROTOCOL_VERSION,
    type: message.type,
    from: message.from,
    to: message.to,
    id: message.id ?? newMessageId(),
    ts: message.ts,
  });
  const schema = registry.schemaOf(header.type);
  if (!schema) throw new ProtocolError('UNKNOWN_TYPE', `message type ${header.type} is not registered`);
  const body = parseWith(schema, message.body, 'body');
  const payload = encodeCanonical({ ...header, body });
  return encodeCanonical({ p: payload, s: sign(signer.privateKey, envelopeSigningBytes(payload)) });
}

/**
 * `sealEnvelope` of a `Consensus` message whose body is the concatenation of `parts`, byte for byte, with
 * one copy of the body instead of four: the body is written straight into the envelope's final buffer
 * (a frame of shards crossed the encoder twice and two concatenations before). The payload's keys sort
 * `body` first, so it is the canonical map `{body, …header}` assembled by hand; the tests hold it to
 * sealEnvelope's bytes.
 */
export function sealConsensusParts(
  message: { from: string; to?: string; ts: number; id?: Uint8Array },
  parts: readonly Uint8Array[],
  signer: Signer,
): Uint8Array {
  const header = parseWith(headerSchema, { v: PROTOCOL_VERSION, type: 'Consensus', from: message.from, to: message.to, id: message.id ?? newMessageId(), ts: message.ts });
  let bodyBytes = 0;
  for (const p of parts) bodyBytes += p.length;
  if (bodyBytes > CONSENSUS_BODY_BYTES_MAX) throw new ProtocolError('SCHEMA', `body: at most ${CONSENSUS_BODY_BYTES_MAX} bytes, got ${bodyBytes}`, 'body');
  const rest = encodeCanonical(header); // a fixmap of the header fields, all sorting after `body`
  const bodyHead = binHeader(bodyBytes);
  const payloadBytes = 1 + BODY_KEY.length + bodyHead.length + bodyBytes + rest.length - 1;
  const payloadHead = binHeader(payloadBytes);
  const out = new Uint8Array(1 + P_KEY.length + payloadHead.length + payloadBytes + S_KEY.length + 2 + 64);
  let at = 0;
  const put = (b: ArrayLike<number>) => {
    out.set(b, at);
    at += b.length;
  };
  put([0x82]);
  put(P_KEY);
  put(payloadHead);
  const payloadAt = at;
  put([rest[0]! + 1]); // the header's fixmap, one entry more
  put(BODY_KEY);
  put(bodyHead);
  for (const p of parts) put(p);
  put(rest.subarray(1));
  const payload = out.subarray(payloadAt, at);
  put(S_KEY);
  put([0xc4, 64]);
  put(sign(signer.privateKey, envelopeSigningBytes(payload)));
  return out;
}

const P_KEY = [0xa1, 0x70];
const S_KEY = [0xa1, 0x73];
const BODY_KEY = [0xa4, 0x62, 0x6f, 0x64, 0x79];

function binHeader(n: number): number[] {
  if (n < 0x100) return [0xc4, n];
  if (n < 0x10000) return [0xc5, n >>> 8, n & 0xff];
  return [0xc6, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

export interface DecodeEnvelopeOptions {
  limits?: DecodeLimits;
  registry?: MessageRegistry;
}

/**
 * Steps 1–4 only: bytes, header, type and body, with their codes, and no signature check. For callers
 * that verify signatures elsewhere in batches (heartbeat ingestion); everyone else uses verifyEnvelope.
 */
export function decodeEnvelope(bytesIn: Uint8Array, options: DecodeEnvelopeOptions = {}): OpenedEnvelope {
  const limits = options.limits ?? defaultDecodeLimits;
  const registry = options.registry ?? defaultRegistry;
  const outer = parseWith(outerSchema, decodeUntrusted(bytesIn, limits), 'envelope');
  const raw = decodeUntrusted(outer.p, limits);
  const header = parseWith(headerSchema, raw);
  const schema = registry.schemaOf(header.type);
  if (!schema) throw new ProtocolError('UNKNOWN_TYPE', `message type ${JSON.stringify(header.type)} is not registered`);
  const body = parseWith(schema, (raw as { body?: unknown }).body, 'body');
  return { message: { ...header, body } as Message, payload: outer.p, signature: outer.s };
}

/** Decodes and authenticates an envelope without freshness checks (for stored certificates). */
export function verifyEnvelope(bytesIn: Uint8Array, options: VerifyOptions): OpenedEnvelope {
  const opened = decodeEnvelope(bytesIn, options);
  const { from } = opened.message;
  const key = options.keyOf(from);
  if (!key) throw new ProtocolError('UNKNOWN_SENDER', `no public key is known for sender ${JSON.stringify(from)}`);
  if (!verify(key, envelopeSigningBytes(opened.payload), opened.signature)) {
    throw new ProtocolError('BAD_SIGNATURE', `the signature of ${JSON.stringify(from)} does not verify`);
  }
  return opened;
}

/** Decodes, authenticates and checks freshness of one envelope. Throws only ProtocolError. */
export function openEnvelope(bytesIn: Uint8Array, options: OpenOptions): OpenedEnvelope {
  const opened = verifyEnvelope(bytesIn, options);
  const { from, id, ts } = opened.message;
  if (options.replay) {
    options.replay.admit(from, id, ts, options.now);
  } else {
    const skew = options.skewMsMax ?? defaultSkewMsMax;
    if (!(Math.abs(options.now - ts) <= skew)) {
      throw new ProtocolError('STALE', `timestamp ${ts} is ${options.now - ts} ms from our clock (window ±${skew} ms)`);
    }
  }
  return opened;
}

/** Narrows an opened message to one type. */
export function isMessage<K extends MessageType>(message: Message, type: K): message is Extract<Message, { type: K }> {
  return message.type === type;
}
