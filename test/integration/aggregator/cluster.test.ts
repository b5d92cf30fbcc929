// A real aggregator cluster (DESIGN §5, §7): `2baksa aggregator init` writes 4 nodes, each runs as its
// own `2baksa aggregator run` process (PBFT over mutual TLS, sqlite account database, monitor, REST
// API; node 1 runs the cluster's MQTT broker). Checked here:
// - account and group commands given to any node through `--server` reach every node's database
//   (the state digests agree), and a refusal comes back with its reason;
// - an object backup through one node is recorded by consensus and counted in another node's space
//   report; a hard limit then refuses the next backup;
// - two real `2baksa agent run` processes register and heartbeat into the cluster; every node's board
//   shows them ok; SIGTERM on one raises nothing; kill -9 on the other gives exactly one hook call
//   across the four nodes (one owner per alert), naming the group administrator;
// - kill -9 of a replica: commands still commit through the other three, and the node, brought back,
//   catches up to the same digest; with two down, a command is refused with COMMIT_TIMEOUT (exit 5).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, until } from '../../helpers/wait.ts';
import { runCli, type RunningCli } from '../../helpers/cli.ts';
import { writeLazyTestProfile } from '../../helpers/profiles.ts';
import { freeBasePort } from '../../../cli/demo-data.ts';
import { ApiClient } from '../../../shared/http/api-client.ts';
import { loadTlsMaterial } from '../../../shared/crypto/pki.ts';
import type { BaksaError } from '../../../shared/errors.ts';

const INTERVAL_S = 2;


/** Runs a CLI command to its end; returns its parsed JSON output (stdout), or throws with its output. */
async function run<T = Record<string, unknown>>(args: string[], expectCode = 0): Promise<T> {
  const p = runCli([...args, '--json']);
  const { code } = await p.exited;
  if (code !== expectCode) throw new Error(`2baksa ${args.join(' ')} exited ${code}, expected ${expectCode}\n${p.out()}\n${p.err()}`);
  return JSON.parse(p.out().trim().split('\n').pop()!) as T;
}

interface Status {
  node: string;
  view: number;
  accountCommands: number;
  accountCommandsApplied: number;
  accountsDigest: string;
}

test('4 aggregator processes: replicated accounts, a real agent heartbeating in, one alert per event, kill -9 and catch-up', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-cluster-'));
  const nodes: Array<RunningCli | undefined> = [];
  const agents: RunningCli[] = [];
  try {
    const basePort = await freeBasePort();
    const init = await run<{ nodes: Array<{ name: string; config: string; apiUrl: string }>; mqttUrl: string; pkiDir: string; monitorPublicKey: string; certificates: { admin: string; auditor: string; operator: string } }>(
      ['aggregator', 'init', '--dir', join(dir, 'cluster'), '--nodes', '4', '--base-port', String(basePort), '--admin-contact', 'root@dc.example'],
    );
    assert.is(init.nodes.length, 4);

    // Every node runs the same notify hook; all of them append to one file.
    const calls = join(dir, 'hook-calls.txt');
    const hook = join(dir, 'notify.sh');
    writeFileSync(hook, `#!/bin/sh\necho "$@" >> '${calls}'\n`);
    chmodSync(hook, 0o755);
    const hookLines = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean) : []);
    for (const n of init.nodes) {
      const config = JSON.parse(readFileSync(n.config, 'utf8')) as { monitor: { hookPath: string | null } };
      config.monitor.hookPath = hook;
      writeFileSync(n.config, JSON.stringify(config, null, 2));
    }

    const start = async (i: number) => {
      const p = runCli(['aggregator', 'run', '--config', init.nodes[i]!.config, '--json']);
      nodes[i] = p;
      await until(`node ${i + 1} ready`, () => p.out().includes('"event":"ready"') || p.child.exitCode !== null, 60_000, () => `its output so far:\n${p.output().slice(-3000)}`);
      assert.ok(p.out().includes('"event":"ready"'), `node ${i + 1} did not start:\n${p.err().slice(-3000)}`);
    };
    await Promise.all([0, 1, 2, 3].map(start));

    const admin = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', init.certificates.admin];
    const auditor = (i: number) => ['--server', init.nodes[i]!.apiUrl, '--tls-dir', init.pkiDir, '--cert-name', init.certificates.auditor];
    const status = (i: number) => run<Status>(['aggregator', 'status', ...auditor(i)]);
    const allStatus = async (which = [0, 1, 2, 3]) => Promise.all(which.map(status));

    // Commands through different nodes, in consensus order everywhere.
    const created = await run<{ number: number; name: string }>(['accounts', 'create', '--name', 'gw1.site-a.example', '--interval', String(INTERVAL_S), ...admin(0)]);
    assert.is(created.number, 1);
    await run(['groups', 'create', 'site-a', '--admin', 'ops-a@example.org', ...admin(1)]);
    await run(['groups', 'add', 'site-a', 'gw1.site-a.example', ...admin(2)]);
    await run(['accounts', 'setlimit', 'gw1.site-a.example', '1G', '2G', ...admin(3)]);
    // A refusal is the same deterministic answer from the cluster, with its reason.
    const taken = runCli(['accounts', 'create', '--name', 'gw1.site-a.example', ...admin(3), '--json']);
    const takenExit = await taken.exited;
    assert.is.not(takenExit.code, 0);
    assert.match(taken.output(), /ACCOUNT_EXISTS/);

    await until('every node applied the 5 commands', async () => (await allStatus()).every((s) => s.accountCommandsApplied === 5), 30_000);
    const digests = (await allStatus()).map((s) => s.accountsDigest);
    assert.is(new Set(digests).size, 1, `digests differ: ${digests.join(' ')}`);
    const info = await run<{ hardBytes: number; groups: string[] }>(['accounts', 'info', 'gw1.site-a.example', ...admin(2)]);
    assert.is(info.hardBytes, 2 * 1024 ** 3);
    assert.equal(info.groups, ['site-a']);

    // An object backup through node 2 is recorded by consensus: node 4's space report counts its bytes;
    // a hard limit then refuses the next backup, naming the limit.
    const operator = new ApiClient(init.nodes[1]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.operator));
    try {
      const payload = new Uint8Array(100_000).map((_, i) => (i * 31) & 0xff);
      const stored = await operator.request<{ state: string; bytes: number }>('POST', '/v1/accounts/gw1.site-a.example/backups', payload);
      assert.is(stored.body.state, 'stored');
      await until('the backup recorded everywhere', async () => (await allStatus()).every((s) => s.accountCommandsApplied === 6), 30_000);
      const space = await run<{ rows: Array<{ account: string; usedBytes: number; objects: number }> } | Array<{ account: string; usedBytes: number; objects: number }>>(['report', 'space', '--by', 'account', ...admin(3)]);
      const rows = Array.isArray(space) ? space : space.rows;
      assert.equal(rows.map((r) => [r.account, r.usedBytes, r.objects]), [['gw1.site-a.example', 100_000, 1]]);
      // The object is erasure-coded over the nodes: flip a byte of one shard file on node 3, read the
      // object back through node 4 (byte-identical), then scrub: the shard is healed in place.
      const shardFiles = readdirSync(join(dir, 'cluster', init.nodes[2]!.name, 'data', 'volume1', 'committed'), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name))
        .map((e) => join(e.parentPath, e.name));
      assert.ok(shardFiles.length >= 1, 'node 3 holds shards of the object');
      const victim = shardFiles[0]!;
      const bytes = readFileSync(victim);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      writeFileSync(victim, bytes);
      const objectId = (stored.body as unknown as { objectId: string }).objectId;
      const reader = new ApiClient(init.nodes[3]!.apiUrl, loadTlsMaterial(init.pkiDir, init.certificates.operator));
      try {
        const back = await reader.request<Buffer>('GET', `/v1/accounts/gw1.site-a.example/backups/${objectId}`, undefined, { responseBytes: true });
        assert.ok(Buffer.from(back.body).equals(Buffer.from(payload)), 'restored through another node, byte-identical');
      } finally {
        reader.close();
      }
      const scrubs = await Promise.all([0, 1, 2, 3].map((i) => run<{ objects: number; shardsChecked: number; shardsHealed: number; failed: unknown[] }>(['aggregator', 'scrub', ...admin(i)])));
      assert.is(scrubs.reduce((n, r) => n + r.objects, 0), 1, `one owner scrubs the object: ${JSON.stringify(scrubs)}`);
      assert.ok(scrubs.every((r) => r.failed.length === 0), JSON.stringify(scrubs));
      assert.is(createHash('sha256').update(readFileSync(victim)).digest('hex'), victim.slice(-64), 'the flipped shard is healed in place');
      const again = await Promise.all([0, 1, 2, 3].map((i) => run<{ shardsHealed: number }>(['aggregator', 'scrub', ...admin(i)])));
      assert.is(again.reduce((n, r) => n + r.shardsHealed, 0), 0, 'a second scrub finds nothing to heal');
      // For people: times and sizes in units, a line per volume.
      const human = runCli(['aggregator', 'scrub', ...admin(0)]);
      assert.is((await human.exited).code, 0, human.err());
      assert.match(human.out(), /^started +\d{4}-\d\d-\d\dT/m);
      assert.match(human.out(), /^shards +\d+ checked, 0 healed/m);
      assert.match(human.out(), /^volume \S+: \d+ shards, [\d.]+ \w+ used, [\d.]+ \w+ free of /m);
      const status = runCli(['aggregator', 'status', ...admin(0)]);
      assert.is((await status.exited).code, 0, status.err());
      assert.match(status.out(), /^lastScrub +\d{4}-\d\d-\d\dT[^:]+:\d\d:\d\d\.\d+Z: \d+ objects, \d+ shards checked/m);
      assert.match(status.out(), /^peersConnected +(none|[\w.-]+(, [\w.-]+)*)$/m, 'a list, not JSON');
      assert.match(status.out(), /^replicas +agg1[\w.-]+, agg2[\w.-]+, agg3[\w.-]+, agg4[\w.-]+$/m, 'a list, not JSON');

      await run(['accounts', 'setlimit', 'gw1.site-a.example', '100000', '150000', ...admin(0)]);
      try {
        await operator.request('POST', '/v1/accounts/gw1.site-a.example/backups', new Uint8Array(60_000).fill(7));
        assert.unreachable('a backup over the hard limit was accepted');
      } catch (e) {
        assert.is((e as BaksaError).code, 'QUOTA_EXCEEDED', String(e));
        assert.match((e as Error).message, /gw1\.site-a\.example|hard limit/);
      }
    } finally {
      operator.close();
    }
    // A second monitored account for an agent that stops cleanly.
    await run(['accounts', 'create', '--name', 'gw9.site-a.example', '--interval', String(INTERVAL_S), ...admin(1)]);
    const commandsBeforeAgent = 8;

    // A real agent heartbeats into the cluster's broker (mqtts); every node's monitor tracks it.
    assert.match(init.mqttUrl, /^mqtts:\/\//);
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'plc.csv'), `t,v\n${Array.from({ length: 200 }, (_, k) => `${k},${k * 7}`).join('\n')}\n`);
    const profilePath = writeLazyTestProfile(join(dir, 'profile.json'), 'cluster-test');
    const agentFor = async (name: string, i: number) => {
      const state = join(dir, `agent-state-${i}`);
      // The cluster's endpoint is mqtts: the agent shows its account's certificate (CN = the account).
      await run(['pki', 'issue', '--dir', init.pkiDir, '--name', name, '--role', 'agent', '--json']);
      await run(['agent', 'init', '--state', state, '--name', name, '--profile', profilePath, '--source', src, '--broker', init.mqttUrl, '--tls-dir', init.pkiDir, '--cluster', 'dc1', '--site', 'site-a', '--monitor-key', init.monitorPublicKey]);
      const p = runCli(['agent', 'run', '--state', state], { BAKSA_LOG_LEVEL: 'info' });
      agents.push(p);
      return p;
    };
    const [agent, polite] = await Promise.all([agentFor('gw1.site-a.example', 1), agentFor('gw9.site-a.example', 9)]);

    type Row = { account: string; state: string; heartbeats: number; lastSync: string | null };
    let boards: Row[][] = [];
    await until(
      "both agents ok on every node's board, with a synced backup",
      async () => {
        boards = await Promise.all([0, 1, 2, 3].map((i) => run<Row[]>(['report', 'heartbeats', ...admin(i)])));
        return boards.every((b) => b.length === 2 && b.every((r) => r.state === 'ok' && r.heartbeats >= 2 && r.lastSync !== null));
      },
      90_000,
      () => `boards: ${JSON.stringify(boards)}\n--- agent:\n${agent.output().slice(-3000)}`,
    );

    // SIGTERM on gw9 (a Deregister: nothing follows), kill -9 on gw1: exactly one alert from the four monitors.
    polite.child.kill('SIGTERM');
    assert.is((await polite.exited).code, 0, polite.err().slice(-2000));
    agent.child.kill('SIGKILL');
    await agent.exited;
    await until('the hook to be called', () => hookLines().length > 0, 30_000);
    await sleep(3 * INTERVAL_S * 1000 + 2000);
    const lines = hookLines();
    assert.is(lines.length, 1, `exactly one hook call across the cluster, got ${JSON.stringify(lines)}`);
    assert.match(lines[0]!, /^silent gw1\.site-a\.example 0x00000001 [0-9a-f]{32} root@dc\.example ops-a@example\.org$/);
    const finalBoard = await run<Row[]>(['report', 'heartbeats', ...admin(3)]);
    assert.equal(finalBoard.map((r) => [r.account, r.state]), [['gw1.site-a.example', 'silent'], ['gw9.site-a.example', 'deregistered']]);

    // kill -9 of replica 3: the other three still commit; brought back, it catches up.
    nodes[2]!.child.kill('SIGKILL');
    await nodes[2]!.exited;
    await run(['accounts', 'create', '--name', 'gw2.site-a.example', ...admin(3)]);
    await run(['groups', 'add', 'site-a', 'gw2.site-a.example', ...admin(0)]);
    const total = commandsBeforeAgent + 2;
    await until(`the three live nodes applied ${total} commands`, async () => (await allStatus([0, 1, 3])).every((s) => s.accountCommandsApplied === total), 30_000);
    await start(2);
    let after: Status[] = [];
    await until('node 3 caught up', async () => (after = await allStatus()).every((s) => s.accountCommandsApplied === total), 60_000, () => JSON.stringify(after));
    assert.is(new Set(after.map((s) => s.accountsDigest)).size, 1, `digests differ after catch-up: ${JSON.stringify(after)}`);
    const group = await run<{ members: Array<{ name: string }> }>(['groups', 'info', 'site-a', ...admin(2)]);
    assert.equal(group.members.map((m) => m.name), ['gw1.site-a.example', 'gw2.site-a.example']);

    // Two of four down: a command cannot commit, and the node says so (exit 5, naming the nodes down)
    // instead of leaving the caller to time out on a node that runs.
    for (const i of [2, 3]) nodes[i]!.child.kill('SIGKILL');
    await Promise.all([nodes[2]!.exited, nodes[3]!.exited]);
    const stuck = runCli(['accounts', 'create', '--name', 'gw3.site-a.example', ...admin(0)]);
    assert.is((await stuck.exited).code, 5, stuck.output());
    assert.match(stuck.err(), /not committed within \d+ s: this node reaches 2 of 4 nodes and a commit needs 3; down or cut off: agg3\S+, agg4\S+ \[COMMIT_TIMEOUT\]/);

    // SIGTERM stops a node cleanly.
    nodes[1]!.child.kill('SIGTERM');
    const stopped = await nodes[1]!.exited;
    assert.is(stopped.code, 0, nodes[1]!.err().slice(-2000));
  } finally {
    for (const p of [...agents, ...nodes]) if (p && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all([...agents, ...nodes].map((p) => p?.exited));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
