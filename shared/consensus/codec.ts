/**
 * MessagePack codec for consensus messages and persist records, for transports and disks.
 *
 * A message travels as an array `[tag, field, field, ...]` in a fixed field order (schemas below), so
 * the bytes are compact and decoding checks every position. Decoding untrusted bytes sets every
 * MessagePack length limit, checks the schema (types, integer ranges, byte lengths, array bounds) and
 * never throws: it returns `{ ok: false, error }` with a stable code. Signatures are not checked here
 * (the replica does that); shape is.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import { DIGEST_BYTES } from './crypto.ts';
import type { Message, MessageType, Reply } from './messages.ts';
import { elideRepeatedBatches, restoreRepeatedBatches } from './batch-references.ts';
import type { PersistRecord } from './persistence.ts';

export interface CodecOptions {
  messageBytesMax: number;
  opBytesMax: number;
  resultBytesMax: number;
  snapshotBytesMax: number;
  clientIdBytesMax: number;
  signatureBytesMax: number;
  batchRequestsMax: number;
  /** Certificates in a P set, pre-prepares in an O set, commit certificates in a transfer. */
  certificatesMax: number;
  /** Votes in one certificate, view-changes in a new-view (bounded by the replica count). */
  votesMax: number;
}

export const defaultCodecOptions: CodecOptions = {
  messageBytesMax: 64 * 1024 * 1024,
  opBytesMax: 1024 * 1024,
  resultBytesMax: 1024 * 1024,
  snapshotBytesMax: 64 * 1024 * 1024,
  clientIdBytesMax: 255,
  // A batch signature (batch-signature.ts): 7 header bytes, the signature, up to 6 siblings of 32.
  signatureBytesMax: 512,
  batchRequestsMax: 1024,
  certificatesMax: 4096,
  votesMax: 256,
};

export type CodecErrorCode = 'MESSAGE_TOO_LARGE' | 'MESSAGE_MALFORMED' | 'MESSAGE_SCHEMA';
export interface CodecError {
  readonly code: CodecErrorCode;
  readonly message: string;
}
export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: CodecError };

type Limit = Exclude<keyof CodecOptions, 'messageBytesMax'>;
type Kind =
  | { readonly k: 'uint' }
  | { readonly k: 'bool' }
  | { readonly k: 'digest' }
  | { readonly k: 'bytes'; readonly max: Limit }
  | { readonly k: 'str'; readonly max: Limit }
  | { readonly k: 'msg'; readonly type: MessageType }
  | { readonly k: 'array'; readonly of: Kind; readonly max: Limit }
  | { readonly k: 'struct'; readonly fields: Fields }
  | { readonly k: 'opt'; readonly of: Kind };
type Fields = readonly (readonly [string, Kind])[];

const uint: Kind = { k: 'uint' };
const bool: Kind = { k: 'bool' };
const digest: Kind = { k: 'digest' };
const sig: Kind = { k: 'bytes', max: 'signatureBytesMax' };
const bytes = (max: Limit): Kind => ({ k: 'bytes', max });
const msg = (type: MessageType): Kind => ({ k: 'msg', type });
const array = (of: Kind, max: Limit): Kind => ({ k: 'array', of, max });
const struct = (fields: Fields): Kind => ({ k: 'struct', fields });
const opt = (of: Kind): Kind => ({ k: 'opt', of });

const preparedCert = struct([['prePrepare', msg('pre-prepare')], ['prepares', array(msg('prepare'), 'votesMax')]]);
const commitCert = struct([['prePrepare', msg('pre-prepare')], ['commits', array(msg('commit'), 'votesMax')]]);
const vote: Fields = [['view', uint], ['seq', uint], ['digest', digest], ['replica', uint], ['sig', sig]];

const SCHEMAS: Record<MessageType, { tag: number; fields: Fields }> = {
  request: { tag: 1, fields: [['client', { k: 'str', max: 'clientIdBytesMax' }], ['requestId', uint], ['op', bytes('opBytesMax')], ['sig', sig]] },
  'pre-prepare': {
    tag: 2,
    fields: [['view', uint], ['seq', uint], ['digest', digest], ['timeMs', uint], ['replica', uint], ['sig', sig],
      ['batch', array(msg('request'), 'batchRequestsMax')]],
  },
  prepare: { tag: 3, fields: vote },
  commit: { tag: 4, fields: vote },
  checkpoint: { tag: 5, fields: [['seq', uint], ['stateDigest', digest], ['replica', uint], ['sig', sig]] },
  'view-change': {
    tag: 6,
    fields: [['view', uint], ['stableSeq', uint], ['checkpointProof', array(msg('checkpoint'), 'votesMax')],
      ['prepared', array(preparedCert, 'certificatesMax')], ['replica', uint], ['sig', sig]],
  },
  'new-view': {
    tag: 7,
    fields: [['view', uint], ['viewChanges', array(msg('view-change'), 'votesMax')],
      ['prePrepares', array(msg('pre-prepare'), 'certificatesMax')], ['replica', uint], ['sig', sig]],
  },
  status: {
    tag: 8,
    fields: [['view', uint], ['viewChanging', bool], ['stableSeq', uint], ['lastExecuted', uint], ['replica', uint], ['sig', sig]],
  },
  'fetch-state': { tag: 9, fields: [['seq', uint], ['replica', uint], ['sig', sig]] },
  state: {
    tag: 10,
    fields: [['seq', uint], ['stateDigest', digest], ['checkpointProof', array(msg('checkpoint'), 'votesMax')],
      ['snapshot', bytes('snapshotBytesMax')], ['clientTable', bytes('snapshotBytesMax')],
      ['committed', array(commitCert, 'certificatesMax')], ['replica', uint], ['sig', sig]],
  },
  committed: {
    tag: 11,
    fields: [['checkpointProof', array(msg('checkpoint'), 'votesMax')], ['certs', array(commitCert, 'certificatesMax')],
      ['replica', uint], ['sig', sig]],
  },
  reply: {
    tag: 12,
    fields: [['view', uint], ['client', { k: 'str', max: 'clientIdBytesMax' }], ['requestId', uint],
      ['result', bytes('resultBytesMax')], ['replica', uint], ['sig', sig]],
  },
};

const TYPE_OF_TAG = new Map<number, MessageType>(Object.entries(SCHEMAS).map(([t, s]) => [s.tag, t as MessageType]));

const RECORD_SCHEMAS: Record<PersistRecord['kind'], Fields> = {
  view: [['view', uint], ['viewChanging', bool], ['newView', opt(msg('new-view'))]],
  entry: [['entry', struct([['seq', uint], ['prePrepare', opt(msg('pre-prepare'))], ['preparedCert', opt(preparedCert)],
    ['commitCert', opt(commitCert)]])]],
  snapshot: [['seq', uint], ['stateDigest', digest], ['snapshot', bytes('snapshotBytesMax')], ['clientTable', bytes('snapshotBytesMax')]],
  stable: [['seq', uint], ['stateDigest', digest], ['proof', array(msg('checkpoint'), 'votesMax')]],
};

class SchemaError extends Error {}

// Arrays are built by index, not with map and spread: these run for every field of every message sent.
function toWire(kind: Kind, value: unknown): unknown {
  switch (kind.k) {
    case 'uint': case 'bool': case 'digest': case 'bytes': case 'str':
      return value;
    case 'msg':
      return messageToWire(value as Message);
    case 'array': {
      const items = value as unknown[];
      const out = new Array<unknown>(items.length);
      for (let i = 0; i < items.length; i++) out[i] = toWire(kind.of, items[i]);
      return out;
    }
    case 'struct':
      return fieldsToWire(kind.fields, value as Record<string, unknown>, 0);
    case 'opt':
      return value === undefined ? null : toWire(kind.of, value);
  }
}

/** `fields` of `value` in order, after `skip` empty slots. */
function fieldsToWire(fields: Fields, value: Record<string, unknown>, skip: number): unknown[] {
  const out = new Array<unknown>(fields.length + skip);
  for (let i = 0; i < fields.length; i++) out[i + skip] = toWire(fields[i]![1], value[fields[i]![0]]);
  return out;
}

function messageToWire(message: Message): unknown[] {
  const m = message.type === 'new-view' ? elideRepeatedBatches(message) : message;
  const schema = SCHEMAS[m.type];
  const out = fieldsToWire(schema.fields, m as unknown as Record<string, unknown>, 1);
  out[0] = schema.tag;
  return out;
}

/** Reads one value of `kind` at `path` (plus `.name` for a field), or throws a SchemaError naming it. */
function fromWire(kind: Kind, v: unknown, o: CodecOptions, path: string, name?: string): unknown {
  switch (kind.k) {
    case 'uint':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(path, name, 'expected a non-negative integer');
    case 'bool':
      return typeof v === 'boolean' ? v : fail(path, name, 'expected a boolean');
    case 'digest':
      return v instanceof Uint8Array && v.length === DIGEST_BYTES ? v : fail(path, name, `expected ${DIGEST_BYTES} bytes`);
    case 'bytes':
      return v instanceof Uint8Array && v.length <= o[kind.max] ? v : fail(path, name, `expected at most ${o[kind.max]} bytes`);
    case 'str':
      return typeof v === 'string' && Buffer.byteLength(v) <= o[kind.max] ? v : fail(path, name, `expected a string of at most ${o[kind.max]} bytes`);
    case 'msg': {
      const m = messageFromWire(v, o, pathOf(path, name));
      return m.type === kind.type ? m : fail(path, name, `expected a ${kind.type} message`);
    }
    case 'array': {
      if (!Array.isArray(v) || v.length > o[kind.max]) return fail(path, name, `expected an array of at most ${o[kind.max]} items`);
      const base = pathOf(path, name);
      const out = new Array<unknown>(v.length);
      for (let i = 0; i < v.length; i++) out[i] = fromWire(kind.of, v[i], o, `${base}[${i}]`);
      return out;
    }
    case 'struct':
      return fieldsFromWire(kind.fields, v, 0, o, pathOf(path, name));
    case 'opt':
      return v === null ? undefined : fromWire(kind.of, v, o, path, name);
  }
}

/**
 * A value's path in its message: `path`, plus `.name` for a field. Built only where it is needed (an
 * error, or a nested message or array), since fromWire runs for every field of every message.
 */
function pathOf(path: string, name: string | undefined): string {
  return name === undefined ? path : `${path}.${name}`;
}

function fail(path: string, name: string | undefined, what: string): never {
  throw new SchemaError(`${pathOf(path, name)}: ${what}`);
}

function fieldsFromWire(fields: Fields, v: unknown, skip: number, o: CodecOptions, path: string): Record<string, unknown> {
  if (!Array.isArray(v) || v.length !== fields.length + skip) throw new SchemaError(`${path}: expected ${fields.length} fields`);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const [name, k] = fields[i]!;
    out[name] = fromWire(k, v[i + skip], o, path, name);
  }
  return out;
}

function messageFromWire(v: unknown, o: CodecOptions, path = 'message'): Message {
  if (!Array.isArray(v) || typeof v[0] !== 'number') throw new SchemaError(`${path}: expected [tag, ...fields]`);
  const type = TYPE_OF_TAG.get(v[0]);
  if (!type) throw new SchemaError(`${path}: unknown message tag ${v[0]}`);
  const out = fieldsFromWire(SCHEMAS[type].fields, v, 1, o, `${path}<${type}>`);
  const m = { type, ...out } as unknown as Message;
  return m.type === 'new-view' ? restoreRepeatedBatches(m) : m;
}

function msgpackLimits(o: CodecOptions) {
  return {
    maxStrLength: o.clientIdBytesMax,
    maxBinLength: Math.max(o.opBytesMax, o.resultBytesMax, o.snapshotBytesMax),
    maxArrayLength: Math.max(o.batchRequestsMax, o.certificatesMax, o.votesMax, 16),
    maxMapLength: 0,
    maxExtLength: 0,
  };
}

const encoder = new Encoder();
const encode = (value: unknown): Uint8Array => encoder.encode(value);
/** Decoders are reusable (and re-entrancy safe); one per distinct set of limits. */
const decoders = new Map<string, Decoder>();
function decoderFor(o: CodecOptions): Decoder {
  const limits = msgpackLimits(o);
  const key = JSON.stringify(limits);
  let d = decoders.get(key);
  if (!d) {
    if (decoders.size > 16) decoders.clear();
    decoders.set(key, (d = new Decoder(limits)));
  }
  return d;
}

/**
 * The full options and decoder for a caller's options object. Callers pass the same object for every
 * message (a node's configured limits), so both are worked out once per object, not per message (the
 * JSON key alone cost a client node 6 % of its CPU). Options objects are taken as never mutated.
 */
const resolved = new WeakMap<Partial<CodecOptions>, { o: CodecOptions; decoder: Decoder }>();
const NO_OPTIONS: Partial<CodecOptions> = Object.freeze({});
function resolve(options: Partial<CodecOptions>): { o: CodecOptions; decoder: Decoder } {
  let r = resolved.get(options);
  if (!r) {
    const o = { ...defaultCodecOptions, ...options };
    r = { o, decoder: decoderFor(o) };
    resolved.set(options, r);
  }
  return r;
}

function decodeWith<T>(bytes: Uint8Array, options: Partial<CodecOptions>, read: (v: unknown, o: CodecOptions) => T): DecodeResult<T> {
  const { o, decoder } = resolve(options);
  if (!(bytes instanceof Uint8Array)) return { ok: false, error: { code: 'MESSAGE_MALFORMED', message: 'not bytes' } };
  if (bytes.length > o.messageBytesMax) {
    return { ok: false, error: { code: 'MESSAGE_TOO_LARGE', message: `${bytes.length} bytes exceeds ${o.messageBytesMax}` } };
  }
  let raw: unknown;
  try {
    raw = decoder.decode(bytes);
  } catch (e) {
    return { ok: false, error: { code: 'MESSAGE_MALFORMED', message: `not MessagePack within limits: ${(e as Error).message}` } };
  }
  try {
    return { ok: true, value: read(raw, o) };
  } catch (e) {
    if (e instanceof SchemaError || e instanceof RangeError) return { ok: false, error: { code: 'MESSAGE_SCHEMA', message: e.message } };
    return { ok: false, error: { code: 'MESSAGE_SCHEMA', message: String(e) } };
  }
}

export function encodeMessage(m: Message): Uint8Array {
  return encode(messageToWire(m));
}

export function decodeMessage(bytes: Uint8Array, options: Partial<CodecOptions> = NO_OPTIONS): DecodeResult<Message> {
  return decodeWith(bytes, options, (v, o) => messageFromWire(v, o));
}

/**
 * Several replies in one frame, `[13, [reply, ...]]` (each reply the message `encodeMessage` writes):
 * what one replica sends the clients of one link from one batch of its actions, instead of a frame per
 * reply (shared/replica-node). At most `batchRequestsMax` replies in a frame.
 */
const REPLIES_TAG = 13;
const repliesKind = array(msg('reply'), 'batchRequestsMax');

export function encodeReplies(replies: readonly Reply[]): Uint8Array {
  const wire = new Array<unknown>(replies.length);
  for (let i = 0; i < replies.length; i++) wire[i] = messageToWire(replies[i]!);
  return encode([REPLIES_TAG, wire]);
}

/** The replies of a frame `encodeReplies` wrote, or of one reply; any other message is MESSAGE_SCHEMA. */
export function decodeReplies(bytes: Uint8Array, options: Partial<CodecOptions> = NO_OPTIONS): DecodeResult<Reply[]> {
  return decodeWith(bytes, options, (v, o) => {
    if (Array.isArray(v) && v[0] === REPLIES_TAG) {
      if (v.length !== 2) throw new SchemaError('replies: expected [13, replies]');
      return fromWire(repliesKind, v[1], o, 'replies') as Reply[];
    }
    const m = messageFromWire(v, o);
    if (m.type !== 'reply') throw new SchemaError(`message<${m.type}>: expected a reply`);
    return [m];
  });
}

export function encodePersistRecord(record: PersistRecord): Uint8Array {
  const fields = RECORD_SCHEMAS[record.kind];
  const out = fieldsToWire(fields, record as unknown as Record<string, unknown>, 1);
  out[0] = record.kind;
  return encode(out);
}

export function decodePersistRecord(bytes: Uint8Array, options: Partial<CodecOptions> = NO_OPTIONS): DecodeResult<PersistRecord> {
  return decodeWith(bytes, options, (v, o) => {
    if (!Array.isArray(v) || typeof v[0] !== 'string' || !Object.hasOwn(RECORD_SCHEMAS, v[0])) {
      throw new SchemaError('record: expected [kind, ...fields]');
    }
    const kind = v[0] as PersistRecord['kind'];
    return { kind, ...fieldsFromWire(RECORD_SCHEMAS[kind], v, 1, o, `record<${kind}>`) } as unknown as PersistRecord;
  });
}
