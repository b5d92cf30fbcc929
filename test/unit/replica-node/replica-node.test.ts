// ReplicaNode + ClientNode over the in-memory transport: requests commit exactly once and in one
// order, garbage and foreign frames are counted and dropped, a node restarts from its persist log,
// and the client side keeps its bounds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, decodeReplies, encodeMessage, encodeReplies, signedBytes, type Reply, type Request, type Verifier } from '../../../shared/consensus/index.ts';
import { generateSigningKey } from '../../../shared/crypto/sign.ts';
import { MemoryNetwork } from '../../../shared/transport/index.ts';
import { ClientNode, ReplicaNode, clientLinkOf, linkKeyResolver, logicalClientId, replicaNodeOptions, type ReplicaNodeOptions } from '../../../shared/replica-node/index.ts';
import { ChainApp, checkResults } from '../../integration/consensus/chain-app.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';

const root = mkdtempSync(join(tmpdir(), 'baksa-replica-node-'));
let dirs = 0;
const names = ['r0', 'r1', 'r2', 'r3'];
const fast = { tickMs: 5, persistFsync: false, replica: { viewTimeoutTicks: 40, checkpointInterval: 8, logWindow: 16, batchRequestsMax: 8 } };

async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Fake signatures: every logical client of a link signs with the link's secret. */
function fakeCrypto(seed: number) {
  const keys = new FakeKeyring(seed);
  const inner = keys.verifier();
  const verifier: Verifier = {
    verifyReplica: inner.verifyReplica,
    verifyClient: (client, data, sig) => inner.verifyClient(clientLinkOf(client), data, sig),
  };
  return { keys, verifier };
}

interface Cluster {
  net: MemoryNetwork;
  nodes: (ReplicaNode | undefined)[];
  apps: ChainApp[];
  dirs: string[];
  start(id: number): Promise<void>;
  stop(id: number): Promise<void>;
  close(): Promise<void>;
}

async function fakeCluster(seed: number, options: Partial<ReplicaNodeOptions> = fast): Promise<Cluster & { crypto: ReturnType<typeof fakeCrypto> }> {
  const net = new MemoryNetwork();
  const crypto = fakeCrypto(seed);
  const cluster = {
    net,
    crypto,
    nodes: [] as (ReplicaNode | undefined)[],
    apps: [] as ChainApp[],
    dirs: names.map(() => join(root, `node${dirs++}`)),
    async start(id: number) {
      const app = new ChainApp();
      cluster.apps[id] = app;
      cluster.nodes[id] = await ReplicaNode.start({
        n: 4, id, replicaNames: names, transport: net.join(names[id]!), app, dataDir: cluster.dirs[id]!,
        signer: crypto.keys.replicaSigner(id), verifier: crypto.verifier, options,
      });
    },
    async stop(id: number) {
      await cluster.nodes[id]?.close();
      net.leave(names[id]!);
      cluster.nodes[id] = undefined;
    },
    async close() {
      for (let id = 0; id < names.length; id++) await cluster.stop(id);
    },
  };
  for (let id = 0; id < names.length; id++) await cluster.start(id);
  return cluster;
}

function fakeClient(cluster: { net: MemoryNetwork; crypto: ReturnType<typeof fakeCrypto> }, link: string, logicalClients = 8) {
  const client = new ClientNode({
    id: link, n: 4, replicaNames: names, transport: cluster.net.join(link),
    signer: cluster.crypto.keys.clientSigner(link), verifier: cluster.crypto.verifier,
    options: { logicalClients, tickMs: 5, requestTimeoutTicks: 40 },
  });
  client.start();
  return client;
}

const op = (i: number): Uint8Array => new TextEncoder().encode(`op-${i}`);

function converged(apps: ChainApp[], count: number): boolean {
  return apps.every((a) => a.count === count && a.digest() === apps[0]!.digest());
}

test('Ed25519 keys: 200 requests from 16 logical clients on one link commit exactly once, in one order', async () => {
  const net = new MemoryNetwork();
  const replicaKeys = names.map(() => generateSigningKey());
  const linkKey = generateSigningKey();
  const clients = linkKeyResolver(new Map([['agent-1', linkKey.publicKey]]));
  const apps = names.map(() => new ChainApp());
  const nodes = await Promise.all(names.map((name, id) => ReplicaNode.start({
    n: 4, id, replicaNames: names, transport: net.join(name), app: apps[id]!, dataDir: join(root, `ed${dirs++}`),
    keys: { self: replicaKeys[id]!, replicas: replicaKeys.map((k) => k.publicKey), clients }, options: fast,
  })));
  const client = new ClientNode({
    id: 'agent-1', n: 4, replicaNames: names, transport: net.join('agent-1'),
    keys: { self: linkKey, replicas: replicaKeys.map((k) => k.publicKey) }, options: { logicalClients: 16, tickMs: 5 },
  });
  client.start();
  try {
    const ops = Array.from({ length: 200 }, (_, i) => op(i));
    const results = await Promise.all(ops.map((o) => client.submit(o)));
    const { problems, chain } = checkResults(ops.map((o, i) => ({ op: o, result: results[i]! })));
    assert.equal(problems, []);
    assert.ok(chain, 'positions are not 1..200');
    await until(() => converged(apps, 200), 'every replica at 200');
    assert.is(apps[0]!.digest(), chain);
    assert.is(client.stats.completed, 200);
    // The app is ahead of the node's counters until the batch is durable.
    await until(() => nodes[1]!.status.executedRequests >= 200, 'the execute counter');
    const status = nodes[1]!.status;
    assert.is(status.executedRequests, 200);
    assert.ok(status.persist.batches < status.persist.records, 'records were not group-committed');
  } finally {
    client.close();
    for (const node of nodes) await node.close();
  }
});

test('replySignatures false: replies go unsigned; a client taking them by link gets its results, one checking signatures none', async () => {
  const net = new MemoryNetwork();
  const replicaKeys = names.map(() => generateSigningKey());
  const linkKeys = new Map([['agent-1', generateSigningKey()], ['agent-2', generateSigningKey()]]);
  const clients = linkKeyResolver(new Map([...linkKeys].map(([link, k]) => [link, k.publicKey])));
  const nodes = await Promise.all(names.map((name, id) => ReplicaNode.start({
    n: 4, id, replicaNames: names, transport: net.join(name), app: new ChainApp(), dataDir: join(root, `unsigned${dirs++}`),
    keys: { self: replicaKeys[id]!, replicas: replicaKeys.map((k) => k.publicKey), clients },
    options: { ...fast, replica: { ...fast.replica, replySignatures: false } },
  })));
  const sigs: number[] = [];
  let replyFrames = 0;
  const client = (link: string, replyAuth: 'channel' | 'signature') => {
    const inner = net.join(link);
    // The client's own transport, with every frame it receives seen here first.
    const transport = Object.create(inner) as typeof inner;
    transport.onFrame = (handler) => inner.onFrame((from, frame) => {
      const m = decodeReplies(frame);
      if (m.ok) {
        replyFrames += 1;
        for (const reply of m.value) sigs.push(reply.sig.length);
      }
      handler(from, frame);
    });
    const c = new ClientNode({
      id: link, n: 4, replicaNames: names, transport,
      keys: { self: linkKeys.get(link)!, replicas: replicaKeys.map((k) => k.publicKey) }, options: { logicalClients: 4, tickMs: 5, replyAuth },
    });
    c.start();
    return c;
  };
  const byLink = client('agent-1', 'channel');
  const bySignature = client('agent-2', 'signature');
  try {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => byLink.submit(op(i))));
    assert.is(results.length, 20);
    let settled = false;
    const checked = bySignature.submit(op(100)).then(() => (settled = true), () => undefined);
    await until(() => nodes.every((n) => n!.status.executedRequests >= 21), 'the signature client\'s request executed');
    await new Promise((r) => setTimeout(r, 100));
    assert.not.ok(settled, 'an unsigned reply passed a signature check');
    assert.ok(sigs.length >= 80 && sigs.every((n) => n === 0), 'replies carry no signature');
    assert.ok(replyFrames < sigs.length, `a batch's replies to one link share frames (${replyFrames} frames for ${sigs.length} replies)`);
    bySignature.close();
    await checked;
  } finally {
    byLink.close();
    bySignature.close();
    for (const node of nodes) await node.close();
  }
});

test('garbage, foreign requests and replica messages from a client link are counted and dropped', async () => {
  const cluster = await fakeCluster(2);
  const client = fakeClient(cluster, 'agent-1');
  const mallory = cluster.net.join('mallory');
  try {
    const primary = cluster.nodes[0]!;
    mallory.send('r0', new Uint8Array([0xc1, 0xff, 0x00]));
    // A request signed for agent-1's logical client, sent on mallory's link.
    const unsigned = { type: 'request' as const, client: logicalClientId('agent-1', 0), requestId: 1, op: op(1) };
    const forged: Request = { ...unsigned, sig: cluster.crypto.keys.clientSigner('agent-1').sign(signedBytes(unsigned)) };
    mallory.send('r0', encodeMessage(forged));
    mallory.send('r0', encodeMessage({ type: 'status', view: 9, viewChanging: false, stableSeq: 0, lastExecuted: 0, replica: 1, sig: new Uint8Array(8) }));
    // Garbage from a replica link too.
    cluster.net.deliver('r1', 'r0', new Uint8Array([1, 2, 3]));
    await until(() => primary.status.framesGarbage >= 2 && primary.status.framesRefused >= 2, 'the counters');
    const results = await Promise.all([1, 2, 3].map((i) => client.submit(op(i))));
    assert.is(results.length, 3);
    assert.is(primary.status.framesGarbage, 2);
    assert.is(primary.status.framesRefused, 2);
    assert.is(primary.failed, undefined);
  } finally {
    client.close();
    await mallory.close();
    await cluster.close();
  }
});

test('a replica stopped and restarted from its persist log catches up (state transfer) to the same state', async () => {
  const cluster = await fakeCluster(3);
  const client = fakeClient(cluster, 'agent-1');
  try {
    const pairs: { op: Uint8Array; result: Uint8Array }[] = [];
    const run = async (from: number, to: number) => {
      const ops = Array.from({ length: to - from }, (_, i) => op(from + i));
      const results = await Promise.all(ops.map((o) => client.submit(o)));
      ops.forEach((o, i) => pairs.push({ op: o, result: results[i]! }));
    };
    await run(0, 100);
    await cluster.stop(3);
    await run(100, 400);
    await cluster.start(3);
    const restarted = cluster.nodes[3]!;
    assert.ok(restarted.status.restoredRecords > 0, 'nothing was restored from the log');
    await run(400, 450);
    await until(() => converged(cluster.apps, 450), 'the restarted replica to catch up');
    await until(() => restarted.status.stateTransfers >= 1, 'the state-transfer counter', 5000).catch(() => undefined);
    assert.ok(restarted.status.stateTransfers >= 1, 'caught up without a state transfer');
    const { problems, chain } = checkResults(pairs);
    assert.equal(problems, []);
    assert.is(cluster.apps[3]!.digest(), chain);
  } finally {
    client.close();
    await cluster.close();
  }
});

test('a frame of replies holds no more than the codec\'s batchRequestsMax', async () => {
  const cluster = await fakeCluster(8, { ...fast, replica: { ...fast.replica, batchRequestsMax: 2 }, codec: { batchRequestsMax: 2 } });
  const sizes: number[] = [];
  const inner = cluster.net.join('agent-1');
  const transport = Object.create(inner) as typeof inner;
  transport.onFrame = (handler) => inner.onFrame((from, frame) => {
    const m = decodeReplies(frame);
    if (m.ok) sizes.push(m.value.length);
    handler(from, frame);
  });
  const client = new ClientNode({
    id: 'agent-1', n: 4, replicaNames: names, transport, signer: cluster.crypto.keys.clientSigner('agent-1'),
    verifier: cluster.crypto.verifier, options: { logicalClients: 8, tickMs: 5, requestTimeoutTicks: 40, codec: { batchRequestsMax: 2 } },
  });
  client.start();
  try {
    let done = 0;
    for (let i = 0; i < 24; i++) void client.submit(op(i)).then(() => (done += 1), () => undefined);
    await until(() => done === 24, 'every result');
    assert.ok(sizes.every((n) => n <= 2), `replies per frame: ${sizes.join(' ')}`);
    assert.ok(sizes.includes(2), 'replies share frames');
    assert.is(client.stats.framesIgnored, 0);
  } finally {
    client.close();
    await cluster.close();
  }
});

test('a node checks its core\'s invariants in batches with a tick only, not after every batch', async () => {
  const cluster = await fakeCluster(7);
  try {
    const core = (cluster.nodes[0] as unknown as { replica: { tick(now: number): unknown; invariants(): void } }).replica;
    const tick = core.tick.bind(core);
    const invariants = core.invariants.bind(core);
    let checks = 0;
    let checksWithoutTick = 0;
    let tickedSinceCheck = false;
    core.tick = (now) => ((tickedSinceCheck = true), tick(now));
    core.invariants = () => {
      checks += 1;
      if (!tickedSinceCheck) checksWithoutTick += 1;
      tickedSinceCheck = false;
      invariants();
    };
    const client = fakeClient(cluster, 'agent-1', 8);
    await Promise.all(Array.from({ length: 100 }, (_, i) => client.submit(op(i))));
    client.close();
    assert.ok(checks > 0, 'checked');
    assert.is(checksWithoutTick, 0, 'a batch of frames alone is not checked');
  } finally {
    await cluster.close();
  }
});

test('client node: logical client ids, in-flight bound, queue bound, close rejects what is pending', async () => {
  const net = new MemoryNetwork();
  const crypto = fakeCrypto(4);
  const sent: string[] = [];
  const requests: Request[] = [];
  const transport = net.join('agent-9');
  const spy = { ...transport, self: transport.self, send: (to: string, frame: Uint8Array) => {
    sent.push(to);
    const m = decodeMessage(frame);
    if (m.ok && m.value.type === 'request') requests.push(m.value);
    return true;
  },
    onFrame: transport.onFrame.bind(transport), peers: transport.peers.bind(transport), stats: transport.stats.bind(transport), close: transport.close.bind(transport) };
  const client = new ClientNode({
    id: 'agent-9', n: 4, replicaNames: names, transport: spy, signer: crypto.keys.clientSigner('agent-9'), verifier: crypto.verifier,
    options: { logicalClients: 3, queuedOpsMax: 2 },
  });
  client.start();
  const pending = [1, 2, 3, 4, 5].map((i) => client.submit(op(i)).then(() => 'ok', (e: { code: string }) => e.code));
  const refused = await client.submit(op(6)).then(() => 'ok', (e: { code: string }) => e.code);
  assert.is(refused, 'CLIENT_QUEUE_FULL');
  assert.equal(client.stats, { submitted: 5, completed: 0, inFlight: 3, queued: 2, retransmissions: 0, framesIgnored: 0 });
  await new Promise((r) => setImmediate(r)); // the requests of one turn are signed together, then sent
  assert.equal(sent, ['r0', 'r0', 'r0']);
  // One signature over the three: each request carries it and its own path (batch-signature.ts).
  const rootSignatures = new Set(requests.map((r) => Buffer.from(r.sig.subarray(7, 15)).toString('hex')));
  assert.is(rootSignatures.size, 1, 'one root signature');
  for (const r of requests) assert.ok(crypto.verifier.verifyClient(r.client, signedBytes(r), r.sig), `${r.client} verifies`);
  client.close();
  assert.equal(await Promise.all(pending), Array(5).fill('CLIENT_CLOSED'));
  assert.is(logicalClientId('agent-9', 2), 'agent-9/2');
  assert.is(clientLinkOf('agent-9/2'), 'agent-9');
  assert.is(clientLinkOf('agent-9'), 'agent-9');
  await transport.close();
});

/** A started client node `id` and the four replicas' bare transports, with the requests the primary's receives. */
function clientBesideReplicas(id: string, seed: number, options: { logicalClients: number; replyAuth: 'channel' | 'signature' }) {
  const net = new MemoryNetwork();
  const crypto = fakeCrypto(seed);
  const replicas = names.map((name) => net.join(name));
  const requests: Request[] = [];
  replicas[0]!.onFrame((_, frame) => {
    const m = decodeMessage(frame);
    if (m.ok && m.value.type === 'request') requests.push(m.value);
  });
  const client = new ClientNode({
    id, n: 4, replicaNames: names, transport: net.join(id), signer: crypto.keys.clientSigner(id), verifier: crypto.verifier, options,
  });
  client.start();
  return { replicas, requests, client };
}

test('client node: a frame of several replies gives each its result; replies to clients not its own are counted and dropped', async () => {
  const { replicas, requests, client } = clientBesideReplicas('agent-6', 4, { logicalClients: 2, replyAuth: 'channel' });
  const results: number[][] = [];
  for (const i of [1, 2]) void client.submit(op(i)).then((r) => results.push([...r]), () => undefined);
  await until(() => requests.length === 2, 'both requests at the primary');
  const reply = (r: { client: string; requestId: number }, replica: number, result: number): Reply => ({
    type: 'reply', view: 0, client: r.client, requestId: r.requestId, result: new Uint8Array([result]), replica, sig: new Uint8Array(0),
  });
  const foreign = { client: 'agent-5/0', requestId: 1 };
  for (const replica of [1, 2]) {
    replicas[replica]!.send('agent-6', encodeReplies([reply(requests[0]!, replica, 10), reply(foreign, replica, 0), reply(requests[1]!, replica, 20)]));
  }
  await until(() => results.length === 2, 'both results');
  assert.equal(results.sort((a, b) => a[0]! - b[0]!), [[10], [20]]);
  assert.is(client.stats.framesIgnored, 2);
  client.close();
  for (const r of replicas) await r.close();
});

test('replica node options: a bad value is refused with its field', () => {
  assert.is(replicaNodeOptions({}).persistSyncWriteMsMax, 2);
  assert.is(replicaNodeOptions({ persistSyncWriteMsMax: 0 }).persistSyncWriteMsMax, 0);
  assert.is(replicaNodeOptions({}).persistPreallocateBytes, 4 * 1024 * 1024);
  assert.is(replicaNodeOptions({ persistPreallocateBytes: 0 }).persistPreallocateBytes, 0);
  for (const bad of [-1, 1.5, Number.NaN, '4M' as unknown as number]) {
    assert.throws(() => replicaNodeOptions({ persistPreallocateBytes: bad }), /replicaNode\.persistPreallocateBytes: must be a whole number of bytes/);
  }
  for (const bad of [-1, Number.NaN, Infinity, '2' as unknown as number]) {
    assert.throws(() => replicaNodeOptions({ persistSyncWriteMsMax: bad }), /replicaNode\.persistSyncWriteMsMax: must be a number of milliseconds/);
  }
  assert.throws(() => replicaNodeOptions({ compactGrowthFactor: 0.5 }), /replicaNode\.compactGrowthFactor/);
});

test('client node, channel reply auth: a reply counts unsigned only on the link of the replica it names', async () => {
  for (const replyAuth of ['channel', 'signature'] as const) {
    const { replicas, requests, client } = clientBesideReplicas('agent-7', 5, { logicalClients: 1, replyAuth });
    let settled = false;
    const result = client.submit(op(1)).then((r) => ((settled = true), r));
    await until(() => requests.length === 1, 'the request at the primary');
    const request = requests[0]!;
    const reply = (replica: number) => encodeMessage({
      type: 'reply', view: 0, client: request.client, requestId: request.requestId, result: new Uint8Array([42]), replica, sig: new Uint8Array(8),
    });
    // Unsigned replies naming replicas 1 and 2, both sent on replica 3's link: never enough.
    replicas[3]!.send('agent-7', reply(1));
    replicas[3]!.send('agent-7', reply(2));
    // Unsigned replies naming replicas 1 and 2 on their own links: enough only with channel auth.
    replicas[1]!.send('agent-7', reply(1));
    replicas[2]!.send('agent-7', reply(2));
    await new Promise((r) => setTimeout(r, 100));
    assert.is(settled, replyAuth === 'channel', `${replyAuth}: settled=${settled}`);
    if (settled) assert.equal([...(await result)], [42]);
    client.close();
    await result.catch(() => undefined);
    for (const t of replicas) await t.close();
  }
});

test.after(() => rmSync(root, { recursive: true, force: true }));
test.run();
