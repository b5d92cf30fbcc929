// The cloud side of migration (DESIGN §6) on a 4-node aggregator cluster in this process: offer/need,
// chunk uploads verified by their SHA-256 before anything is stored, a snapshot recorded only when all
// its chunks are, a receipt with the consensus position, reads through another node, and an agent
// certificate that may act only for its own account; for an account bound to an edge site, uploads taken
// only when a quorum-certified block of the site proves them (forged certificates and other bytes refused).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import { issueCertificate, loadTlsMaterial, revokeCertificate } from '../../../shared/crypto/pki.ts';
import type { BaksaError } from '../../../shared/errors.ts';
import { ApiClient } from '../../../shared/http/api-client.ts';
import { initCluster } from '../../../aggregator/node/init.ts';
import { loadNodeConfig } from '../../../aggregator/node/config.ts';
import { AggregatorNode } from '../../../aggregator/node/node.ts';
import { freeBasePort } from '../../../cli/demo-data.ts';
import { verifyReceipt, type ReceiptSignature } from '../../../shared/crypto/receipt.ts';
import { encodeEdgeProof } from '../../../shared/ledger/index.ts';
import { CHUNK_FRAME_HEAD_BYTES, encodeChunkFrameHead, encodeFrames } from '../../../shared/http/frames.ts';
import { certifiedBlock, commitRecord, proofOf, siteValidators } from '../../helpers/edge-ledger.ts';
import { until } from '../../helpers/wait.ts';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function refused(p: Promise<unknown>, code: string): Promise<BaksaError> {
  try {
    await p;
  } catch (e) {
    assert.is((e as BaksaError).code, code, String(e));
    return e as BaksaError;
  }
  throw new Error(`expected ${code}`);
}

test('offer/need, verified chunk uploads, snapshot records with a receipt, reads through another node, own account only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-migration-api-'));
  const nodes: AggregatorNode[] = [];
  try {
    const init = await initCluster({ dir: join(dir, 'c'), nodes: 4, basePort: await freeBasePort(), persistFsync: false });
    for (const n of init.nodes) nodes.push(await AggregatorNode.start(await loadNodeConfig(n.config), { logger: silentLogger, onFatal: (e) => { throw e; } }));
    const admin = new ApiClient(init.nodes[0]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.admin));
    await admin.request('POST', '/v1/accounts', { name: 'gw1.example' });
    await admin.request('POST', '/v1/accounts', { name: 'gw2.example' });
    await issueCertificate(init.pkiDir, { name: 'gw1.example', role: 'agent' });
    await issueCertificate(init.pkiDir, { name: 'gw2.example', role: 'agent' });
    const site = new ApiClient(init.nodes[2]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw2.example'));
    const agent = new ApiClient(init.nodes[1]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw1.example'));
    const reader = new ApiClient(init.nodes[3]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw1.example'));
    const base = '/v1/accounts/gw1.example';
    try {
      const chunks = [randomBytes(300_000), randomBytes(5), randomBytes(70_000)].map((bytes) => ({ id: sha(Buffer.concat([bytes, Buffer.from('id')])), bytes, sha256: sha(bytes) }));
      const offer = chunks.map((c) => ({ id: c.id, length: c.bytes.length - 1, sealedLength: c.bytes.length, sha256: c.sha256 }));
      assert.equal((await agent.request<{ need: string[] }>('POST', `${base}/migration/need`, { chunks: offer })).body.need, chunks.map((c) => c.id));

      // A body that is not what was offered is refused, and nothing is stored or counted.
      const e = await refused(agent.request('PUT', `${base}/chunks/${chunks[0]!.id}?length=1&sha256=${chunks[0]!.sha256}`, randomBytes(300_000)), 'CHUNK_HASH_MISMATCH');
      assert.match(e.message, /nothing was stored/);
      assert.is((await agent.request<{ objects: unknown[] }>('GET', `${base}/backups`)).body.objects.length, 0);

      // A snapshot naming chunks that are not stored is refused.
      const snap = { createdMs: 1_700_000_000_000, rootChunks: [chunks[0]!.id], chunks: chunks.map((c) => c.id) };
      const missing = await refused(agent.request('PUT', `${base}/snapshots/s1`, Buffer.from(JSON.stringify(snap))), 'CHUNKS_MISSING');
      assert.is(missing.details?.count, 3);

      for (const c of chunks) {
        const r = await agent.request<{ stored: boolean }>('PUT', `${base}/chunks/${c.id}?length=${c.bytes.length - 1}&sha256=${c.sha256}`, c.bytes);
        assert.is(r.status, 201);
        assert.ok(r.body.stored);
      }
      const again = await agent.request<{ stored: boolean }>('PUT', `${base}/chunks/${chunks[1]!.id}?length=4&sha256=${chunks[1]!.sha256}`, chunks[1]!.bytes);
      assert.equal([again.status, again.body.stored], [200, false]);
      assert.equal((await agent.request<{ need: string[] }>('POST', `${base}/migration/need`, { chunks: offer })).body.need, [], 'nothing travels twice');
      // Uploads are queued on the node and recorded through consensus in the background (`need` counts
      // them at once); the snapshot's record takes whatever is still queued.

      type Receipt = { snapshotId: string; account: string; position: number; chain: string; chunks: number; cluster: string; replicas: number; signatures: ReceiptSignature[] };
      const receipt = await agent.request<Receipt>('PUT', `${base}/snapshots/s1`, Buffer.from(JSON.stringify(snap)));
      assert.is(receipt.status, 201);
      assert.is(receipt.body.chunks, 3);
      assert.ok(Number.isInteger(receipt.body.position) && receipt.body.position > 0);
      assert.match(receipt.body.chain, /^[0-9a-f]{64}$/);
      // Signed by every node that finds the record in its own ordered log: a quorum of the 4.
      const ca = loadTlsMaterial(init.pkiDir, 'gw1.example').ca;
      const facts = (r: Receipt) => ({ cluster: r.cluster, account: r.account, snapshotId: r.snapshotId, position: r.position, chain: r.chain, chunks: r.chunks, replicas: r.replicas });
      const verdict = verifyReceipt(facts(receipt.body), receipt.body.signatures, ca);
      assert.is(receipt.body.replicas, 4);
      assert.ok(verdict.ok && verdict.valid.length >= 3, JSON.stringify(verdict));
      assert.not.ok(verifyReceipt({ ...facts(receipt.body), chunks: 4 }, receipt.body.signatures, ca).ok, 'the signatures cover the facts');
      const twice = await agent.request<Receipt>('PUT', `${base}/snapshots/s1`, Buffer.from(JSON.stringify(snap)));
      assert.is(twice.status, 200, 'recording it again is a no-op');
      assert.is(twice.body.position, receipt.body.position, 'the same receipt again, found in the log');
      assert.ok(verifyReceipt(facts(twice.body), twice.body.signatures, ca).ok);
      const recorded = (await agent.request<{ objects: Array<{ objectId: string; bytes: number }> }>('GET', `${base}/backups`)).body.objects;
      assert.equal(recorded.map((o) => o.objectId).sort(), [...chunks.map((c) => `chunk:${c.id}`), 'snapshot:s1'].sort());
      assert.is(recorded.reduce((n, o) => n + o.bytes, 0), chunks.reduce((n, c) => n + c.bytes.length, 0), 'chunks count in the usage');

      // Batched uploads: each chunk is checked on its own; one that fails does not fail the others.
      const fresh = [randomBytes(120_000), randomBytes(9)].map((bytes) => ({ id: sha(Buffer.concat([bytes, Buffer.from('id')])), bytes, sha256: sha(bytes) }));
      const frame = (c: { id: string; bytes: Buffer; sha256: string }, sha256 = c.sha256) => ({ head: encodeChunkFrameHead({ id: c.id, sha256, length: c.bytes.length - 1 }), bytes: c.bytes });
      const batch = encodeFrames([frame(fresh[0]!), frame(fresh[1]!, sha(randomBytes(3))), frame(chunks[1]!), frame(fresh[0]!)], CHUNK_FRAME_HEAD_BYTES);
      type Result = { id: string; stored?: boolean; error?: { code: string } };
      const results = (await agent.request<{ results: Result[] }>('POST', `${base}/chunks`, batch)).body.results;
      assert.equal(results.map((r) => [r.id, r.stored ?? r.error?.code]), [
        [fresh[0]!.id, true], [fresh[1]!.id, 'CHUNK_HASH_MISMATCH'], [chunks[1]!.id, false], [fresh[0]!.id, 'BAD_REQUEST'],
      ]);
      assert.equal((await agent.request<{ need: string[] }>('POST', `${base}/migration/need`, { chunks: fresh.map((c) => ({ id: c.id, length: c.bytes.length - 1, sealedLength: c.bytes.length })) })).body.need, [fresh[1]!.id]);
      assert.ok(Buffer.from((await agent.request<Buffer>('GET', `${base}/chunks/${fresh[0]!.id}`, undefined, { responseBytes: true })).body).equals(fresh[0]!.bytes));
      // A body that is not a batch, or one past the batch's count, is refused whole.
      await refused(agent.request('POST', `${base}/chunks`, randomBytes(100)), 'BAD_REQUEST');
      await refused(agent.request('POST', `${base}/chunks`, encodeFrames(Array.from({ length: 65 }, () => frame(fresh[1]!)), CHUNK_FRAME_HEAD_BYTES)), 'BAD_REQUEST');
      await refused(agent.request('POST', '/v1/accounts/gw2.example/chunks', encodeFrames([frame(fresh[1]!)], CHUNK_FRAME_HEAD_BYTES)), 'FORBIDDEN');

      // Another node serves the snapshot list and the chunks, byte-identical.
      await new Promise((r) => setTimeout(r, 300));
      const snaps = (await reader.request<Array<{ snapshotId: string; rootChunks: string[]; chunkCount: number }>>('GET', `${base}/snapshots`)).body;
      assert.equal(snaps.map((s) => [s.snapshotId, s.rootChunks, s.chunkCount]), [['s1', [chunks[0]!.id], 3]]);
      const info = (await reader.request<Array<{ id: string; length: number; sealedLength: number; sha256: string }>>('POST', `${base}/chunks/info`, { ids: chunks.map((c) => c.id) })).body;
      assert.equal(info.map((i) => [i.id, i.length, i.sealedLength, i.sha256]), chunks.map((c) => [c.id, c.bytes.length - 1, c.bytes.length, c.sha256]));
      for (const c of chunks) {
        const back = await reader.request<Buffer>('GET', `${base}/chunks/${c.id}`, undefined, { responseBytes: true });
        assert.ok(Buffer.from(back.body).equals(c.bytes));
      }
      // Chunks count in the account's usage like any stored object.
      const statuses = await Promise.all(nodes.map((n) => n.status()));
      assert.is(new Set(statuses.map((s) => s.accountsDigest)).size, 1);

      // An agent acts only for its own account.
      await refused(agent.request('POST', '/v1/accounts/gw2.example/migration/need', { chunks: offer }), 'FORBIDDEN');

      // Ledger-verified migration: gw2.example is bound to edge site plant-7; its uploads need proofs.
      const registered = await admin.request<{ name: string; accounts: string[] }>('PUT', '/v1/sites/plant-7', { validators: siteValidators, accounts: ['gw2.example'] });
      assert.equal([registered.body.name, registered.body.accounts], ['plant-7', ['gw2.example']]);
      await refused(agent.request('PUT', '/v1/sites/plant-8', { validators: siteValidators }), 'FORBIDDEN');
      const objects = [randomBytes(200_000), randomBytes(3)];
      const { record, ids } = commitRecord('gw2.example', objects, 'plant-7 tx 1');
      const other = commitRecord('gw1.example', [randomBytes(10)], 'plant-7 tx 2');
      const block = certifiedBlock(undefined, [other.record, record]);
      const gw2 = '/v1/accounts/gw2.example';
      const put = (i: number, bytes = objects[i]!) => site.request<{ stored: boolean }>('PUT', `${gw2}/chunks/${ids[i]}?length=${bytes.length}&sha256=${sha(bytes)}`, bytes);
      const offered = objects.map((o, i) => ({ id: ids[i]!, length: o.length, sealedLength: o.length, sha256: sha(o) }));
      const need = () => site.request<{ need: string[]; site: string | null }>('POST', `${gw2}/migration/need`, { chunks: offered });
      // The site was registered through node 1; node 3 answers once it has executed that request too.
      await until('node 3 to know site plant-7', async () => (await need()).body.site === 'plant-7', 10_000);
      assert.equal((await need()).body, { need: ids, site: 'plant-7' });
      assert.is((await agent.request<{ site: string | null }>('POST', `${base}/migration/need`, { chunks: offer })).body.site, null, 'an account of no site needs no proof');
      await refused(put(0), 'EDGE_PROOF_MISSING');
      // A forged certificate (one signature flipped: below the quorum of 2) proves nothing; nothing is stored.
      const forged = proofOf('plant-7', block, [1]);
      const sig = forged.blocks[0]!.qc[1]!;
      forged.blocks[0]!.qc[1] = { ...sig, signature: Uint8Array.from(sig.signature, (x, i) => (i === 5 ? x ^ 0x20 : x)) };
      const bad = await refused(site.request('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(forged)), 'EDGE_PROOF_INVALID');
      assert.match(bad.message, /BAD_SIGNATURE.*nothing was proven/);
      await refused(put(0), 'EDGE_PROOF_MISSING');
      // Another account's record, junk bytes and a proof of another site are refused too.
      await refused(site.request('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(proofOf('plant-7', block, [0]))), 'EDGE_PROOF_INVALID');
      await refused(site.request('POST', `${gw2}/migration/edge-proofs`, randomBytes(64)), 'BAD_REQUEST');
      await refused(site.request('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(proofOf('plant-8', block, [1]))), 'EDGE_SITE_UNKNOWN');
      assert.is((await site.request<{ objects: unknown[] }>('GET', `${gw2}/backups`)).body.objects.length, 0);
      // The true certificate proves both chunks; bytes other than the committed ones are still refused.
      assert.equal((await site.request<{ chunks: number }>('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(proofOf('plant-7', block, [1])))).body, { site: 'plant-7', chunks: 2 });
      const flipped = Buffer.from(objects[0]!);
      flipped[1000] = flipped[1000]! ^ 1;
      const mismatch = await refused(put(0, flipped), 'EDGE_PROOF_MISMATCH');
      assert.match(mismatch.message, /nothing was stored/);
      // In a batch, the same checks hold chunk by chunk: the bytes that are not the committed ones fail alone.
      const proven = encodeFrames([
        { head: encodeChunkFrameHead({ id: ids[0]!, sha256: sha(flipped), length: flipped.length }), bytes: flipped },
        { head: encodeChunkFrameHead({ id: ids[1]!, sha256: sha(objects[1]!), length: objects[1]!.length }), bytes: objects[1]! },
      ], CHUNK_FRAME_HEAD_BYTES);
      const provenResults = (await site.request<{ results: Result[] }>('POST', `${gw2}/chunks`, proven)).body.results;
      assert.equal(provenResults.map((r) => r.stored ?? r.error?.code), ['EDGE_PROOF_MISMATCH', true]);
      assert.is((await put(0)).status, 201);
      // Through another node (fail-over), the proof has to come again.
      const elsewhere = new ApiClient(init.nodes[0]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw2.example'));
      try {
        const data = randomBytes(999);
        const third = commitRecord('gw2.example', [data], 'plant-7 tx 3');
        const next = certifiedBlock(block, [third.record]);
        await site.request('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(proofOf('plant-7', next, [0])));
        const upload = () => elsewhere.request('PUT', `${gw2}/chunks/${third.ids[0]}?length=${data.length}&sha256=${sha(data)}`, data);
        await refused(upload(), 'EDGE_PROOF_MISSING');
        await elsewhere.request('POST', `${gw2}/migration/edge-proofs`, encodeEdgeProof(proofOf('plant-7', next, [0])));
        assert.is((await upload()).status, 201);
      } finally {
        elsewhere.close();
      }
      const sites = (await admin.request<{ sites: Array<{ name: string }> }>('GET', '/v1/sites')).body.sites;
      assert.equal(sites.map((s) => s.name), ['plant-7']);

      // A gateway the CA revokes (`pki revoke` writes pki/ca.crl): each node's watch reads the file and
      // refuses the certificate within seconds, its open connection included; the others are served.
      await revokeCertificate(init.pkiDir, { name: 'gw2.example', reason: 'key-compromise' });
      await until('node 3 to refuse the revoked gateway', async () => site.request('GET', `${gw2}/backups`).then(() => false, () => true), 15_000);
      assert.is((await agent.request('GET', `${base}/backups`)).status, 200, 'the other gateway is served');
      // Every node serves the list, to gateways and to the other nodes (RevocationSync).
      const served = (await agent.request<{ crl: string | null }>('GET', '/v1/pki/crl')).body.crl;
      assert.is(served, readFileSync(join(init.pkiDir, 'ca.crl'), 'utf8'));
    } finally {
      agent.close();
      reader.close();
      site.close();
      admin.close();
    }
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hard limit holds while uploads wait for their records: parallel uploads past it are refused; an account stored only in other regions is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-migration-quota-'));
  const nodes: AggregatorNode[] = [];
  try {
    const init = await initCluster({ dir: join(dir, 'c'), nodes: 4, basePort: await freeBasePort(), persistFsync: false, region: 'eu-west' });
    for (const n of init.nodes) nodes.push(await AggregatorNode.start(await loadNodeConfig(n.config), { logger: silentLogger, onFatal: (e) => { throw e; } }));
    const admin = new ApiClient(init.nodes[0]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.admin));
    await admin.request('POST', '/v1/accounts', { name: 'gw3.example', hardBytes: 1_000_000 });
    await issueCertificate(init.pkiDir, { name: 'gw3.example', role: 'agent' });
    const agent = new ApiClient(init.nodes[1]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw3.example'));
    const base = '/v1/accounts/gw3.example';
    try {
      // Eight 200 kB chunks at once, 1.6 MB against a 1 MB limit: uploads are answered before their
      // records count them, so only what the node holds unrecorded can keep the limit.
      const chunks = Array.from({ length: 8 }, () => randomBytes(200_000)).map((bytes) => ({ id: sha(Buffer.concat([bytes, Buffer.from('id')])), bytes, sha256: sha(bytes) }));
      const outcomes = await Promise.all(
        chunks.map((c) =>
          agent.request<{ stored: boolean }>('PUT', `${base}/chunks/${c.id}?length=${c.bytes.length - 1}&sha256=${c.sha256}`, c.bytes).then(
            (r) => (r.body.stored ? 'stored' : 'not stored'),
            (e: BaksaError) => e,
          ),
        ),
      );
      const stored = outcomes.filter((o) => o === 'stored').length;
      const refusals = outcomes.filter((o): o is BaksaError => typeof o !== 'string');
      assert.is(stored, 5, JSON.stringify(outcomes.map((o) => (typeof o === 'string' ? o : o.code))));
      assert.is(refusals.length, 3);
      for (const e of refusals) {
        assert.is(e.code, 'QUOTA_EXCEEDED');
        assert.match(e.message, /^migration refused: account gw3\.example is at its hard limit/);
      }
      // Once recorded (the snapshot's record takes what is still queued), the usage is within the limit.
      const kept = chunks.filter((_, i) => outcomes[i] === 'stored').map((c) => c.id);
      const snap = { createdMs: 1_700_000_000_000, rootChunks: [kept[0]], chunks: kept };
      assert.is((await agent.request('PUT', `${base}/snapshots/s1`, Buffer.from(JSON.stringify(snap)))).status, 201);
      const info = (await admin.request<{ usedBytes: number; hardBytes: number }>('GET', '/v1/accounts/gw3.example')).body;
      assert.ok(info.usedBytes <= info.hardBytes && info.usedBytes >= 1_000_000 - 200_000, `used ${info.usedBytes} of ${info.hardBytes}`);

      // The space report through any node covers every node (each asked for its volumes), and after a
      // node stops, its last figures.
      type NodeRow = { cluster: string; node: string; volumes: number; usedBytes: number; figures: string; asOfMs: number | null };
      const byNode = async () => (await admin.request<{ by: string; rows: NodeRow[] }>('GET', '/v1/reports/space?by=node')).body.rows;
      const rows = await byNode();
      assert.equal(rows.map((r) => r.node), init.nodes.map((n) => n.name));
      assert.ok(rows.every((r) => r.cluster === 'dc1' && r.volumes === 1 && r.usedBytes > 0 && r.figures === 'now' && r.asOfMs === null), JSON.stringify(rows));
      await nodes[3]!.stop();
      const stoppedAt = Date.now();
      const after = await byNode();
      assert.equal(after.map((r) => [r.node, r.usedBytes]), rows.map((r) => [r.node, r.usedBytes]));
      // The stopped node's figures are the last it gave, and say when; the others are read now.
      assert.equal(after.map((r) => r.figures), ['now', 'now', 'now', 'last-known']);
      assert.ok(after[3]!.asOfMs !== null && after[3]!.asOfMs <= stoppedAt, JSON.stringify(after[3]));

      // Data residency: this cluster is in eu-west. An account allowed only us-east is refused at the
      // offer and at the upload, before anything is stored; allowed eu-west too, it is taken.
      await admin.request('PUT', '/v1/accounts/gw3.example/limits', { softBytes: null, hardBytes: null });
      await admin.request('PATCH', '/v1/accounts/gw3.example', { regions: ['us-east'] });
      const c = { bytes: randomBytes(1000) };
      const id = sha(Buffer.concat([c.bytes, Buffer.from('id')]));
      const offer = { chunks: [{ id, length: 999, sealedLength: 1000 }] };
      const e = await refused(agent.request('POST', `${base}/migration/need`, offer), 'RESIDENCY_VIOLATION');
      assert.match(e.message, /^migration refused: account gw3\.example may be stored only in region us-east, and this cluster is in region eu-west/);
      assert.match(e.hint ?? '', /--regions us-east,eu-west/);
      const upload = () => agent.request('PUT', `${base}/chunks/${id}?length=999&sha256=${sha(c.bytes)}`, c.bytes);
      await refused(upload(), 'RESIDENCY_VIOLATION');
      await refused(agent.request('POST', `${base}/backups`, randomBytes(10)), 'RESIDENCY_VIOLATION');
      await admin.request('PATCH', '/v1/accounts/gw3.example', { regions: ['us-east', 'eu-west'] });
      assert.equal((await agent.request<{ need: string[] }>('POST', `${base}/migration/need`, offer)).body.need, [id]);
      assert.is((await upload()).status, 201);

      // Deleting the account frees its shards on every node that is up (node 4 is stopped above).
      const shardFiles = (i: number) => {
        const committed = join(dir, 'c', init.nodes[i]!.name, 'data', 'volume1', 'committed');
        return existsSync(committed) ? readdirSync(committed, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0;
      };
      const before = [0, 1, 2].map(shardFiles);
      assert.ok(before.every((n) => n > 0), `shards before: ${before}`);
      const deleted = (await admin.request<{ objectsToDelete: string[] }>('DELETE', '/v1/accounts/gw3.example')).body;
      assert.ok(deleted.objectsToDelete.length >= 6, JSON.stringify(deleted.objectsToDelete));
      assert.equal([0, 1, 2].map(shardFiles), [0, 0, 0], 'no shard of the deleted account is left');

      // Node 4 was down: it still holds its shards of the deleted chunks. Back up, with another
      // account's chunk stored meanwhile, a sweep through it frees exactly those.
      const left = shardFiles(3);
      assert.ok(left >= 5, `node 4 kept its shards: ${left}`);
      nodes[3] = await AggregatorNode.start(await loadNodeConfig(init.nodes[3]!.config), { logger: silentLogger, onFatal: (e) => { throw e; } });
      await admin.request('POST', '/v1/accounts', { name: 'gw4.example' });
      await issueCertificate(init.pkiDir, { name: 'gw4.example', role: 'agent' });
      const gw4 = new ApiClient(init.nodes[3]!.apiUrl, loadTlsMaterial(init.pkiDir, 'gw4.example'));
      const keep = randomBytes(50_000);
      const keepId = sha(Buffer.concat([keep, Buffer.from('id')]));
      try {
        await until('node 4 has executed the new account', async () => (await gw4.request('POST', '/v1/accounts/gw4.example/migration/need', { chunks: [{ id: keepId, length: 49_999, sealedLength: 50_000 }] }).then(() => true, () => false)), 20_000);
        assert.is((await gw4.request('PUT', `/v1/accounts/gw4.example/chunks/${keepId}?length=49999&sha256=${sha(keep)}`, keep)).status, 201);
        assert.is(shardFiles(3), left + 1);
        const node4Admin = new ApiClient(init.nodes[3]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.admin));
        try {
          type Sweep = { dryRun: boolean; shards: number; named: number; recent: number; unnamed: number; freed: number };
          const sweep = async (body: unknown) => (await node4Admin.request<Sweep>('POST', '/v1/node/sweep', body)).body;
          const fresh = await sweep({});
          assert.equal([fresh.dryRun, fresh.shards, fresh.named, fresh.recent, fresh.unnamed, fresh.freed], [true, left + 1, 1, left, 0, 0], 'all written within the default grace of a day');
          const dry = await sweep({ graceS: 0 });
          assert.equal([dry.named, dry.unnamed, dry.freed], [1, left, 0]);
          assert.is(shardFiles(3), left + 1, 'a dry run frees nothing');
          // A node that does not answer stops the sweep: it may hold chunks queued for their records.
          await nodes[2]!.stop();
          const stopped = await refused(node4Admin.request('POST', '/v1/node/sweep', { delete: true, graceS: 0 }), 'SWEEP_STOPPED');
          assert.match(stopped.message, new RegExp(`node ${init.nodes[2]!.name.replace(/\./g, '\\.')} did not say`));
          assert.is(shardFiles(3), left + 1);
          nodes[2] = await AggregatorNode.start(await loadNodeConfig(init.nodes[2]!.config), { logger: silentLogger, onFatal: (e) => { throw e; } });
          const done = await sweep({ delete: true, graceS: 0 });
          assert.equal([done.dryRun, done.named, done.unnamed, done.freed], [false, 1, left, left]);
          assert.is(shardFiles(3), 1);
          const back = await gw4.request<Buffer>('GET', `/v1/accounts/gw4.example/chunks/${keepId}`, undefined, { responseBytes: true });
          assert.ok(Buffer.from(back.body).equals(keep), 'what is named stays readable');
        } finally {
          node4Admin.close();
        }
      } finally {
        gw4.close();
      }
    } finally {
      agent.close();
      admin.close();
    }
  } finally {
    for (const n of nodes) await n.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
