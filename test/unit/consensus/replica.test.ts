// The replica's contract with its shell: actions, persistence ordering, restore, sizes 1..7, real
// Ed25519, configuration errors, and purity (no I/O, clock or randomness in shared/consensus).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import {
  applyPersistRecord,
  createClient,
  createReplica,
  decodePersistRecord,
  emptyPersistedState,
  encodePersistRecord,
  replicaOptions,
  batchDigest,
  requestDigest,
  requestSignedBytes,
  signedBytes,
  type Action,
  type PrePrepare,
  type Request,
} from '../../../shared/consensus/index.ts';
import { BaksaError } from '../../../shared/errors.ts';
import { SimApp } from '../../sim/app.ts';
import { Cluster } from '../../sim/cluster.ts';
import { FakeKeyring } from '../../sim/fake-crypto.ts';
import { perfectNetwork } from '../../sim/network.ts';

const keyring = new FakeKeyring(42);

function request(client: string, requestId: number, op = `op${requestId}`): Request {
  const unsigned = { type: 'request' as const, client, requestId, op: new TextEncoder().encode(op) };
  const c = createClient({ id: client, n: 1, signer: keyring.clientSigner(client), verifier: keyring.verifier(), firstRequestId: requestId });
  const [send] = c.submit(unsigned.op);
  assert.ok(send && send.type === 'send');
  return (send as { message: Request }).message;
}

test('n = 1, a lone gateway: one request executes within the same step', () => {
  // PBFT with n=1, f=0: the quorum is 1, so pre-prepare, prepare and commit collapse.
  const app = new SimApp();
  const r = createReplica({ n: 1, id: 0, signer: keyring.replicaSigner(0), verifier: keyring.verifier(), app, options: { batchRequestsMax: 1 } });
  const actions = r.step(request('c', 1));
  r.invariants();
  const types = actions.map((a) => a.type);
  assert.ok(types.includes('execute'));
  assert.ok(types.includes('reply'));
  assert.ok(types.indexOf('persist') < types.indexOf('execute'), 'persisted before executing');
  assert.is(r.status.lastExecuted, 1);
  assert.is(app.executed, 1);
  // The same request again: the cached reply, no second execution (exactly-once).
  const again = r.step(request('c', 1));
  assert.equal(again.map((a) => a.type), ['reply']);
  assert.is(app.executed, 1);
});

test('batching: the primary proposes a full batch at once, a partial one on the next tick', () => {
  const r = createReplica({ n: 4, id: 0, signer: keyring.replicaSigner(0), verifier: keyring.verifier(), app: new SimApp(), options: { batchRequestsMax: 3, eagerInFlightBatchesMax: 0 } });
  const prePrepares = (as: Action[]) => as.filter((a) => a.type === 'broadcast' && a.message.type === 'pre-prepare');
  assert.is(prePrepares(r.step(request('a', 1))).length, 0);
  assert.is(prePrepares(r.step(request('b', 1))).length, 0);
  const full = prePrepares(r.step(request('c', 1)));
  assert.is(full.length, 1);
  assert.is((full[0] as unknown as { message: { batch: unknown[] } }).message.batch.length, 3);
  r.step(request('d', 1));
  assert.is(prePrepares(r.tick()).length, 1);
  r.invariants();
});

test('eager batching: an idle primary proposes at once; what arrives meanwhile waits for room, not for a tick', () => {
  const cluster = new Cluster({ seed: 3, n: 4, clients: 3, manual: true, network: perfectNetwork, replicaOptions: { batchRequestsMax: 16 } });
  const queue = cluster.net.queue;
  const batches: number[] = [];
  const deliverAll = () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const m = p.payload as { type: string; batch?: unknown[] };
      if (m.type === 'pre-prepare' && p.to === 'r1') batches.push(m.batch!.length);
      cluster.deliver(p);
    }
  };
  // An idle cluster orders a lone request with messages alone: no tick.
  cluster.submit(0);
  deliverAll();
  assert.is(cluster.clients[0]!.results.size, 1);
  assert.equal(batches, [1]);
  // Client 0's request is proposed at once; 1 and 2 reach the primary while it is in flight ...
  const deliverRequests = () => {
    for (let i; (i = queue.findIndex((p) => p.from.startsWith('c:'))) >= 0;) cluster.deliver(queue.splice(i, 1)[0]!);
  };
  cluster.submit(0);
  deliverRequests();
  cluster.submit(1);
  cluster.submit(2);
  deliverRequests();
  const prePreparesQueued = () => queue.filter((p) => (p.payload as { type: string }).type === 'pre-prepare').length;
  const queued = prePreparesQueued();
  cluster.tickNodes();
  assert.is(prePreparesQueued(), queued, 'no partial batch on a tick while the pipeline is full');
  // ... and go out together as the next batch once it executes at the primary.
  deliverAll();
  assert.equal(batches, [1, 1, 2]);
  assert.equal(cluster.clients.map((c) => c.results.size), [2, 1, 1]);
  for (const node of cluster.nodes) node.instances[0]!.replica.invariants();
});

test('a backup persists an accepted pre-prepare before its prepare goes out', () => {
  // Persistence ordering rule (persistence.ts): persist, then the messages that depend on it.
  const cluster = new Cluster({ seed: 1, n: 4, clients: 1, manual: true, network: perfectNetwork, replicaOptions: { batchRequestsMax: 1 } });
  cluster.submit(0);
  const queue = cluster.net.queue;
  const requestPacket = queue.splice(0, queue.length).find((p) => p.to === 'r0')!;
  cluster.deliver(requestPacket);
  const prePrepare = queue.find((p) => p.to === 'r1')!;
  const backup = cluster.nodes[1]!.instances[0]!.replica;
  const actions = backup.step(prePrepare.payload as never);
  const persistAt = actions.findIndex((a) => a.type === 'persist');
  const prepareAt = actions.findIndex((a) => a.type === 'broadcast' && a.message.type === 'prepare');
  assert.ok(persistAt >= 0 && prepareAt > persistAt);
});

test('a prepare that comes after the replica prepared costs no signature check', () => {
  const inner = keyring.verifier();
  let replicaChecks = 0;
  const verifier = { ...inner, verifyReplica: (id: number, data: Uint8Array, sig: Uint8Array) => (replicaChecks++, inner.verifyReplica(id, data, sig)) };
  const primary = createReplica({ n: 4, id: 0, signer: keyring.replicaSigner(0), verifier, app: new SimApp(), options: { batchRequestsMax: 1 } });
  const proposed = primary.step(request('a', 1), 0).find((a) => a.type === 'broadcast' && a.message.type === 'pre-prepare');
  assert.ok(proposed && proposed.type === 'broadcast' && proposed.message.type === 'pre-prepare');
  const pp = proposed.message;
  const prepare = (replica: number) => {
    const unsigned = { type: 'prepare' as const, view: 0, seq: pp.seq, digest: pp.digest, replica };
    return { ...unsigned, sig: keyring.replicaSigner(replica).sign(signedBytes(unsigned)) };
  };
  primary.step(prepare(1), 0);
  const prepared = primary.step(prepare(2), 0);
  assert.ok(prepared.some((a) => a.type === 'broadcast' && a.message.type === 'commit'), 'prepared: its commit goes out');
  assert.is(replicaChecks, 2);
  primary.step({ ...prepare(3), sig: new Uint8Array(64) }, 0); // late, and badly signed: neither checked nor counted
  assert.is(replicaChecks, 2);
  assert.is(primary.status.rejected['prepare-signature'], undefined);
  primary.invariants();
});

test('a backup refuses a pre-prepare whose batch holds a request its client did not sign', () => {
  // The backup digests the batch before it checks the requests' signatures, from the same bytes
  // (requestSignedBytes): a request whose op was swapped under its signature must still fail.
  const primary = keyring.replicaSigner(0);
  const good = request('c', 7, 'pay 10');
  const forged: Request = { ...request('c', 8, 'pay 10'), op: new TextEncoder().encode('pay 99') };
  const prePrepare = (batch: Request[]): PrePrepare => {
    const unsigned = { type: 'pre-prepare' as const, view: 0, seq: 1, digest: batchDigest(batch), timeMs: 0, replica: 0, batch };
    return { ...unsigned, sig: primary.sign(signedBytes(unsigned)) };
  };
  const backup = () => createReplica({ n: 4, id: 1, signer: keyring.replicaSigner(1), verifier: keyring.verifier(), app: new SimApp() });
  const refusing = backup();
  const refused = refusing.step(prePrepare([good, forged]));
  assert.not.ok(refused.some((a) => a.type === 'broadcast' && a.message.type === 'prepare'));
  assert.is(refusing.status.rejected['pre-prepare-request'], 1);
  const accepted = backup().step(prePrepare([good, request('c2', 8, 'pay 99')]));
  assert.ok(accepted.some((a) => a.type === 'broadcast' && a.message.type === 'prepare'));
  // The bytes a digest was built from are handed out once; after that they are built again, the same.
  const fresh = request('c3', 1, 'x');
  requestDigest(fresh);
  assert.equal(requestSignedBytes(fresh), signedBytes(fresh));
  assert.equal(requestSignedBytes(fresh), signedBytes(fresh));
});

test('restore: persisted records (through the codec) rebuild the replica and replay its execution', () => {
  const cluster = new Cluster({ seed: 5, n: 4, clients: 2, network: perfectNetwork, replicaOptions: { checkpointInterval: 2, logWindow: 4 } });
  for (let round = 0; round < 5; round++) {
    cluster.submit(0);
    cluster.submit(1);
    for (let t = 0; t < 20; t++) cluster.tick();
  }
  const inst = cluster.nodes[2]!.instances[0]!;
  assert.is(inst.replica.status.lastExecuted >= 5, true);
  // Re-encode the disk image record by record, as a shell would store it.
  const disk = emptyPersistedState();
  const records = [
    { kind: 'view' as const, view: inst.disk.view, viewChanging: inst.disk.viewChanging, newView: inst.disk.newView },
    ...[...inst.disk.snapshots.values()].map((s) => ({ kind: 'snapshot' as const, ...s })),
    ...(inst.disk.stable.seq > 0 ? [{ kind: 'stable' as const, ...inst.disk.stable }] : []),
    ...[...inst.disk.entries.values()].map((entry) => ({ kind: 'entry' as const, entry })),
  ];
  for (const record of records) {
    const decoded = decodePersistRecord(encodePersistRecord(record));
    assert.ok(decoded.ok);
    if (decoded.ok) applyPersistRecord(disk, decoded.value);
  }
  const app = new SimApp();
  const clusterKeys = new FakeKeyring(5); // the cluster's keys come from its seed
  const fresh = createReplica({
    n: 4, id: 2, signer: clusterKeys.replicaSigner(2), verifier: clusterKeys.verifier(), app, options: { checkpointInterval: 2, logWindow: 4 },
  });
  const actions = fresh.restore(disk);
  fresh.invariants();
  assert.is(fresh.status.lastExecuted, inst.replica.status.lastExecuted);
  assert.is(app.stateHex(), inst.app.stateHex());
  assert.ok(actions.some((a) => a.type === 'execute' && a.replay) || disk.snapshots.size > 0);
  assert.throws(() => fresh.restore(disk), /before any step/);
});

test('n = 3 with f = 0 (quorum 2) keeps going with one replica down', () => {
  const cluster = new Cluster({ seed: 9, n: 3, clients: 1, network: perfectNetwork });
  cluster.crash(2);
  for (let k = 0; k < 3; k++) {
    cluster.submit(0);
    for (let t = 0; t < 30; t++) cluster.tick();
  }
  assert.is(cluster.clients[0]!.results.size, 3);
});

test('real Ed25519 signatures: a cluster of 4 executes and changes view', () => {
  const cluster = new Cluster({ seed: 3, n: 4, clients: 1, network: perfectNetwork, ed25519: true, replicaOptions: { viewTimeoutTicks: 10 } });
  cluster.submit(0);
  for (let t = 0; t < 20; t++) cluster.tick();
  cluster.crash(0);
  cluster.submit(0);
  for (let t = 0; t < 200 && cluster.clients[0]!.results.size < 2; t++) cluster.tick();
  assert.is(cluster.clients[0]!.results.size, 2);
  assert.is(cluster.nodes[1]!.instances[0]!.replica.status.view, 1);
});

test('n = 22 (f = 7, quorum 15) over a lossy network: requests execute and the view changes', () => {
  const network = { lossRate: 0.05, duplicateRate: 0.02, delayTicksMin: 1, delayTicksMax: 3 };
  const cluster = new Cluster({ seed: 2, n: 22, clients: 2, network, replicaOptions: { viewTimeoutTicks: 20 } });
  cluster.submit(0);
  cluster.submit(1);
  for (let t = 0; t < 40; t++) cluster.tick();
  cluster.crash(0);
  cluster.submit(0);
  cluster.submit(1);
  for (let t = 0; t < 600 && cluster.clients.some((c) => c.results.size < 2); t++) cluster.tick();
  assert.equal(cluster.clients.map((c) => c.results.size), [2, 2]);
  assert.is(cluster.nodes[1]!.instances[0]!.replica.status.view, 1);
});

test('bad options and sizes are refused with the field name', () => {
  assert.throws(() => replicaOptions({ checkpointInterval: 8, logWindow: 4 }), (e: unknown) => e instanceof BaksaError && /logWindow/.test(e.message));
  assert.throws(() => replicaOptions({ viewTimeoutTicks: 0 }), /viewTimeoutTicks/);
  // The idle primary's status is its heartbeat (suspicion.ts): at least twice a view timeout.
  assert.throws(() => replicaOptions({ viewTimeoutTicks: 20, statusIntervalTicks: 11 }), (e: unknown) => e instanceof BaksaError && /statusIntervalTicks/.test(e.message));
  assert.is(replicaOptions({ viewTimeoutTicks: 20, statusIntervalTicks: 10 }).statusIntervalTicks, 10);
  assert.throws(() => createReplica({ n: 3, f: 1, id: 0, signer: keyring.replicaSigner(0), verifier: keyring.verifier(), app: new SimApp() }), /consensus\.f/);
  assert.throws(() => createReplica({ n: 4, id: 4, signer: keyring.replicaSigner(0), verifier: keyring.verifier(), app: new SimApp() }), /outside/);
});

test('the core is pure: no fs, net, timers, clock or randomness in shared/consensus', () => {
  const dir = new URL('../../../shared/consensus/', import.meta.url);
  for (const name of readdirSync(dir)) {
    const text = readFileSync(new URL(name, dir), 'utf8');
    assert.not.match(text, /from 'node:(fs|net|tls|dgram|child_process|timers)/, name);
    assert.not.match(text, /Date\.now|Math\.random|setTimeout|setInterval|performance\.now|randomBytes/, name);
  }
});

test.run();
