/**
 * Test helper: a CA in a temp dir with one certificate per role, a second CA (whose certificates our
 * servers must refuse at the TLS handshake), and an account database + API server on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Registry } from 'prom-client';
import { initCa, issueCertificate, loadTlsMaterial, type Role } from '../../../shared/crypto/pki.ts';
import type { Database } from '../../../shared/db/index.ts';
import { silentLogger } from '../../../shared/log.ts';
import { openAccountDb } from '../../../aggregator/accounts/index.ts';
import { LedgerStore } from '../../../shared/ledger/index.ts';
import { ApiClient, LedgerStoreReader, LocalCasSink, createApiServer, type ApiServer, type ApiServerOptions } from '../../../aggregator/api/index.ts';

/** The good ledger fixture of shared/ledger (read-only). */
export const GOOD_LEDGER = new URL('../../fixtures/ledger/good', import.meta.url).pathname;

export const CLIENTS: Record<string, Role> = {
  'admin-1': 'admin',
  'auditor-1': 'auditor',
  'operator-1': 'operator',
  'gw1.example': 'agent',
  'replica-1': 'replica',
};

export interface Fixture {
  dir: string;
  pki: string;
  otherPki: string;
  db: Database;
  server: ApiServer;
  url: string;
  registry: Registry;
  sink: LocalCasSink;
  client(name: string, pki?: string): ApiClient;
  close(): Promise<void>;
}

export async function startFixture(extra: Partial<ApiServerOptions> = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-api-'));
  const pki = join(dir, 'pki');
  const otherPki = join(dir, 'other-pki');
  await initCa(pki);
  await initCa(otherPki, { name: 'evil-ca' });
  await issueCertificate(pki, { name: 'node-1', role: 'replica' });
  for (const [name, role] of Object.entries(CLIENTS)) await issueCertificate(pki, { name, role });
  await issueCertificate(otherPki, { name: 'admin-1', role: 'admin' });
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const registry = new Registry();
  const sink = new LocalCasSink(join(dir, 'store'), { cluster: 'c1', node: 'node-1' });
  const ledger = await LedgerStore.open(GOOD_LEDGER, { readOnly: true });
  const server = await createApiServer({
    db, tls: loadTlsMaterial(pki, 'node-1'), sink, registry, logger: silentLogger, defaultCluster: 'c1', ledger: new LedgerStoreReader(ledger), ...extra,
  });
  const url = await server.listen(0, '127.0.0.1');
  const clients: ApiClient[] = [];
  return {
    dir, pki, otherPki, db, server, url, registry, sink,
    client(name, from = pki) {
      const c = new ApiClient(url, loadTlsMaterial(from, name));
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      await server.close();
      await ledger.close();
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function bytesStream(data: Uint8Array): Readable {
  return Readable.from([Buffer.from(data)]);
}
