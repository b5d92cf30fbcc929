// Signed envelopes (DESIGN §4: `{p, s}`, signature over the exact bytes of p; §8 replay protection).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decode, encode } from '@msgpack/msgpack';
import { z } from 'zod';
import { generateSigningKey, sign, verify } from '../../../shared/crypto/sign.ts';
import { codeOf } from '../../helpers/protocol.ts';
import {
  CONSENSUS_BODY_BYTES_MAX,
  MessageRegistry,
  PREHASH_ABOVE,
  envelopeSigningBytes,
  ProtocolError,
  ReplayGuard,
  fromSafeParse,
  isMessage,
  object,
  openEnvelope,
  sealConsensusParts,
  sealEnvelope,
  str,
  uint,
  verifyEnvelope,
  type OpenOptions,
} from '../../../shared/protocol/index.ts';

const alice = generateSigningKey();
const mallory = generateSigningKey();
const keys = new Map([['alice', alice.publicKey]]);
const NOW = 1_700_000_000_000;
const opts = (extra: Partial<OpenOptions> = {}): OpenOptions => ({ keyOf: (id) => keys.get(id), now: NOW, ...extra });
const txId = new Uint8Array(16).fill(1);


/** Re-signs an edited payload, so only the edit itself can be at fault. */
function forge(payload: Record<string, unknown>, key = alice): Uint8Array {
  const p = encode(payload);
  return encode({ p, s: sign(key.privateKey, p) });
}

test('seal then open gives the message back, with the signed payload bytes', () => {
  const bytes = sealEnvelope({ type: 'CommitResponse', from: 'alice', to: 'bob', ts: NOW, body: { txId, ok: true, height: 7, blockHash: new Uint8Array(32) } }, alice);
  const opened = openEnvelope(bytes, opts());
  assert.is(opened.message.type, 'CommitResponse');
  assert.is(opened.message.from, 'alice');
  assert.is(opened.message.to, 'bob');
  assert.is(opened.message.ts, NOW);
  assert.is(opened.message.id.length, 16);
  assert.ok(isMessage(opened.message, 'CommitResponse'));
  if (isMessage(opened.message, 'CommitResponse')) assert.is(opened.message.body.height, 7);
  const outer = decode(bytes) as { p: Uint8Array; s: Uint8Array };
  assert.equal(opened.payload, outer.p);
  assert.equal(opened.signature, outer.s);
});

test('unknown fields are dropped; a missing or mistyped field is SCHEMA naming it', () => {
  const base = { v: 1, type: 'PrepareResponse', from: 'alice', id: new Uint8Array(16), ts: NOW };
  const extra = openEnvelope(forge({ ...base, body: { txId, ok: false, reason: 'full', junk: 1 }, extra: 'x' }), opts());
  assert.equal(extra.message.body, { txId, ok: false, reason: 'full' });
  assert.not.ok('extra' in extra.message);

  const cases: [Record<string, unknown>, string][] = [
    [{ ...base, body: { ok: true } }, 'body.txId'],
    [{ ...base, body: { txId, ok: 'yes' } }, 'body.ok'],
    [{ ...base, body: { txId, ok: true } }, 'body.signature'],
    [{ ...base, v: 2, body: { txId, ok: false, reason: 'x' } }, 'v'],
    [{ ...base, from: 'a/b', body: { txId, ok: false, reason: 'x' } }, 'from'],
    [{ ...base, id: new Uint8Array(3), body: { txId, ok: false, reason: 'x' } }, 'id'],
    [{ ...base, ts: -1, body: { txId, ok: false, reason: 'x' } }, 'ts'],
    [{ ...base, ts: 1.5, body: { txId, ok: false, reason: 'x' } }, 'ts'],
  ];
  for (const [payload, field] of cases) {
    try {
      openEnvelope(forge(payload), opts());
      assert.unreachable(`accepted ${field}`);
    } catch (error) {
      assert.instance(error, ProtocolError);
      assert.is((error as ProtocolError).code, 'SCHEMA');
      assert.is((error as ProtocolError).field, field);
      assert.ok((error as ProtocolError).peerFault);
    }
  }
  const record = { txId, ts: NOW, account: 'a', snapshotId: 's', manifestRoot: new Uint8Array(32), dataShards: 2, parityShards: 1, signatures: [] };
  const shard = { chunk: new Uint8Array(32), index: 0, hash: new Uint8Array(32), node: 'n1' };
  try {
    openEnvelope(forge({ ...base, type: 'BlockRecord', body: { ...record, shards: [shard, { ...shard, hash: new Uint8Array(31) }] } }), opts());
    assert.unreachable();
  } catch (error) {
    assert.is((error as ProtocolError).field, 'body.shards.1.hash');
  }
  try {
    openEnvelope(forge({ ...base, type: 'BlockRecord', body: { ...record, shards: [{ ...shard, index: 3 }] } }), opts());
    assert.unreachable();
  } catch (error) {
    assert.is((error as ProtocolError).field, 'body.shards.0.index');
  }
});

test('outer envelope problems', () => {
  assert.is(codeOf(() => openEnvelope(encode({ p: new Uint8Array(4) }), opts())), 'SCHEMA');
  assert.is(codeOf(() => openEnvelope(encode({ p: 'text', s: new Uint8Array(64) }), opts())), 'SCHEMA');
  assert.is(codeOf(() => openEnvelope(encode([1, 2]), opts())), 'SCHEMA');
  assert.is(codeOf(() => openEnvelope(encode({ p: new Uint8Array([0xc1]), s: new Uint8Array(64) }), opts())), 'MALFORMED');
  const good = sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array(1) }, alice);
  assert.is(codeOf(() => openEnvelope(new Uint8Array([...good, 0]), opts())), 'TRAILING_BYTES');
});

test('UNKNOWN_TYPE, UNKNOWN_SENDER and BAD_SIGNATURE', () => {
  const base = { v: 1, from: 'alice', id: new Uint8Array(16), ts: NOW };
  assert.is(codeOf(() => openEnvelope(forge({ ...base, type: 'LaunchMissiles', body: {} }), opts())), 'UNKNOWN_TYPE');
  const fromBob = sealEnvelope({ type: 'Consensus', from: 'bob', ts: NOW, body: new Uint8Array(1) }, mallory);
  const e = (() => {
    try {
      openEnvelope(fromBob, opts());
    } catch (error) {
      return error as ProtocolError;
    }
    return undefined;
  })();
  assert.is(e?.code, 'UNKNOWN_SENDER');
  assert.is(e?.peerFault, false);
  // mallory claims to be alice
  assert.is(codeOf(() => openEnvelope(sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array(1) }, mallory), opts())), 'BAD_SIGNATURE');
  // a signature over one payload moved onto another
  const a = decode(sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array([1]) }, alice)) as { p: Uint8Array; s: Uint8Array };
  const b = decode(sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array([2]) }, alice)) as { p: Uint8Array; s: Uint8Array };
  assert.is(codeOf(() => openEnvelope(encode({ p: a.p, s: b.s }), opts())), 'BAD_SIGNATURE');
});

test('STALE outside the window, REPLAY for a repeated id, verifyEnvelope skips both', () => {
  const guard = new ReplayGuard({ windowMs: 60_000 });
  const msg = sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array(1) }, alice);
  openEnvelope(msg, opts({ replay: guard }));
  assert.is(codeOf(() => openEnvelope(msg, opts({ replay: guard }))), 'REPLAY');
  assert.is(codeOf(() => openEnvelope(msg, opts({ replay: guard, now: NOW + 60_001 }))), 'STALE');
  assert.is(codeOf(() => openEnvelope(msg, opts({ now: NOW - 5 * 60_000 - 1 }))), 'STALE');
  assert.is(openEnvelope(msg, opts({ now: NOW + 5 * 60_000 })).message.ts, NOW);
  assert.is(verifyEnvelope(msg, opts()).message.from, 'alice');
  // a message that fails authentication does not use up its id
  const forged = sealEnvelope({ type: 'Consensus', from: 'alice', id: new Uint8Array(16).fill(9), ts: NOW, body: new Uint8Array(1) }, mallory);
  assert.is(codeOf(() => openEnvelope(forged, opts({ replay: guard }))), 'BAD_SIGNATURE');
  const real = sealEnvelope({ type: 'Consensus', from: 'alice', id: new Uint8Array(16).fill(9), ts: NOW, body: new Uint8Array(1) }, alice);
  assert.is(openEnvelope(real, opts({ replay: guard })).message.type, 'Consensus');
});

test('a long payload is signed over a context and its SHA-256; a changed byte still fails', () => {
  const body = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);
  const sealed = sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body }, alice);
  const { p, s } = decode(sealed) as { p: Uint8Array; s: Uint8Array };
  assert.ok(p.length > PREHASH_ABOVE);
  assert.not.equal(envelopeSigningBytes(p), p, 'not the payload itself');
  assert.ok(envelopeSigningBytes(p).length < 64);
  assert.ok(verify(alice.publicKey, envelopeSigningBytes(p), s));
  assert.not.ok(verify(alice.publicKey, p, s), 'the raw payload is not what was signed');
  assert.equal(openEnvelope(sealed, opts()).message.body, body);
  for (const at of [0, p.length >> 1, p.length - 1]) {
    const edited = new Uint8Array(p);
    edited[at]! ^= 1;
    assert.ok(['BAD_SIGNATURE', 'SCHEMA', 'MALFORMED', 'UNKNOWN_TYPE'].includes(codeOf(() => openEnvelope(encode({ p: edited, s }), opts()))!), `byte ${at}`);
  }
  // A body byte flipped in the middle (the header still decodes): exactly BAD_SIGNATURE.
  const inside = new Uint8Array(p);
  inside[p.length >> 1]! ^= 1;
  assert.is(codeOf(() => openEnvelope(encode({ p: inside, s }), opts())), 'BAD_SIGNATURE');
  // Short payloads are signed as they are (what births and heartbeats already carry).
  const small = decode(sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array(8) }, alice)) as { p: Uint8Array; s: Uint8Array };
  assert.ok(verify(alice.publicKey, small.p, small.s));
});

test('sealConsensusParts gives sealEnvelope\'s bytes, whatever the body size and however it is cut', () => {
  const id = new Uint8Array(16).fill(7);
  for (const size of [0, 1, 200, 255, 256, 4096, 4097, 65_535, 65_536, 300_000]) {
    const body = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
    for (const to of [undefined, 'bob']) {
      const want = sealEnvelope({ type: 'Consensus', from: 'alice', ...(to ? { to } : {}), ts: NOW, id, body }, alice);
      const cuts = [[body], [body.subarray(0, 1), body.subarray(1)], [new Uint8Array(0), body, new Uint8Array(0)]];
      for (const parts of cuts) {
        const got = sealConsensusParts({ from: 'alice', ...(to ? { to } : {}), ts: NOW, id }, parts, alice);
        assert.equal(Buffer.from(got).equals(Buffer.from(want)), true, `${size} bytes, to ${to}, ${parts.length} parts`);
      }
    }
  }
  const opened = openEnvelope(sealConsensusParts({ from: 'alice', to: 'bob', ts: NOW }, [Uint8Array.of(3), new Uint8Array(5000).fill(9)], alice), opts());
  assert.is((opened.message.body as Uint8Array).length, 5001);
  assert.is((opened.message.body as Uint8Array)[0], 3);
  assert.is(codeOf(() => sealConsensusParts({ from: 'alice', ts: NOW }, [new Uint8Array(CONSENSUS_BODY_BYTES_MAX), new Uint8Array(1)], alice)), 'SCHEMA');
  assert.is(codeOf(() => sealConsensusParts({ from: 'a/b', ts: NOW }, [new Uint8Array(1)], alice)), 'SCHEMA');
});

test('Consensus bodies are bounded', () => {
  const big = new Uint8Array(CONSENSUS_BODY_BYTES_MAX + 1);
  assert.is(codeOf(() => sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: big }, alice)), 'SCHEMA');
  const ok = sealEnvelope({ type: 'Consensus', from: 'alice', ts: NOW, body: new Uint8Array(CONSENSUS_BODY_BYTES_MAX) }, alice);
  assert.is((openEnvelope(ok, opts()).message.body as Uint8Array).length, CONSENSUS_BODY_BYTES_MAX);
});

test('modules register their own types, with our schemas or zod', () => {
  const registry = MessageRegistry.withBuiltins();
  registry.register('Ping', object({ seq: uint(), note: str({ max: 10 }) }));
  registry.register('ZodPing', fromSafeParse(z.object({ seq: z.number().int().min(0) })));
  const ping = sealEnvelope({ type: 'Ping' as 'Consensus', from: 'alice', ts: NOW, body: { seq: 3, note: 'hi' } as unknown as Uint8Array }, alice, registry);
  assert.equal(openEnvelope(ping, opts({ registry })).message.body, { seq: 3, note: 'hi' });
  assert.is(codeOf(() => openEnvelope(ping, opts())), 'UNKNOWN_TYPE');
  const zping = forge({ v: 1, type: 'ZodPing', from: 'alice', id: new Uint8Array(16), ts: NOW, body: { seq: -1 } });
  try {
    openEnvelope(zping, opts({ registry }));
    assert.unreachable();
  } catch (error) {
    assert.is((error as ProtocolError).code, 'SCHEMA');
    assert.is((error as ProtocolError).field, 'body.seq');
  }
  assert.throws(() => registry.register('Ping', object({})), /already registered/);
  assert.throws(() => registry.register('bad name!', object({})), /must match/);
});

test('sealing checks the body too, and sends only the fields the schema knows', () => {
  assert.is(codeOf(() => sealEnvelope({ type: 'PrepareResponse', from: 'alice', ts: NOW, body: { txId, ok: true } }, alice)), 'SCHEMA');
  const body = { txId, ok: false, reason: 'full', secret: 'do not send' } as { txId: Uint8Array; ok: boolean; reason: string };
  const bytes = sealEnvelope({ type: 'PrepareResponse', from: 'alice', ts: NOW, body }, alice);
  const p = decode((decode(bytes) as { p: Uint8Array }).p) as { body: Record<string, unknown> };
  assert.equal(Object.keys(p.body).sort(), ['ok', 'reason', 'txId']);
});

test.run();
