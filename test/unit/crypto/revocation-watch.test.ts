// RevocationWatch (shared/crypto/revocation-watch.ts): a changed ca.crl reaches every target with the
// serials it revokes, by the file poll too; a list the CA did not sign is never handed on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCa, issueCertificate, revokeCertificate, showCertificate, serialKey } from '../../../shared/crypto/pki.ts';
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

test.run();
