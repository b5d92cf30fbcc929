// The replicated account database end to end in one process: four ReplicaNodes (n=4, f=1) over the
// in-memory transport, each with its own AccountsApp and AccountsMaterializer over its own sqlite
// file, and one ClientNode submitting account commands the way an aggregator node does. Commands
// reach every database in one order with one digest; a replica cut off (or restarted) while the
// others move several checkpoints past its log window catches up by state transfer (a snapshot of the
// command log) and its database ends identical.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../../shared/log.ts';
import { signingKeyFromSeed } from '../../../shared/crypto/sign.ts';
import type { Database } from '../../../shared/db/index.ts';
import { MemoryNetwork } from '../../../shared/transport/index.ts';
import { ClientNode, ReplicaNode, linkKeyResolver, type ObservedAction } from '../../../shared/replica-node/index.ts';
import { listAccounts, openAccountDb, stateDigest, type AccountCommand, type ApplyResult } from '../../../aggregator/accounts/index.ts';
import { AccountsApp, decodeAccountsResult, encodeAccountOp } from '../../../aggregator/node/accounts-app.ts';
import { AccountsMaterializer } from '../../../aggregator/node/materializer.ts';

const T = 1_700_000_000_000;
const root = mkdtempSync(join(tmpdir(), 'baksa-replicated-accounts-'));
let clusters = 0;

const names = ['agg0', 'agg1', 'agg2', 'agg3'];
const SUBMITTER = 'agg-submit';
const CHECKPOINT_INTERVAL = 4;
const LOG_WINDOW = 8;
const options = {
  tickMs: 5,
  persistFsync: false,
  replica: { viewTimeoutTicks: 40, checkpointInterval: CHECKPOINT_INTERVAL, logWindow: LOG_WINDOW, batchRequestsMax: 8 },
};

// Deterministic Ed25519 keys: a fixed seed per principal.
const seed = (tag: number) => new Uint8Array(32).fill(tag);
const replicaKeys = names.map((_, id) => signingKeyFromSeed(seed(0x10 + id)));
const submitterKey = signingKeyFromSeed(seed(0x51));
const submitters = linkKeyResolver(new Map([[SUBMITTER, submitterKey.publicKey]]));

const create = (name: string): AccountCommand => ({ type: 'CreateAccount', atMs: T, name, number: null, softBytes: null, hardBytes: null });

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 8_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Member {
  app: AccountsApp;
  db: Database;
  materializer: AccountsMaterializer;
  node: ReplicaNode;
  /** What the replica observed, across restarts. */
  observed: ObservedAction[];
}

class Cluster {
  readonly net = new MemoryNetwork();
  readonly dir = join(root, `cluster${clusters++}`);
  readonly members: (Member | undefined)[] = [];
  readonly observed: ObservedAction[][] = names.map(() => []);
  readonly fatal: Error[] = [];
  client!: ClientNode;

  static async start(): Promise<Cluster> {
    const c = new Cluster();
    mkdirSync(c.dir, { recursive: true });
    for (let id = 0; id < names.length; id++) await c.startReplica(id);
    c.client = new ClientNode({
      id: SUBMITTER, n: 4, replicaNames: names, transport: c.net.join(SUBMITTER),
      keys: { self: submitterKey, replicas: replicaKeys.map((k) => k.publicKey) },
      options: { logicalClients: 4, tickMs: 5, requestTimeoutTicks: 40, replyAuth: 'channel' },
    });
    c.client.start();
    return c;
  }

  member(id: number): Member {
    const m = this.members[id];
    if (!m) throw new Error(`replica ${id} is not running`);
    return m;
  }

  get running(): Member[] {
    return this.members.filter((m): m is Member => m !== undefined);
  }

  /** As AggregatorNode.start does: the database and materializer first, then the replica over a fresh app. */
  async startReplica(id: number): Promise<void> {
    const dataDir = join(this.dir, names[id]!);
    const db = await openAccountDb(join(this.dir, `${names[id]}-accounts.db`), { durable: false });
    const app = new AccountsApp();
    const materializer = new AccountsMaterializer(db, app, { resultsKept: 4096, logger: silentLogger, onFatal: (e) => this.fatal.push(e) });
    await materializer.start();
    const observed = this.observed[id]!;
    const node = await ReplicaNode.start({
      n: 4, id, replicaNames: names, transport: this.net.join(names[id]!), app, dataDir, options,
      keys: { self: replicaKeys[id]!, replicas: replicaKeys.map((k) => k.publicKey), clients: submitters },
      observe: (action) => observed.push(action),
      onFatal: (e) => this.fatal.push(e),
    });
    this.members[id] = { app, db, materializer, node, observed };
  }

  async stopReplica(id: number): Promise<void> {
    const m = this.members[id];
    if (!m) return;
    this.members[id] = undefined;
    await m.node.close();
    this.net.leave(names[id]!);
    await m.materializer.stop();
    await m.db.close();
  }

  /** Cuts every link to and from replica `id` (replicas and the client link). */
  isolate(id: number): void {
    for (const other of [...names, SUBMITTER]) {
      if (other === names[id]) continue;
      this.net.cutLink(names[id]!, other);
      this.net.cutLink(other, names[id]!);
    }
  }

  heal(id: number): void {
    for (const other of [...names, SUBMITTER]) {
      this.net.restoreLink(names[id]!, other);
      this.net.restoreLink(other, names[id]!);
    }
  }

  /** The aggregator node's submit path, answered by replica `via`'s own database. */
  async submit(command: AccountCommand, via: number): Promise<{ position: number; result: ApplyResult }> {
    const { position } = decodeAccountsResult(await this.client.submit(encodeAccountOp(command)));
    return { position, result: await this.member(via).materializer.waitFor(position) };
  }

  /** Every running replica's database applied `position` commands, with one digest. */
  async converged(position: number): Promise<boolean> {
    const members = this.running;
    if (!members.every((m) => m.app.position === position && m.materializer.position === position)) return false;
    const digests = await Promise.all(members.map((m) => stateDigest(m.db)));
    return digests.every((d) => d === digests[0]);
  }

  async digests(): Promise<string[]> {
    return Promise.all(this.running.map((m) => stateDigest(m.db)));
  }

  async close(): Promise<void> {
    this.client?.close();
    for (let id = 0; id < names.length; id++) await this.stopReplica(id);
  }
}

function assertHealthy(c: Cluster): void {
  assert.equal(c.fatal.map((e) => e.message), []);
  for (const m of c.running) assert.is(m.node.failed, undefined);
}

test('commands submitted through the client reach all four databases in one order; a duplicate name is refused the same everywhere', async () => {
  const c = await Cluster.start();
  try {
    const first = await Promise.all(['gw1', 'gw2', 'gw3', 'gw4', 'gw5', 'gw6'].map((n, i) => c.submit(create(`${n}.example`), i % 4)));
    assert.equal(first.map((r) => r.position).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6]);
    for (const r of first) assert.ok(r.result.ok, JSON.stringify(r.result));

    const dup = await c.submit(create('gw3.example'), 2);
    assert.is(dup.position, 7);
    assert.ok(!dup.result.ok && dup.result.error.code === 'ACCOUNT_EXISTS', JSON.stringify(dup.result));

    await until(() => c.converged(7), 'every database at 7 with one digest');
    // Every replica's own apply gave the same refusal, and the same results for the creates.
    for (const m of c.running) {
      const r = await m.materializer.waitFor(7);
      assert.ok(!r.ok && r.error.code === 'ACCOUNT_EXISTS', JSON.stringify(r));
      for (const f of first) assert.equal(await m.materializer.waitFor(f.position), f.result);
      assert.equal((await listAccounts(m.db)).map((a) => a.name).sort(), ['gw1', 'gw2', 'gw3', 'gw4', 'gw5', 'gw6'].map((n) => `${n}.example`));
      assert.equal(m.app.chainAt(7), c.member(0).app.chainAt(7));
    }
    const digests = await c.digests();
    assert.is(digests.length, 4);
    assert.is(new Set(digests).size, 1);
    assertHealthy(c);
  } finally {
    await c.close();
  }
});

test('a replica cut off while the others move checkpoints past its log window catches up by state transfer', async () => {
  const c = await Cluster.start();
  const LAGGING = 3;
  try {
    for (let i = 0; i < 3; i++) await c.submit(create(`a${i}.example`), 0);
    await until(() => c.converged(3), 'every database at 3');

    c.isolate(LAGGING);
    // One at a time: one request per sequence number, so 30 commands are 30 sequence numbers.
    for (let i = 0; i < 30; i++) {
      const { result } = await c.submit(create(`b${i}.example`), i % 3);
      assert.ok(result.ok, JSON.stringify(result));
    }
    const lagging = c.member(LAGGING);
    await until(() => c.member(0).node.status.stableSeq >= lagging.node.status.lastExecuted + LOG_WINDOW + CHECKPOINT_INTERVAL, 'the others past the window');
    assert.is(lagging.app.position, 3, 'the cut-off replica executed commands');
    assert.is(lagging.materializer.position, 3);
    assert.ok(!lagging.observed.some((a) => a.type === 'state-transferred'));

    c.heal(LAGGING);
    await until(() => c.converged(33), 'the cut-off replica to catch up');
    const transferred = lagging.observed.filter((a) => a.type === 'state-transferred');
    assert.ok(transferred.length >= 1, 'caught up without a state transfer');
    assert.ok(lagging.node.status.stateTransfers >= 1);

    // It keeps up afterwards, and answers a command submitted through it.
    const after = await c.submit(create('c0.example'), LAGGING);
    assert.is(after.position, 34);
    assert.ok(after.result.ok, JSON.stringify(after.result));
    const dup = await c.submit(create('b7.example'), LAGGING);
    assert.ok(!dup.result.ok && dup.result.error.code === 'ACCOUNT_EXISTS', JSON.stringify(dup.result));
    await until(() => c.converged(35), 'every database at 35');
    assert.is((await listAccounts(lagging.db)).length, 34);
    assert.is(new Set(await c.digests()).size, 1);
    assertHealthy(c);
  } finally {
    await c.close();
  }
});

test('a replica restarted on its data directory and database, with a fresh app, catches up by state transfer', async () => {
  const c = await Cluster.start();
  const RESTARTED = 2;
  try {
    for (let i = 0; i < 5; i++) await c.submit(create(`a${i}.example`), 0);
    await until(() => c.converged(5), 'every database at 5');
    const before = await stateDigest(c.member(RESTARTED).db);

    await c.stopReplica(RESTARTED);
    for (let i = 0; i < 30; i++) {
      const { result } = await c.submit(create(`b${i}.example`), i % 2);
      assert.ok(result.ok, JSON.stringify(result));
    }
    await until(() => c.member(0).node.status.stableSeq >= 5 + LOG_WINDOW + CHECKPOINT_INTERVAL, 'the others past the window');

    await c.startReplica(RESTARTED);
    const restarted = c.member(RESTARTED);
    assert.ok(restarted.node.status.restoredRecords > 0, 'nothing was restored from the persist log');
    // The database kept what it had; the fresh app re-learned at most that much from the persist log.
    assert.is(await stateDigest(restarted.db), before);
    assert.ok(restarted.app.position <= 5, `the app is at ${restarted.app.position}`);

    await until(() => c.converged(35), 'the restarted replica to catch up');
    assert.ok(restarted.observed.some((a) => a.type === 'state-transferred'), 'caught up without a state transfer');

    const after = await c.submit(create('c0.example'), RESTARTED);
    assert.is(after.position, 36);
    assert.ok(after.result.ok, JSON.stringify(after.result));
    await until(() => c.converged(36), 'every database at 36');
    assert.is((await listAccounts(restarted.db)).length, 36);
    assert.is(new Set(await c.digests()).size, 1);
    assertHealthy(c);
  } finally {
    await c.close();
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
