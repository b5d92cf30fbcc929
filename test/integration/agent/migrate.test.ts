// Migration end to end against a real aggregator cluster: `2baksa aggregator init` writes 4 nodes, each
// runs as its own `2baksa aggregator run` process (PBFT, account database, REST API with the migration
// routes, erasure-coded chunk storage over the nodes). The gateway side is the real CLI:
// - the account is created, the agent gets an agent certificate for it, backs up generated gateway data
//   twice (the second snapshot shares most chunks with the first);
// - `migrate` sends both snapshots, oldest first (one priority class), and keeps the receipts; run again it sends nothing;
//   with the receipts deleted (a crash after the cloud recorded) it offers everything and sends nothing;
// - the agent's shard store and catalog are deleted; `restore latest --from cloud --verify` through
//   another node gives the tree back byte for byte, and `snapshots --from cloud` lists both;
// - kill -9 of the node a migration talks to: it goes on through another it learnt from the cluster,
//   and a restore given only the dead node reads through the nodes the gateway remembered;
// - missing and bad flags are refused naming the flag, another account's certificate is refused.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendLogs, freeBasePort, generateGatewayData } from '../../../cli/demo-data.ts';
import { Catalog } from '../../../agent/catalog/index.ts';
import { listRevocations, serialKey, showCertificate } from '../../../shared/crypto/pki.ts';
import { assertSameTree, snapshotTree } from '../../unit/agent/_helpers.ts';
import { cli, jsonLines, repoRoot, runCli, type RunningCli } from '../../helpers/cli.ts';
import { until } from '../../helpers/wait.ts';

const ACCOUNT = 'gw1.migrate.example';

const startNode = (config: string): RunningCli => runCli(['aggregator', 'run', '--config', config, '--json']);

/** Runs a command that must succeed; returns its last JSON line. */
async function ok(args: string[]): Promise<Record<string, unknown>> {
  const r = await cli(args);
  assert.is(r.code, 0, `2baksa ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  const lines = jsonLines(r.stdout);
  return (lines.at(-1) ?? {}) as Record<string, unknown>;
}

test('migrate to a 4-node cluster, re-run sends nothing, restore from the cloud with the local store gone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-migrate-'));
  const nodes: RunningCli[] = [];
  try {
    const basePort = await freeBasePort();
    const init = (await ok(['aggregator', 'init', '--dir', join(dir, 'cluster'), '--nodes', '4', '--base-port', String(basePort), '--json'])) as unknown as {
      nodes: Array<{ name: string; config: string; apiUrl: string }>;
      pkiDir: string;
      certificates: { admin: string };
    };
    // Node 2 tells gateways to reach node 4 by another name (replicas[].agentUrl: NAT, a balancer).
    const config2 = JSON.parse(readFileSync(init.nodes[1]!.config, 'utf8')) as { replicas: Array<Record<string, unknown>> };
    const node4Url = init.nodes[3]!.apiUrl.replace('127.0.0.1', 'localhost');
    config2.replicas[3]!.agentUrl = node4Url;
    writeFileSync(init.nodes[1]!.config, JSON.stringify(config2, null, 2));
    for (const n of init.nodes) nodes.push(startNode(n.config));
    for (const [i, n] of nodes.entries()) {
      await until(`node ${i + 1} ready`, () => n.out().includes('"event":"ready"') || n.child.exitCode !== null, 60_000);
      assert.ok(n.out().includes('"event":"ready"'), `node ${i + 1} did not start:\n${n.err().slice(-3000)}`);
    }
    const pki = init.pkiDir;
    const admin = ['--server', init.nodes[0]!.apiUrl, '--tls-dir', pki, '--cert-name', init.certificates.admin];
    await ok(['accounts', 'create', '--name', ACCOUNT, ...admin, '--json']);
    await ok(['pki', 'issue', '--dir', pki, '--name', ACCOUNT, '--role', 'agent', '--json']);
    await ok(['pki', 'issue', '--dir', pki, '--name', 'gw2.migrate.example', '--role', 'agent', '--json']);

    // The gateway: two snapshots of generated data.
    const src = join(dir, 'gateway-data');
    await generateGatewayData(src, 6 * 1024 * 1024);
    const state = join(dir, 'state');
    await ok(['agent', 'init', '--state', state, '--name', ACCOUNT, '--profile', 'small-arm', '--source', src, '--json']);
    const b1 = jsonLines((await cli(['backup', '--state', state, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    await appendLogs(src, 6 * 1024 * 1024, 0.05);
    const b2 = jsonLines((await cli(['backup', '--state', state, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    assert.ok(b1.snapshot_id && b2.snapshot_id && b1.snapshot_id !== b2.snapshot_id);

    const cloud = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', pki, '--cert-name', ACCOUNT];

    // First run: both snapshots, oldest first; the second sends only what the first did not.
    // small-arm migrates 01:00–05:00 at 256 KiB/s: the test runs now, uncapped.
    const now = ['--ignore-window', '--bandwidth', '0'];
    const m1 = await ok(['migrate', '--state', state, ...cloud(1), ...now, '--json']);
    assert.is(m1.message_type, 'summary');
    assert.is(m1.account, ACCOUNT);
    assert.is(m1.snapshots_migrated, 2);
    assert.is(m1.snapshots_skipped, 0);
    const snaps1 = m1.snapshots as Array<{ snapshot_id: string; priority: string; status: string; chunks: number; chunks_sent: number; receipt: { position: number | null; cluster: string; chunks: number } }>;
    assert.equal(snaps1.map((s) => s.snapshot_id), [b1.snapshot_id, b2.snapshot_id]);
    // small-arm sets no migration.priority: both are of class normal, so oldest first.
    assert.equal(snaps1.map((s) => s.priority), ['normal', 'normal']);
    assert.ok(snaps1.every((s) => s.receipt.position !== null && s.receipt.chunks === s.chunks));
    // The logs grew (their last chunks changed), the blobs did not: those are not sent again.
    assert.ok(snaps1[1]!.chunks_sent < snaps1[1]!.chunks, `the second snapshot re-uses the first one's chunks (${snaps1[1]!.chunks_sent} of ${snaps1[1]!.chunks} sent)`);
    assert.is(snaps1[0]!.chunks_sent, snaps1[0]!.chunks, 'an empty cloud needs every chunk of the first snapshot');
    assert.ok((m1.chunks_sent as number) > 0 && (m1.bytes_sent as number) > 0);
    assert.is(m1.chunks_deduplicated, (m1.chunks_offered as number) - (m1.chunks_sent as number));

    // Again: both skipped, nothing sent.
    const m2 = await ok(['migrate', '--state', state, ...cloud(2), ...now, '--json']);
    assert.is(m2.snapshots_migrated, 0);
    assert.is(m2.snapshots_skipped, 2);
    assert.is(m2.chunks_sent, 0);
    assert.is(m2.bytes_sent, 0);
    // With nothing to send no request is made, but a certificate that is not there is still named.
    const typo = await cli(['migrate', '--state', state, '--server', init.nodes[2]!.apiUrl, '--tls-dir', pki, '--cert-name', 'gw9.migrate.example', ...now]);
    assert.is.not(typo.code, 0, typo.stdout);
    assert.match(typo.stderr, /PKI_FILE_MISSING/);
    assert.match(typo.stderr, /gw9\.migrate\.example\.crt/);

    // The receipts lost (a crash after the cloud recorded): everything is offered, nothing travels,
    // the cloud answers with the receipts it already gave.
    const catalog = await Catalog.open(join(state, 'catalog.db'));
    await catalog.db.run("DELETE FROM meta WHERE key LIKE 'cloud-receipt:%'");
    await catalog.close();
    const m3 = await ok(['migrate', '--state', state, ...cloud(3), '--snapshot', 'latest', ...now, '--json']);
    assert.is(m3.snapshots_migrated, 1);
    assert.is(m3.chunks_sent, 0);
    assert.ok((m3.chunks_offered as number) > 0);
    assert.is(m3.chunks_deduplicated, m3.chunks_offered);
    const m4 = await ok(['migrate', '--state', state, ...cloud(0), ...now, '--json']);
    assert.is(m4.snapshots_migrated, 1);
    assert.is(m4.snapshots_skipped, 1);
    assert.is(m4.chunks_sent, 0);

    // The cloud's list, as the agent sees it.
    const listed = await cli(['snapshots', '--state', state, '--from', 'cloud', ...cloud(0), '--json']);
    assert.is(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as Array<{ id: string }>).map((s) => s.id), [b1.snapshot_id, b2.snapshot_id]);

    // The gateway loses its shard store (and its catalog): restore from the cloud through node 3.
    rmSync(join(state, 'shards'), { recursive: true, force: true });
    for (const f of ['catalog.db', 'catalog.db-wal', 'catalog.db-shm']) rmSync(join(state, f), { force: true });
    const local = await cli(['restore', 'latest', '--state', state, '--target', join(dir, 'nothing')]);
    assert.is.not(local.code, 0, 'nothing is left locally');
    const target = join(dir, 'restored');
    const r = await cli(['restore', 'latest', '--from', 'cloud', ...cloud(2), '--state', state, '--target', target, '--verify', '--json']);
    assert.is(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const lines = jsonLines(r.stdout);
    const summary = lines.find((l) => l.message_type === 'summary')!;
    assert.is(summary.snapshot, b2.snapshot_id);
    assert.is(lines.find((l) => l.message_type === 'verify')?.ok, true);
    assertSameTree(snapshotTree(join(target, src)), snapshotTree(src));
    // An older snapshot by id prefix, with --path.
    const one = join(dir, 'one');
    const first = await cli(['restore', String(b1.snapshot_id).slice(0, 10), '--from', 'cloud', ...cloud(1), '--state', state, '--target', one, '--path', join(src, 'blobs')]);
    assert.is(first.code, 0, first.stderr);
    assertSameTree(snapshotTree(join(one, src, 'blobs')), snapshotTree(join(src, 'blobs')));

    // Flags: each missing or bad one is named; another account's certificate is refused.
    const noServer = await cli(['migrate', '--state', state, '--tls-dir', pki, '--cert-name', ACCOUNT]);
    assert.is(noServer.code, 2);
    assert.match(noServer.stderr, '--server');
    const httpServer = await cli(['migrate', '--state', state, '--server', 'http://127.0.0.1:1', '--tls-dir', pki, '--cert-name', ACCOUNT]);
    assert.is(httpServer.code, 2);
    assert.match(httpServer.stderr, '--server');
    const noDir = await cli(['migrate', '--state', state, '--server', init.nodes[0]!.apiUrl, '--tls-dir', join(dir, 'nope'), '--cert-name', ACCOUNT]);
    assert.is(noDir.code, 2);
    assert.match(noDir.stderr, '--tls-dir');
    const noCert = await cli(['restore', 'latest', '--from', 'cloud', '--state', state, '--target', target, '--server', init.nodes[0]!.apiUrl, '--tls-dir', pki]);
    assert.is(noCert.code, 2);
    assert.match(noCert.stderr, '--cert-name');
    const badFrom = await cli(['restore', 'latest', '--from', 'tape', '--state', state, '--target', target]);
    assert.is(badFrom.code, 2);
    assert.match(badFrom.stderr, '--from');
    const stray = await cli(['restore', 'latest', '--state', state, '--target', target, '--server', init.nodes[0]!.apiUrl]);
    assert.is(stray.code, 2);
    assert.match(stray.stderr, '--from cloud');
    const other = await cli(['snapshots', '--state', state, '--from', 'cloud', '--server', init.nodes[0]!.apiUrl, '--tls-dir', pki, '--cert-name', 'gw2.migrate.example', '--json']);
    assert.is.not(other.code, 0);
    assert.match(other.stdout + other.stderr, 'FORBIDDEN');
    const config = JSON.parse(readFileSync(join(state, 'agent.json'), 'utf8')) as { name: string };
    assert.is(config.name, ACCOUNT);

    // The daemon migrates by itself: a second gateway set up with --cloud-server and a window open all day
    // backs up through its daemon, and its snapshot reaches the cloud with no migrate command.
    const profile = JSON.parse(readFileSync(join(repoRoot, 'firmware-profiles/small-arm.json'), 'utf8')) as Record<string, unknown>;
    Object.assign(profile, { name: 'always-migrate', migration: { bandwidthBytesPerS: 0, window: { start: '00:00', end: '00:00' } }, runtime: undefined });
    writeFileSync(join(dir, 'always.json'), JSON.stringify(profile));
    const ACCOUNT2 = 'gw2.migrate.example';
    await ok(['accounts', 'create', '--name', ACCOUNT2, ...admin, '--json']);
    const state2 = join(dir, 'state2');
    // This gateway keeps its own TLS directory, as a gateway in the field does: the CA's certificate, no
    // CA key, no revocation list. A certificate the cluster revokes meanwhile reaches it by the daemon's turn.
    const gwTls = join(dir, 'gw2-tls');
    cpSync(pki, gwTls, { recursive: true });
    rmSync(join(gwTls, 'ca.key'));
    rmSync(join(gwTls, 'ca.crl'), { force: true });
    await ok(['pki', 'issue', '--dir', pki, '--name', 'lost.migrate.example', '--role', 'agent', '--json']);
    await ok(['pki', 'revoke', '--dir', pki, '--name', 'lost.migrate.example', '--reason', 'key-compromise', '--json']);
    const lost = serialKey(showCertificate(pki, 'lost.migrate.example').serialNumber);
    await ok(['agent', 'init', '--state', state2, '--name', ACCOUNT2, '--profile', join(dir, 'always.json'), '--source', join(src, 'blobs'),
      '--cloud-server', init.nodes[2]!.apiUrl, '--cloud-tls-dir', gwTls, '--cloud-cert-name', ACCOUNT2, '--json']);
    const b3 = jsonLines((await cli(['backup', '--state', state2, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    const daemon = runCli(['agent', 'run', '--state', state2], { BAKSA_LOG_LEVEL: 'info' });
    try {
      const cloud2 = ['--server', init.nodes[0]!.apiUrl, '--tls-dir', pki, '--cert-name', ACCOUNT2, '--json'];
      // The daemon's first turn is at start (then every cloud.intervalS, and after each backup).
      await until(
        'the daemon migrated the snapshot by itself',
        async () => {
          const listed = await cli(['snapshots', '--state', state2, '--from', 'cloud', ...cloud2]);
          return listed.code === 0 && (JSON.parse(listed.stdout) as Array<{ id: string }>).some((x) => x.id === b3.snapshot_id);
        },
        60_000,
        () => daemon.output().slice(-3000),
        1000,
      );
      // The cloud lists the snapshot once it is recorded there; the daemon logs after it has kept the receipt.
      await until('the daemon logged the migration', async () => /migrated to the cloud/.test(daemon.output()), 30_000, () => daemon.output().slice(-3000), 200);
      await until('the daemon installed the cluster\'s revocation list', () => existsSync(join(gwTls, 'ca.crl')), 30_000, () => daemon.output().slice(-3000), 200);
      assert.equal((await listRevocations(gwTls)).map((r) => r.serialNumber), [lost], 'the gateway holds the list the cluster revoked by');
      assert.match(daemon.output(), "installed the cluster's revocation list");
    } finally {
      daemon.child.kill('SIGTERM');
      await daemon.exited;
    }

    // kill -9 of the node a migration talks to, mid-way: it goes on through another, which it learnt
    // from the cluster (every call of the migration API may be sent again), and remembers them all, so
    // a restore given only the dead node reads through another.
    writeFileSync(join(src, 'blobs', 'late.bin'), randomBytes(3 * 1024 * 1024));
    const b4 = jsonLines((await cli(['backup', '--state', state2, '--json'])).stdout).find((l) => l.message_type === 'summary')!;
    const viaNode2 = ['--server', init.nodes[1]!.apiUrl, '--tls-dir', pki, '--cert-name', ACCOUNT2];
    const paced = runCli(['migrate', '--state', state2, ...viaNode2, '--ignore-window', '--bandwidth', '768K', '--json'], { BAKSA_LOG_LEVEL: 'warn' });
    await until('the migration sent its first chunks', () => jsonLines(paced.out()).some((l) => l.message_type === 'status' && (l.chunks_sent as number) > 0) || paced.child.exitCode !== null, 60_000);
    assert.is(paced.child.exitCode, null, `the migration was still running when node 2 was killed:\n${paced.output().slice(-2000)}`);
    nodes[1]!.child.kill('SIGKILL');
    await nodes[1]!.exited;
    assert.is((await paced.exited).code, 0, paced.output().slice(-3000));
    const m5 = jsonLines(paced.out()).at(-1)!;
    assert.is(m5.snapshots_migrated, 1);
    assert.match(paced.err(), /an aggregator node did not answer: going on with the next/);
    const again = join(dir, 'restored-2');
    const known = JSON.parse(readFileSync(join(state2, 'cloud-nodes.json'), 'utf8')) as { server: string; nodes: Array<{ apiUrl: string }> };
    assert.is(known.server, init.nodes[1]!.apiUrl);
    assert.equal(known.nodes.map((n) => n.apiUrl).sort(), [init.nodes[0]!.apiUrl, init.nodes[2]!.apiUrl, node4Url].sort(), 'the other nodes, learnt from the cluster');
    const viaDead = await cli(['restore', String(b4.snapshot_id), '--from', 'cloud', '--state', state2, '--target', again, '--verify', ...viaNode2]);
    assert.is(viaDead.code, 0, viaDead.stdout + viaDead.stderr);
    assertSameTree(snapshotTree(join(again, src, 'blobs')), snapshotTree(join(src, 'blobs')));
  } finally {
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
