// RevocationWatch (shared/crypto/revocation-watch.ts): a changed ca.crl reaches every target with the
// serials it revokes, by the file poll too; a list the CA did not sign is never handed on. And how a
// list spreads: installCrl, the nodes' RevocationSync, the gateway's refreshRevocations.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { processStartTicks } from '../../../shared/process-lock.ts';
import { join } from 'node:path';
import { initCa, installCrl, issueCertificate, listRevocations, readCrl, revokeCertificate, showCertificate, serialKey } from '../../../shared/crypto/pki.ts';
import type { NodeTransport } from '../../../shared/http/failover.ts';
import { RevocationSync } from '../../../aggregator/node/revocation-sync.ts';
import { refreshRevocations } from '../../../agent/migrate/revocations.ts';
import { RevocationWatch } from '../../../shared/crypto/revocation-watch.ts';
import { silentLogger } from '../../../shared/log.ts';
import { until } from '../../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), '2baksa-revocation-watch-'));
const ours = join(root, 'ours');
const theirs = join(root, 'theirs');

test.before(async () => {
  await initCa(ours);
  await initCa(theirs);
  for (const name of ['gw-1.site', 'gw-2.site']) await issueCertificate(ours, { name, role: 'agent' });
  await issueCertificate(theirs, { name: 'gw-1.site', role: 'agent' });
  await revokeCertificate(theirs, { name: 'gw-1.site' });
});

test.after(() => rmSync(root, { recursive: true, force: true }));

test('a new list reaches every target by the poll; a foreign list is refused; a removed one clears', async () => {
  const told: { crl: boolean; revoked: string[] }[][] = [[], []];
  const watch = new RevocationWatch({
    dir: ours,
    targets: told.map((log) => (crl: string | undefined, revoked: ReadonlySet<string>) => log.push({ crl: crl !== undefined, revoked: [...revoked] })),
    logger: silentLogger,
    intervalMs: 50,
  });
  try {
    const serial = serialKey(showCertificate(ours, 'gw-1.site').serialNumber);
    await revokeCertificate(ours, { name: 'gw-1.site' });
    await until('the poll to see the new list', () => told[1]!.length === 1, 5_000);
    assert.equal(told, [[{ crl: true, revoked: [serial] }], [{ crl: true, revoked: [serial] }]]);

    // Signed by another CA: logged and left unused (handing it to TLS would refuse every peer).
    copyFileSync(join(ours, 'ca.crl'), join(root, 'good.crl'));
    copyFileSync(join(theirs, 'ca.crl'), join(ours, 'ca.crl'));
    await watch.check();
    assert.is(told[0]!.length, 1);

    copyFileSync(join(root, 'good.crl'), join(ours, 'ca.crl'));
    await watch.check();
    assert.is(told[0]!.length, 1, 'the list the targets hold already is not handed again');

    unlinkSync(join(ours, 'ca.crl'));
    await watch.check();
    assert.equal(told[0]!.at(-1), { crl: false, revoked: [] });
  } finally {
    watch.close();
  }
});

test('installCrl takes only a newer list of its own CA; the sync and the gateway refresh spread it', async () => {
  // Two copies of one PKI directory, as two nodes (or a node and a gateway) keep them.
  const copyA = join(root, 'copy-a');
  const copyB = join(root, 'copy-b');
  for (const dir of [copyA, copyB]) {
    cpSync(ours, dir, { recursive: true });
    rmSync(join(dir, 'ca.crl'), { force: true });
  }
  await revokeCertificate(copyA, { name: 'gw-1.site' });
  const first = readCrl(copyA)!;
  await revokeCertificate(copyA, { name: 'gw-2.site' });
  const second = readCrl(copyA)!;
  assert.equal(await installCrl(copyB, first), { installed: true, revocations: 1 });
  assert.equal(await installCrl(copyB, second), { installed: true, revocations: 2 });
  assert.equal(await installCrl(copyB, first), { installed: false, revocations: 2 }, 'an older list never replaces a newer one');
  await installCrl(copyB, readCrl(theirs)!).then(
    () => assert.unreachable('a list of another CA was installed'),
    (e: { code?: string }) => assert.is(e.code, 'PKI_CRL_INVALID'),
  );
  assert.is(readCrl(copyB), second);

  // A node asks its peers; a gateway asks the cluster and installs in each directory of that CA only.
  const served = (pem: string | undefined): NodeTransport => ({
    request: async <T>() => ({ status: 200, body: { crl: pem ?? null } as T }),
    close: () => undefined,
  });
  rmSync(join(copyB, 'ca.crl'));
  const sync = new RevocationSync({ dir: copyB, peers: [served(undefined), served(second)], logger: silentLogger, intervalMs: 60_000 });
  try {
    await sync.sync();
    assert.is(readCrl(copyB), second);
  } finally {
    sync.close();
  }
  rmSync(join(copyB, 'ca.crl'));
  const target = { server: 'https://unused.example:1', tlsDir: copyB, certName: 'gw-2.site' };
  const took = await refreshRevocations(target, [copyB, theirs, copyB], silentLogger, served(second));
  assert.equal(took, [copyB], "installed where its CA signs it, once, and not in another CA's directory");
  const noCert = { ...target, certName: 'nobody.example' };
  assert.equal(await refreshRevocations(noCert, [copyB], silentLogger), [], 'a turn that cannot connect throws nothing');
  assert.is(readCrl(copyB), second);
});

test('lists revoked apart on two copies of the CA merge where the CA key is, and are never replaced by a shorter one', async () => {
  const copyA = join(root, 'merge-a');
  const copyB = join(root, 'merge-b');
  const gateway = join(root, 'merge-gw');
  for (const dir of [copyA, copyB, gateway]) {
    cpSync(ours, dir, { recursive: true });
    rmSync(join(dir, 'ca.crl'), { force: true });
  }
  rmSync(join(gateway, 'ca.key')); // a gateway holds the CA's certificate only
  const one = serialKey(showCertificate(ours, 'gw-1.site').serialNumber);
  const two = serialKey(showCertificate(ours, 'gw-2.site').serialNumber);
  await revokeCertificate(copyA, { name: 'gw-1.site' });
  await revokeCertificate(copyB, { name: 'gw-2.site', now: new Date(Date.now() + 60_000) }); // the later list
  const listA = readCrl(copyA)!;
  const listB = readCrl(copyB)!;
  await installCrl(gateway, listA);
  assert.equal(await installCrl(gateway, listB), { installed: false, revocations: 1, diverged: true }, 'a later list that lacks an entry is not taken');
  assert.equal((await listRevocations(gateway)).map((r) => r.serialNumber), [one]);
  assert.equal(await installCrl(copyA, listB), { installed: true, revocations: 2, merged: true });
  const merged = readCrl(copyA)!;
  assert.equal((await listRevocations(copyA)).map((r) => r.serialNumber).sort(), [one, two].sort(), 'the union, signed by the CA');
  assert.equal(await installCrl(copyB, merged), { installed: true, revocations: 2 }, 'the union spreads back');
  assert.equal(await installCrl(gateway, merged), { installed: true, revocations: 2 });
  assert.equal(await installCrl(copyB, listB), { installed: false, revocations: 2 }, 'nothing new: kept');
});

test('revocations at once all land: writers of one list wait for each other, in this process and across processes', async () => {
  const dir = join(root, 'at-once');
  cpSync(ours, dir, { recursive: true });
  rmSync(join(dir, 'ca.crl'), { force: true });
  const names = ['a', 'b', 'c', 'd', 'e'].map((n) => `gw-${n}.site`);
  for (const name of names) await issueCertificate(dir, { name, role: 'agent' });
  // Each revocation reads the list, signs a longer one and writes it: without the lock, most were lost.
  await Promise.all(names.map((name) => revokeCertificate(dir, { name })));
  const listed = (await listRevocations(dir)).map((r) => r.serialNumber).sort();
  assert.equal(listed, names.map((name) => serialKey(showCertificate(dir, name).serialNumber)).sort());
  // Another live process holds the lock (our parent stands in for it): a revocation waits, then lands.
  const lock = join(dir, 'ca.crl.lock');
  writeFileSync(lock, JSON.stringify({ pid: process.ppid, startTicks: processStartTicks(process.ppid), host: hostname(), purpose: 'pki revoke', sinceMs: Date.now() }));
  await issueCertificate(dir, { name: 'gw-f.site', role: 'agent' });
  let done = false;
  const waiting = revokeCertificate(dir, { name: 'gw-f.site' }).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.not.ok(done, 'it waits while the other process holds the lock');
  rmSync(lock);
  await waiting;
  assert.is((await listRevocations(dir)).length, names.length + 1);
});

test.run();
