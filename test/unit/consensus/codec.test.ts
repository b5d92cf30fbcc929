// MessagePack codec of consensus messages: property round trips (fast-check), limits, and a fuzzer
// that lets nothing escape (bad bytes from a peer never crash a node).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { encode } from '@msgpack/msgpack';
import {
  batchDigest,
  decodeMessage,
  decodeReplies,
  encodeReplies,
  NULL_DIGEST,
  decodePersistRecord,
  encodeMessage,
  encodePersistRecord,
  type Message,
  type NewView,
  type PersistRecord,
  type PrePrepare,
  type Reply,
  type Request,
  type ViewChange,
} from '../../../shared/consensus/index.ts';

const uint = fc.nat({ max: 2 ** 40 });
const small = fc.nat({ max: 30 });
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const sig = fc.uint8Array({ minLength: 8, maxLength: 64 });
const bytes = fc.uint8Array({ maxLength: 64 });

const request = fc.record({ type: fc.constant('request' as const), client: fc.string({ maxLength: 20 }), requestId: uint, op: bytes, sig });
// An empty batch always has the null digest (the core refuses any other): in a new-view the codec
// reads an empty batch with another digest as a reference to an earlier copy (batch-references.ts).
const prePrepare = fc.record({
  type: fc.constant('pre-prepare' as const), view: uint, seq: uint, digest, timeMs: uint, replica: small, sig,
  batch: fc.array(request, { maxLength: 3 }),
}).map((pp) => (pp.batch.length === 0 ? { ...pp, digest: NULL_DIGEST } : pp));
const vote = <T extends 'prepare' | 'commit'>(type: T) => fc.record({ type: fc.constant(type), view: uint, seq: uint, digest, replica: small, sig });
const checkpoint = fc.record({ type: fc.constant('checkpoint' as const), seq: uint, stateDigest: digest, replica: small, sig });
const preparedCert = fc.record({ prePrepare, prepares: fc.array(vote('prepare'), { maxLength: 3 }) });
const commitCert = fc.record({ prePrepare, commits: fc.array(vote('commit'), { maxLength: 3 }) });
const viewChange = fc.record({
  type: fc.constant('view-change' as const), view: uint, stableSeq: uint, checkpointProof: fc.array(checkpoint, { maxLength: 3 }),
  prepared: fc.array(preparedCert, { maxLength: 2 }), replica: small, sig,
});
const message: fc.Arbitrary<Message> = fc.oneof(
  request,
  prePrepare,
  vote('prepare'),
  vote('commit'),
  checkpoint,
  viewChange,
  fc.record({ type: fc.constant('new-view' as const), view: uint, viewChanges: fc.array(viewChange, { maxLength: 2 }), prePrepares: fc.array(prePrepare, { maxLength: 2 }), replica: small, sig }),
  fc.record({ type: fc.constant('status' as const), view: uint, viewChanging: fc.boolean(), stableSeq: uint, lastExecuted: uint, replica: small, sig }),
  fc.record({ type: fc.constant('fetch-state' as const), seq: uint, replica: small, sig }),
  fc.record({
    type: fc.constant('state' as const), seq: uint, stateDigest: digest, checkpointProof: fc.array(checkpoint, { maxLength: 2 }),
    snapshot: bytes, clientTable: bytes, committed: fc.array(commitCert, { maxLength: 2 }), replica: small, sig,
  }),
  fc.record({ type: fc.constant('committed' as const), checkpointProof: fc.array(checkpoint, { maxLength: 2 }), certs: fc.array(commitCert, { maxLength: 2 }), replica: small, sig }),
  fc.record({ type: fc.constant('reply' as const), view: uint, client: fc.string({ maxLength: 20 }), requestId: uint, result: bytes, replica: small, sig }),
);
const reply: fc.Arbitrary<Reply> = fc.record({
  type: fc.constant('reply' as const), view: uint, client: fc.string({ maxLength: 20 }), requestId: uint, result: bytes, replica: small, sig,
});

test('a new-view writes each repeated batch once, and decodes to the message it was', () => {
  const requests = (seq: number, sigByte = 1): Request[] => Array.from({ length: 16 }, (_, i) => ({
    type: 'request', client: `c/${i}`, requestId: seq * 100 + i, op: new Uint8Array(1024).fill(seq + i), sig: new Uint8Array(64).fill(sigByte),
  }));
  const pp = (seq: number, view: number, batch: Request[]): PrePrepare => ({
    type: 'pre-prepare', view, seq, digest: batch.length ? batchDigest(batch) : NULL_DIGEST, timeMs: 5, replica: view % 4, sig: new Uint8Array(64), batch,
  });
  const batches = [1, 2, 3].map((seq) => requests(seq));
  const vc = (replica: number): ViewChange => ({
    type: 'view-change', view: 1, stableSeq: 0, checkpointProof: [], replica, sig: new Uint8Array(64),
    prepared: batches.map((b, i) => ({ prePrepare: pp(i + 1, 0, b), prepares: [] })),
  });
  const nv: NewView = {
    type: 'new-view', view: 1, viewChanges: [vc(1), vc(2), vc(3)], replica: 1, sig: new Uint8Array(64),
    prePrepares: [...batches.map((b, i) => pp(i + 1, 1, b)), pp(4, 1, [])],
  };
  const bytes = encodeMessage(nv);
  const oneCopy = batches.reduce((sum, b) => sum + b.length * 1100, 0);
  assert.ok(bytes.length < 1.5 * oneCopy, `${bytes.length} bytes for 4 copies of ${oneCopy} bytes of batches`);
  const decoded = decodeMessage(bytes);
  assert.ok(decoded.ok);
  assert.equal(decoded.value, nv);
  // A copy whose request signatures differ is written whole, and keeps its own signatures.
  const other: NewView = { ...nv, prePrepares: [pp(1, 1, requests(1, 9)), ...nv.prePrepares.slice(1)] };
  const back = decodeMessage(encodeMessage(other));
  assert.ok(back.ok);
  assert.equal(back.value, other);
});

test('every message survives encode/decode unchanged', () => {
  fc.assert(
    fc.property(message, (m) => {
      const decoded = decodeMessage(encodeMessage(m));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
      if (decoded.ok) assert.equal(decoded.value, structuredClone(m)); // fast-check records have no prototype
    }),
    { numRuns: 400 },
  );
});

test('persist records survive encode/decode unchanged', () => {
  const record: fc.Arbitrary<PersistRecord> = fc.oneof(
    fc.record({ kind: fc.constant('view' as const), view: uint, viewChanging: fc.boolean(), newView: fc.constant(undefined) }),
    fc.record({
      kind: fc.constant('entry' as const),
      entry: fc.record({
        seq: uint,
        prePrepare: fc.option(prePrepare, { nil: undefined }),
        preparedCert: fc.option(preparedCert, { nil: undefined }),
        commitCert: fc.option(commitCert, { nil: undefined }),
      }),
    }),
    fc.record({ kind: fc.constant('snapshot' as const), seq: uint, stateDigest: digest, snapshot: bytes, clientTable: bytes }),
    fc.record({ kind: fc.constant('stable' as const), seq: uint, stateDigest: digest, proof: fc.array(checkpoint, { maxLength: 3 }) }),
  );
  fc.assert(
    fc.property(record, (r) => {
      const decoded = decodePersistRecord(encodePersistRecord(r));
      assert.ok(decoded.ok);
      if (decoded.ok) assert.equal(decoded.value, structuredClone(r));
    }),
    { numRuns: 200 },
  );
});

test('garbage never throws: random bytes and mutated messages give a typed error or a valid shape', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const r = decodeMessage(b);
      if (!r.ok) assert.ok(['MESSAGE_MALFORMED', 'MESSAGE_SCHEMA', 'MESSAGE_TOO_LARGE'].includes(r.error.code));
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(message, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 4 }), (m, flips) => {
      const b = new Uint8Array(encodeMessage(m));
      for (const [at, v] of flips) b[at % b.length] = v;
      decodeMessage(b);
      decodeMessage(b.subarray(0, flips[0]![0] % b.length));
    }),
    { numRuns: 1000 },
  );
});

test('a frame of replies decodes to its replies in order; a lone reply to itself; any other message is refused', () => {
  fc.assert(
    fc.property(fc.array(reply, { maxLength: 8 }), (replies) => {
      const decoded = decodeReplies(encodeReplies(replies));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
      if (decoded.ok) assert.equal(decoded.value, structuredClone(replies));
    }),
    { numRuns: 200 },
  );
  const one: Reply = { type: 'reply', view: 1, client: 'a/1', requestId: 7, result: new Uint8Array([1]), replica: 2, sig: new Uint8Array(0) };
  const lone = decodeReplies(encodeMessage(one));
  assert.equal(lone.ok ? lone.value : lone.error.message, [one]);
  const prepare = encodeMessage({ type: 'prepare', view: 1, seq: 2, digest: new Uint8Array(32), replica: 3, sig: new Uint8Array(8) });
  assert.is((r => r.ok ? '' : r.error.message)(decodeReplies(prepare)), 'message<prepare>: expected a reply');
  // A request inside a frame of replies, a bad reply in one, too many, a wrong shape: each refused, none thrown.
  const request = { type: 'request' as const, client: 'c', requestId: 1, op: new Uint8Array(1), sig: new Uint8Array(8) };
  const withRequest = encode([13, [[12, 1, 'a/1', 7, new Uint8Array(1), 2, new Uint8Array(0)], [1, 'c', 1, new Uint8Array(1), new Uint8Array(8)]]]);
  assert.is((r => r.ok ? '' : r.error.message)(decodeReplies(withRequest)), 'replies[1]: expected a reply message');
  assert.ok(decodeReplies(encodeMessage(request)).ok === false);
  const badReply = encode([13, [[12, 1, 'a/1', -7, new Uint8Array(1), 2, new Uint8Array(0)]]]);
  assert.is((r => r.ok ? '' : r.error.message)(decodeReplies(badReply)), 'replies[0]<reply>.requestId: expected a non-negative integer');
  const many = encodeReplies(Array.from({ length: 5 }, () => one));
  assert.is((r => r.ok ? '' : r.error.code)(decodeReplies(many, { batchRequestsMax: 4 })), 'MESSAGE_SCHEMA');
  assert.ok(decodeReplies(many, { batchRequestsMax: 5 }).ok);
  for (const shape of [[13], [13, [], 'extra'], [13, 'x'], [13, [[]]]]) {
    assert.is((r => r.ok ? '' : r.error.code)(decodeReplies(encode(shape))), 'MESSAGE_SCHEMA', JSON.stringify(shape));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      const r = decodeReplies(junk);
      assert.ok(!r.ok || Array.isArray(r.value));
    }),
    { numRuns: 300 },
  );
});

test('limits: oversized input, oversized fields, wrong types, maps and unknown tags are refused', () => {
  const big = decodeMessage(new Uint8Array(100), { messageBytesMax: 50 });
  assert.is(big.ok ? '' : big.error.code, 'MESSAGE_TOO_LARGE');
  const req: Message = { type: 'request', client: 'c', requestId: 1, op: new Uint8Array(100), sig: new Uint8Array(8) };
  const tooBigOp = decodeMessage(encodeMessage(req), { opBytesMax: 10 });
  assert.not.ok(tooBigOp.ok);
  const badDigest = encode([3, 1, 1, new Uint8Array(31), 0, new Uint8Array(8)]);
  assert.is((r => r.ok ? '' : r.error.code)(decodeMessage(badDigest)), 'MESSAGE_SCHEMA');
  const negative = encode([3, -1, 1, new Uint8Array(32), 0, new Uint8Array(8)]);
  assert.not.ok(decodeMessage(negative).ok);
  const float = encode([3, 1.5, 1, new Uint8Array(32), 0, new Uint8Array(8)]);
  assert.not.ok(decodeMessage(float).ok);
  const unknown = encode([99, 1]);
  assert.match((r => r.ok ? '' : r.error.message)(decodeMessage(unknown)), /unknown message tag/);
  const map = encode({ __proto__: { polluted: true }, type: 'prepare' });
  assert.not.ok(decodeMessage(map).ok);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  const extraField = encode([8, 1, false, 0, 0, 1, new Uint8Array(8), 'extra']);
  assert.not.ok(decodeMessage(extraField).ok);
  const nested = encode([[[[[[[[[[[]]]]]]]]]]]);
  assert.not.ok(decodeMessage(nested).ok);
});

test('a refusal names the field by its path in the message', () => {
  const req: Request = { type: 'request', client: 'c', requestId: 1, op: new Uint8Array(100), sig: new Uint8Array(8) };
  const pp: PrePrepare = {
    type: 'pre-prepare', view: 0, seq: 1, digest: batchDigest([req, req]), timeMs: 0, replica: 0, sig: new Uint8Array(8), batch: [req, req],
  };
  const r = decodeMessage(encodeMessage(pp), { opBytesMax: 10 });
  assert.is(r.ok ? '' : r.error.message, 'message<pre-prepare>.batch[0]<request>.op: expected at most 10 bytes');
  const wire = encodeMessage({ type: 'prepare', view: 1, seq: 2, digest: new Uint8Array(32), replica: 3, sig: new Uint8Array(8) });
  const badSeq = encode([3, 1, 'two', new Uint8Array(32), 3, new Uint8Array(8)]);
  assert.is((d => d.ok ? '' : d.error.message)(decodeMessage(badSeq)), 'message<prepare>.seq: expected a non-negative integer');
  assert.ok(decodeMessage(wire).ok);
});

test('each options object keeps its own limits (the decoder is cached per object)', () => {
  const req: Message = { type: 'request', client: 'c', requestId: 1, op: new Uint8Array(100), sig: new Uint8Array(8) };
  const wire = encodeMessage(req);
  const tight = { opBytesMax: 10 };
  const loose = { opBytesMax: 1000 };
  for (let i = 0; i < 3; i++) {
    assert.not.ok(decodeMessage(wire, tight).ok);
    assert.ok(decodeMessage(wire, loose).ok);
    assert.ok(decodeMessage(wire).ok);
  }
  const binCapped = decodeMessage(wire, { opBytesMax: 10, resultBytesMax: 10, snapshotBytesMax: 10 });
  assert.is(binCapped.ok ? '' : binCapped.error.code, 'MESSAGE_MALFORMED');
});

test.run();
