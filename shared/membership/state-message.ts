/**
 * The node state message (DESIGN §4, Sparkplug B 3.0 NBIRTH/NDEATH with bdSeq): the retained payload of
 * `topics.nodeState(site, id)`. A birth is `{online: true, bdSeq, pubkey, capacity?, version?}`; the Last
 * Will is `{online: false, bdSeq, pubkey?}` with the same bdSeq; an orderly shutdown publishes
 * `{online: false, bdSeq, orderly: true, pubkey?}`. (Deaths carry the key too, so a node that joins after
 * the birth is gone can still pin it on first use.) Every one is a signed envelope of type `NodeState`, so a node
 * can only speak for itself: the tracker drops a state whose signer is not the node of the topic.
 *
 * The will is sealed when the session starts and may fire days later, so state messages are checked with
 * `verifyEnvelope` (signature, no freshness window). Ordering and replay are handled by bdSeq instead.
 *
 * Keys: `keyOf` gives a node's registered key. Without one (trust on first use), a state message may verify
 * against the key it carries, and the caller pins that key for later messages (`opened.pinKey`).
 */
import { createHash, type KeyObject } from 'node:crypto';
import { PUBLIC_KEY_BYTES } from '../crypto/sign.ts';
import {
  ProtocolError, bool, bytes, decodeUntrusted, defaultRegistry, object, optional, parseWith, registerMessageType, sealEnvelope,
  str, uint, verifyEnvelope, type DecodeLimits, type Schema,
} from '../protocol/index.ts';

export interface NodeCapacity {
  /** Bytes this node offers for shards. */
  bytesTotal: number;
  bytesFree: number;
}

export interface NodeStateBody {
  online: boolean;
  /** Birth/death sequence: increases with every MQTT session of the node. */
  bdSeq: number;
  /** Only on a death: the node shut down on purpose (offline, not dead). */
  orderly?: boolean;
  /** The node's Ed25519 public key; required on a birth, optional on a death. */
  pubkey?: Uint8Array;
  capacity?: NodeCapacity;
  /** Agent version, for people. */
  version?: string;
  /**
   * SHA-256 of the site and the validator set this node was set up with (`validatorSetDigest`). Members
   * set up with other member lists are not one cluster; a node counts a peer whose birth carries another
   * digest as not a member. Older births carry none and are taken as they are.
   */
  validators?: Uint8Array;
}

declare module '../protocol/messages.ts' {
  interface MessageBodies {
    NodeState: NodeStateBody;
  }
}

export const NODE_STATE_TYPE = 'NodeState';
export const VALIDATOR_SET_DIGEST_BYTES = 32;

/** What a birth's `validators` holds: SHA-256 over the site and the sorted, distinct validator ids. */
export function validatorSetDigest(site: string, validators: readonly string[]): Uint8Array {
  const ids = [...new Set(validators)].sort();
  return new Uint8Array(createHash('sha256').update(`2baksa validator set v1\n${site}\n${ids.join('\n')}`).digest());
}
/** The largest state payload anyone needs; bigger ones are dropped before decoding. */
export const NODE_STATE_BYTES_MAX = 4096;

export const nodeStateSchema: Schema<NodeStateBody> = object(
  {
    online: bool(),
    bdSeq: uint(),
    orderly: optional(bool()),
    pubkey: optional(bytes({ len: PUBLIC_KEY_BYTES })),
    capacity: optional(object({ bytesTotal: uint(), bytesFree: uint() })),
    version: optional(str({ max: 64, forbidden: /[\u0000-\u001f\u007f]/ })),
    validators: optional(bytes({ len: VALIDATOR_SET_DIGEST_BYTES })),
  },
  {
    check: (s) =>
      s.online && !s.pubkey ? ['pubkey', 'a public key on a birth'] : s.online && s.orderly ? ['orderly', 'no orderly flag on a birth'] : undefined,
  },
);

if (!defaultRegistry.has(NODE_STATE_TYPE)) registerMessageType(NODE_STATE_TYPE, nodeStateSchema);

const stateLimits: DecodeLimits = Object.freeze({
  inputBytesMax: NODE_STATE_BYTES_MAX,
  maxStrLength: 1024,
  maxBinLength: 1024,
  maxArrayLength: 16,
  maxMapLength: 32,
  maxExtLength: 0,
  depthMax: 4,
});

/** Seals a state message of `nodeId` (signed by `privateKey`, timestamp `nowMs`). */
export function sealNodeState(nodeId: string, body: NodeStateBody, privateKey: KeyObject, nowMs: number): Uint8Array {
  return sealEnvelope({ type: NODE_STATE_TYPE, from: nodeId, ts: nowMs, body }, { privateKey });
}

export interface OpenedNodeState {
  /** The authenticated sender. */
  signer: string;
  body: NodeStateBody;
  /** Set when the message verified only against the key its own birth carried (trust on first use). */
  pinKey?: Uint8Array;
}

export type NodeStateReading = { ok: true; state: OpenedNodeState } | { ok: false; code: string; reason: string };

export interface OpenNodeStateOptions {
  /** The key registered or pinned for a node. */
  keyOf(nodeId: string): Uint8Array | undefined;
  /** Accept a birth signed by the key it carries when no key is known for its sender. */
  trustOnFirstUse: boolean;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** The key a birth carries, read without verifying anything (for trust on first use). */
function carriedKey(payload: Uint8Array): { from: string; pubkey: Uint8Array } | undefined {
  try {
    const outer = decodeUntrusted(payload, stateLimits) as { p?: unknown };
    if (!(outer.p instanceof Uint8Array)) return undefined;
    const inner = decodeUntrusted(outer.p, stateLimits) as { from?: unknown; type?: unknown; body?: { pubkey?: unknown } };
    if (inner.type !== NODE_STATE_TYPE || typeof inner.from !== 'string' || !(inner.body?.pubkey instanceof Uint8Array)) return undefined;
    return { from: inner.from, pubkey: inner.body.pubkey };
  } catch {
    return undefined;
  }
}

/** Decodes and authenticates a state payload. Never throws on bad bytes. */
export function openNodeState(payload: Uint8Array, options: OpenNodeStateOptions): NodeStateReading {
  if (payload.length > NODE_STATE_BYTES_MAX) return { ok: false, code: 'OVERSIZE', reason: `${payload.length} bytes (at most ${NODE_STATE_BYTES_MAX})` };
  try {
    let keyOf = options.keyOf;
    let pinKey: Uint8Array | undefined;
    if (options.trustOnFirstUse) {
      const carried = carriedKey(payload);
      if (carried && options.keyOf(carried.from) === undefined) {
        pinKey = carried.pubkey;
        keyOf = (from) => (from === carried.from ? carried.pubkey : options.keyOf(from));
      }
    }
    const { message } = verifyEnvelope(payload, { keyOf, limits: stateLimits });
    if (message.type !== NODE_STATE_TYPE) return { ok: false, code: 'WRONG_TYPE', reason: `a ${message.type} message on a state topic` };
    const body = parseWith(nodeStateSchema, message.body, 'body');
    const known = keyOf(message.from);
    if (body.pubkey && known && !bytesEqual(body.pubkey, known)) {
      return { ok: false, code: 'KEY_MISMATCH', reason: `the birth of ${message.from} announces a key other than the one known for it` };
    }
    return { ok: true, state: { signer: message.from, body, ...(pinKey ? { pinKey } : {}) } };
  } catch (error) {
    if (error instanceof ProtocolError) return { ok: false, code: error.code, reason: error.message };
    throw error;
  }
}
