// Fuzzing the envelope decoder (STYLE: msgpack-javascript's fuzzer lets only DecodeError escape; DESIGN §4
// "never crashes the node"): random bytes, mutated valid envelopes and random MessagePack values may only
// produce a ProtocolError, and the decoder keeps working afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { decode, encode } from '@msgpack/msgpack';
import { sign, signingKeyFromSeed } from '../../../shared/crypto/sign.ts';
import { ProtocolError, ReplayGuard, openEnvelope, sealEnvelope, type OpenOptions, type OutgoingMessage } from '../../../shared/protocol/index.ts';

const key = signingKeyFromSeed(new Uint8Array(32).fill(3));
const NOW = 1_700_000_000_000;
const guard = new ReplayGuard({ idsMax: 1000 });
const options: OpenOptions = { keyOf: (id) => (id === 'n1' ? key.publicKey : undefined), now: NOW, replay: guard };
const txId = new Uint8Array(16).fill(5);
const h32 = new Uint8Array(32).fill(6);

const record = {
  txId, ts: NOW, account: 'acct', snapshotId: 'snap', manifestRoot: h32, dataShards: 2, parityShards: 1,
  shards: [0, 1, 2].map((index) => ({ chunk: h32, index, hash: h32, node: `n${index}` })),
  signatures: [{ signer: 'n1', signature: new Uint8Array(64) }],
};
const samples: OutgoingMessage[] = [
  { type: 'Consensus', from: 'n1', ts: NOW, body: new Uint8Array([1, 2, 3]) },
  { type: 'CommitRequest', from: 'n1', to: 'n2', ts: NOW, body: { txId, record } },
  { type: 'PrepareRequest', from: 'n1', ts: NOW, body: { txId, digest: h32, account: 'acct', shards: [{ chunk: h32, index: 0, hash: h32, data: new Uint8Array(10) }] } },
  { type: 'PrepareResponse', from: 'n1', ts: NOW, body: { txId, ok: false, reason: 'full' } },
];
const sealed = samples.map((m) => sealEnvelope(m, key));

let seq = 0;
function fresh(): Uint8Array {
  const id = new Uint8Array(16);
  new DataView(id.buffer).setUint32(0, ++seq);
  return sealEnvelope({ type: 'Consensus', from: 'n1', id, ts: NOW, body: new Uint8Array([seq & 0xff]) }, key);
}

/** Runs the decoder; fails the property on anything but success or a ProtocolError. */
function onlyProtocolErrors(bytes: Uint8Array): boolean {
  try {
    openEnvelope(bytes, options);
    return true;
  } catch (error) {
    if (error instanceof ProtocolError) return true;
    throw error;
  }
}

function assertStillWorks(): void {
  assert.is(openEnvelope(fresh(), options).message.type, 'Consensus');
}

test('random bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), onlyProtocolErrors), { numRuns: 3000 });
  assertStillWorks();
});

const envelope = fc.integer({ min: 0, max: sealed.length - 1 }).map((i) => sealed[i]!);

test('bit flips, truncation and extension of valid envelopes', () => {
  const flip = fc.tuple(envelope, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([e, at, bit]) => {
    const b = new Uint8Array(e);
    b[at % b.length]! ^= 1 << bit;
    return b;
  });
  const cut = fc.tuple(envelope, fc.nat()).map(([e, n]) => e.subarray(0, n % e.length));
  const extend = fc.tuple(envelope, fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([e, x]) => new Uint8Array([...e, ...x]));
  const splice = fc.tuple(envelope, fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([e, at, x]) => {
    const i = at % e.length;
    return new Uint8Array([...e.subarray(0, i), ...x, ...e.subarray(i + x.length)]);
  });
  fc.assert(fc.property(fc.oneof(flip, cut, extend, splice), onlyProtocolErrors), { numRuns: 4000 });
  assertStillWorks();
});

test('field swaps and random values inside a correctly signed payload', () => {
  const payloads = sealed.map((e) => decode((decode(e) as { p: Uint8Array }).p) as Record<string, unknown>);
  const value = fc.oneof(
    fc.anything({ maxDepth: 4, withTypedArray: false }),
    fc.uint8Array({ maxLength: 70 }),
    fc.constantFrom(null, -1, 2 ** 53, 1.5, '', 'n1', true),
  );
  const swapped = fc
    .tuple(fc.integer({ min: 0, max: payloads.length - 1 }), fc.constantFrom('v', 'type', 'from', 'to', 'id', 'ts', 'body'), fc.constantFrom('v', 'type', 'from', 'to', 'id', 'ts', 'body'), fc.option(value))
    .map(([i, a, b, v]) => {
      const p = { ...payloads[i]! };
      const tmp = p[a];
      p[a] = v === null ? p[b] : v;
      p[b] = tmp;
      const bytes = encode(p);
      return encode({ p: bytes, s: sign(key.privateKey, bytes) });
    });
  const outer = fc.tuple(envelope, fc.option(value), fc.option(value)).map(([e, p, s]) => {
    const o = decode(e) as Record<string, unknown>;
    return encode({ p: p ?? o.s, s: s ?? o.p });
  });
  fc.assert(fc.property(fc.oneof(swapped, outer), onlyProtocolErrors), { numRuns: 3000 });
  assertStillWorks();
});

test.run();
