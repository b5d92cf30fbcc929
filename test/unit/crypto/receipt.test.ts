// Quorum-signed migration receipts (shared/crypto/receipt.ts): each node signs with its replica
// certificate; a receipt counts only distinct replica certificates of the cluster CA whose signature
// covers exactly these facts, and needs ⌈(n+f+1)/2⌉ of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCertificate } from '../../../shared/crypto/pki.ts';
import { loadTlsMaterial } from '../../../shared/crypto/pki-read.ts';
import { signReceipt, verifyReceipt, type ReceiptFacts } from '../../../shared/crypto/receipt.ts';

const facts: ReceiptFacts = { cluster: 'dc1', account: 'gw-1.site', snapshotId: 'a1b2', position: 17, chain: 'ab'.repeat(32), chunks: 55, replicas: 4 };

test('a quorum of distinct replica signatures over exactly these facts, from the cluster CA', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-receipt-'));
  try {
    const pki = join(dir, 'pki');
    const other = join(dir, 'other');
    await initCa(pki);
    await initCa(other);
    const nodes = ['agg1.dc1', 'agg2.dc1', 'agg3.dc1'];
    for (const name of nodes) await issueCertificate(pki, { name, role: 'replica' });
    await issueCertificate(pki, { name: 'gw-1.site', role: 'agent' });
    await issueCertificate(other, { name: 'agg4.dc1', role: 'replica' });
    const ca = loadTlsMaterial(pki, nodes[0]!).ca;
    const sigs = nodes.map((n) => signReceipt(facts, loadTlsMaterial(pki, n), n));

    const good = verifyReceipt(facts, sigs, ca);
    assert.equal([good.ok, good.valid, good.quorum], [true, nodes, 3]);
    assert.is(verifyReceipt(facts, sigs.slice(0, 2), ca).ok, false, '2 of 4 is not a quorum');
    assert.is(verifyReceipt({ ...facts, replicas: 3 }, sigs.slice(0, 2), ca).ok, false, 'signed for another cluster size');
    assert.is(verifyReceipt({ ...facts, position: 18 }, sigs, ca).valid.length, 0, 'another position: no signature covers it');

    const agent = signReceipt(facts, loadTlsMaterial(pki, 'gw-1.site'), 'gw-1.site');
    const stranger = signReceipt(facts, loadTlsMaterial(other, 'agg4.dc1'), 'agg4.dc1');
    const posing = { ...sigs[1]!, node: 'agg9.dc1' };
    const twice = sigs[0]!;
    const mixed = verifyReceipt(facts, [sigs[0]!, twice, agent, stranger, posing], ca);
    assert.equal(mixed.valid, ['agg1.dc1']);
    assert.is(mixed.problems.length, 4);
    assert.match(mixed.problems.join('\n'), /signed twice/);
    assert.match(mixed.problems.join('\n'), /not a replica certificate/);
    assert.match(mixed.problems.join('\n'), /not issued by the cluster CA/);
    assert.match(mixed.problems.join('\n'), /names agg2\.dc1/);
    const junk = verifyReceipt(facts, [{ node: 'x', certificate: 'not a certificate', signature: '' }], ca);
    assert.equal([junk.ok, junk.problems.length], [false, 1], 'junk is a problem, never an exception');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
