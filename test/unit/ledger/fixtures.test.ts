// Golden ledger fixtures (STYLE: hypercore keeps on-disk files from old versions as fixtures): the committed
// files verify as recorded, and regenerating them gives the same bytes, so the format cannot drift.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LedgerStore, auditLedger, merkleRoot, proofFor, verifyProof } from '../../../shared/ledger/index.ts';
import { fixtureCases, fixturesDir } from '../../fixtures/ledger/make.ts';

const expected: Record<string, { ok: true; height: number; torn?: number } | { ok: false; height: number; reason: string }> = {
  good: { ok: true, height: 4 },
  'torn-tail': { ok: true, height: 4, torn: 37 },
  'tampered-record': { ok: false, height: 2, reason: 'BAD_MERKLE_ROOT' },
  'no-quorum': { ok: false, height: 3, reason: 'NO_QUORUM' },
  'duplicate-signer': { ok: false, height: 1, reason: 'DUPLICATE_SIGNER' },
  'broken-link': { ok: false, height: 3, reason: 'BAD_PREV_HASH' },
  'bad-height': { ok: false, height: 3, reason: 'BAD_HEIGHT' },
  'bad-signature': { ok: false, height: 4, reason: 'BAD_SIGNATURE' },
  'unknown-signer': { ok: false, height: 2, reason: 'UNKNOWN_SIGNER' },
  'bad-record-signature': { ok: false, height: 1, reason: 'BAD_RECORD_SIGNATURE' },
  'corrupt-frame': { ok: false, height: 2, reason: 'CORRUPT_BLOCK' },
};

const onDisk = readdirSync(fixturesDir).filter((n) => statSync(join(fixturesDir, n)).isDirectory()).sort();

test('every fixture directory has an expectation, and the other way round', () => {
  assert.equal(onDisk, Object.keys(expected).sort());
});

for (const name of Object.keys(expected)) {
  test(`fixture ${name} verifies as recorded`, async () => {
    const want = expected[name]!;
    const audit = await auditLedger(join(fixturesDir, name));
    const v = audit.verdict;
    assert.is(v.ok, want.ok);
    assert.is(v.height, want.height);
    if (!v.ok && !want.ok) assert.is(v.reason, want.reason);
    assert.is(audit.tornTail?.bytes, want.ok ? want.torn : undefined);
    assert.is(audit.validators, 4);
    assert.is(audit.quorum, 3);
  });
}

test('regenerating the fixtures gives the committed bytes', () => {
  const cases = fixtureCases();
  assert.equal(cases.map((c) => c.name).sort(), onDisk);
  for (const c of cases) {
    for (const [file, bytes] of Object.entries(c.files)) {
      const committed = new Uint8Array(readFileSync(join(fixturesDir, c.name, file)));
      assert.ok(Buffer.compare(committed, bytes) === 0, `${c.name}/${file} differs from what make.ts produces: the ledger format changed`);
    }
  }
});

test('an auditor proves one record of the good chain from the header alone', async () => {
  const store = await LedgerStore.open(join(fixturesDir, 'good'), { readOnly: true });
  const block = await store.block(2);
  await store.close();
  assert.equal(block.merkleRoot, merkleRoot(block.records));
  for (let i = 0; i < block.records.length; i++) assert.ok(verifyProof(block.records[i]!, proofFor(block.records, i), block.merkleRoot));
});

test.run();
