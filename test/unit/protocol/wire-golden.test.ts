// Golden wire fixtures (STYLE: golden fixtures for the wire format): sealing fixed inputs with a fixed key
// gives the committed bytes, and the committed bytes still open.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openEnvelope, transactionDigest, verifyEnvelope, type BlockRecord } from '../../../shared/protocol/index.ts';
import { verify } from '../../../shared/crypto/sign.ts';
import { FIXTURE_TS_MS, SENDER, fixtureMessages, sealFixtures, senderKey, wireDir } from '../../fixtures/wire/make.ts';

const committed = readdirSync(wireDir).filter((f) => f.endsWith('.hex')).sort();
const keyOf = (id: string) => (id === SENDER ? senderKey.publicKey : undefined);

test('every built-in message type has a fixture', () => {
  const types = new Set(committed.map((f) => f.replace(/^\d+-|\.hex$/g, '')));
  for (const t of ['BackupRequest', 'PrepareRequest', 'PrepareResponse', 'CommitRequest', 'CommitResponse', 'BlockRecord', 'Consensus']) {
    assert.ok(types.has(t), `no fixture for ${t}`);
  }
});

test('sealing the fixed inputs today gives the committed bytes', () => {
  const today = sealFixtures();
  assert.equal(today.map((f) => f.name), committed);
  for (const f of today) assert.is(f.hex, readFileSync(join(wireDir, f.name), 'utf8'), `${f.name} changed: the wire format moved`);
});

test('the committed bytes still open to the same messages', () => {
  const messages = fixtureMessages();
  const sender = JSON.parse(readFileSync(join(wireDir, 'sender.json'), 'utf8')) as { id: string; publicKey: string };
  assert.is(sender.publicKey, Buffer.from(senderKey.publicKey).toString('hex'));
  committed.forEach((name, i) => {
    const bytes = new Uint8Array(Buffer.from(readFileSync(join(wireDir, name), 'utf8').trim(), 'hex'));
    const opened = openEnvelope(bytes, { keyOf, now: FIXTURE_TS_MS });
    const expected = messages[i]!;
    assert.is(opened.message.type, expected.type);
    assert.is(opened.message.from, expected.from);
    assert.is(opened.message.to, expected.to);
    assert.is(opened.message.ts, expected.ts);
    assert.equal(opened.message.id, expected.id);
    assert.equal(opened.message.body, expected.body);
    assert.is(verifyEnvelope(bytes, { keyOf }).message.type, expected.type);
  });
});

test('the record signature in the fixtures covers the transaction digest', () => {
  const bytes = new Uint8Array(Buffer.from(readFileSync(join(wireDir, committed.find((f) => f.includes('BlockRecord'))!), 'utf8').trim(), 'hex'));
  const record = openEnvelope(bytes, { keyOf, now: FIXTURE_TS_MS }).message.body as BlockRecord;
  assert.ok(verify(senderKey.publicKey, transactionDigest(record), record.signatures[0]!.signature));
  assert.is(Buffer.from(transactionDigest(record)).toString('hex').length, 64);
});

test.run();
