/**
 * PBFT over real processes: 4 replica processes (test/integration/consensus/replica-process.ts, one
 * ReplicaNode each) on loopback mutual TLS 1.3, fsync on, Ed25519 signatures, 1 KiB requests, and one
 * ClientNode in this process with many logical clients in flight.
 *   node --import tsx test/bench/pbft.ts
 *
 * Measures
 * - peak: committed requests/s, closed loop with `clients` requests in flight (batching on);
 * - latency: p50 / p99 from the scheduled arrival to the accepted result, open loop at half the peak
 *   (and p50 at a tenth of it);
 * - view change: kill -9 of the primary under that load; time to the new view at the new primary and
 *   at every survivor, and the longest gap between results the client saw, in ms and in view timeouts;
 * - deep pipeline: the same closed loop with 4x the requests in flight and batches 4x larger (the
 *   cluster's saturation peak: the per-batch costs, Ed25519 above all, spread over more requests);
 * - baselines measured in the same run: the per-request Ed25519 bound (what signing every request and
 *   every reply on its own would allow on this machine's cores; batch signatures sign them by the
 *   batch instead, so the peak may pass it) and the peak with the simulator's cheap signatures (what
 *   the shell, TLS and codec reach without Ed25519).
 * Env: PBFT_BENCH_SECONDS (10), PBFT_BENCH_CLIENTS (256), PBFT_BENCH_BATCH (64), PBFT_BENCH_TICK_MS (10),
 * PBFT_BENCH_PROFILE_DIR (each replica process writes a V8 CPU profile there when it stops).
 */
import { availableParallelism } from 'node:os';
import { rmSync } from 'node:fs';
import { generateSigningKey, sign, verify } from '../../shared/crypto/sign.ts';
import type { ClientNode, ClientNodeOptions, ReplicaNodeOptions } from '../../shared/replica-node/index.ts';
import { ProcessCluster, tempPkiDir, until } from '../integration/consensus/harness.ts';
import type { CryptoKind } from '../integration/consensus/keys.ts';
import type { BenchResult } from './_tools.ts';
import { compiledNodeArgs } from './_compiled.mjs';

const seconds = Number(process.env.PBFT_BENCH_SECONDS ?? 10);
const clients = Number(process.env.PBFT_BENCH_CLIENTS ?? 256);
const batch = Number(process.env.PBFT_BENCH_BATCH ?? 64);
const tickMs = Number(process.env.PBFT_BENCH_TICK_MS ?? 10);
/** PBFT_BENCH_PROFILE_DIR: each replica process writes a V8 CPU profile there when it stops. */
const profileDir = process.env.PBFT_BENCH_PROFILE_DIR;
const profileArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
const viewTimeoutTicks = 50;
const viewTimeoutMs = viewTimeoutTicks * tickMs;
const OP_BYTES = 1024;

const replicaOptions: Partial<ReplicaNodeOptions> = {
  tickMs,
  persistFsync: true,
  // The status is also the idle primary's heartbeat, so at most half the view timeout (types.ts).
  // Replies unsigned, the client taking them by their TLS link, as the aggregator nodes run (node.ts).
  replica: { batchRequestsMax: batch, checkpointInterval: 32, logWindow: 64, viewTimeoutTicks, statusIntervalTicks: 20, replySignatures: false },
};
const clientOptions: Partial<ClientNodeOptions> = {
  logicalClients: clients,
  tickMs,
  // Well above the latency at peak load, so a saturated cluster is not flooded with retransmissions.
  requestTimeoutTicks: 200,
  replyAuth: 'channel',
};

let opCounter = 0;
function nextOp(): Uint8Array {
  const op = new Uint8Array(OP_BYTES);
  new DataView(op.buffer).setFloat64(0, ++opCounter);
  return op;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Ed25519 sign and verify time on this machine (µs each, one core). */
function ed25519Costs(): { signUs: number; verifyUs: number } {
  const pair = generateSigningKey();
  const data = new Uint8Array(OP_BYTES + 64);
  const rounds = 2000;
  let sig = sign(pair.privateKey, data);
  let t = performance.now();
  for (let i = 0; i < rounds; i++) sig = sign(pair.privateKey, data);
  const signUs = ((performance.now() - t) * 1000) / rounds;
  t = performance.now();
  for (let i = 0; i < rounds; i++) verify(pair.publicKey, data, sig);
  const verifyUs = ((performance.now() - t) * 1000) / rounds;
  return { signUs, verifyUs };
}

/** Closed loop: `inFlight` submitters back to back for `ms`; requests/s completed. */
async function closedLoop(client: ClientNode, inFlight: number, ms: number): Promise<number> {
  const started = performance.now();
  const end = started + ms;
  let done = 0;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      await client.submit(nextOp());
      if (performance.now() <= end) done += 1;
    }
  }));
  return done / (ms / 1000);
}

/** Open loop at `ratePerS` for `ms`; latency of each request from its scheduled arrival, and result times. */
async function openLoop(client: ClientNode, ratePerS: number, ms: number, during?: (elapsedMs: number) => void) {
  const latencies: number[] = [];
  const resultTimes: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - started;
    if (elapsed >= ms) break;
    during?.(elapsed);
    // Request k arrives at k / ratePerS s: at `elapsed`, requests 0 .. floor(elapsed * ratePerS) are due.
    const due = Math.floor((elapsed * ratePerS) / 1000) + 1;
    for (; sent < due; sent++) {
      const at = started + (sent * 1000) / ratePerS;
      pending.push(client.submit(nextOp()).then(() => {
        const now = performance.now();
        latencies.push(now - at);
        resultTimes.push(now);
      }));
    }
    await sleep(2);
  }
  await Promise.all(pending);
  return { latencies: latencies.sort((a, b) => a - b), resultTimes: resultTimes.sort((a, b) => a - b), sent };
}

async function withCluster<T>(
  pkiDir: string,
  crypto: CryptoKind,
  body: (cluster: ProcessCluster, client: ClientNode) => Promise<T>,
  deep = 1,
): Promise<T> {
  const replica = { ...replicaOptions, replica: { ...replicaOptions.replica, batchRequestsMax: batch * deep } };
  const cluster = await ProcessCluster.start(pkiDir, {
    crypto, replica, clientLinks: ['client-1', 'client-2'], nodeArgs: [...compiledNodeArgs, ...profileArgs],
  });
  try {
    const client = await cluster.client({ ...clientOptions, logicalClients: clients * deep });
    await Promise.all(Array.from({ length: 1000 }, () => client.submit(nextOp()))); // warm-up
    return await body(cluster, client);
  } finally {
    await cluster.close();
  }
}

export async function run(): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const cores = availableParallelism();
  const setup = `4 replica processes + client process, loopback TLS, fsync on, ${OP_BYTES} B ops, ` +
    `${clients} in flight, batchRequestsMax ${batch}, tick ${tickMs} ms, ${cores} cores`;
  const pkiDir = tempPkiDir();
  try {
    const { signUs, verifyUs } = ed25519Costs();
    // Signed one by one, a request would cost: client sign, n request verifies, n reply signs (replies
    // are channel-authenticated here). Batch signatures pay these once per batch.
    const boundPerS = (cores * 1e6) / (5 * signUs + 4 * verifyUs);
    results.push({ name: 'pbft.baseline.ed25519-bound', value: Math.round(boundPerS), unit: 'req/s',
      note: `signing each request and reply on its own: ${cores} cores / (5 signs x ${signUs.toFixed(0)} µs + 4 verifies x ${verifyUs.toFixed(0)} µs) per request` });

    const fakePeak = await withCluster(pkiDir, 'fake', (_, client) => closedLoop(client, clients, seconds * 1000));
    results.push({ name: 'pbft.peak.cheap-signatures', value: Math.round(fakePeak), unit: 'req/s',
      note: `shell + TLS + codec without Ed25519 (simulator signatures); ${setup}` });

    const deep = 4;
    const deepPeak = await withCluster(pkiDir, 'ed25519', (_, client) => closedLoop(client, clients * deep, seconds * 1000), deep);

    await withCluster(pkiDir, 'ed25519', async (cluster, client) => {
      const peak = await closedLoop(client, clients, seconds * 1000);
      const spurious = () => cluster.events.filter((e) => e.type === 'new-view').length;
      const retransmissions = () => client.stats.retransmissions;
      const afterPeak = { views: spurious(), retransmissions: retransmissions() };
      results.push({ name: 'pbft.peak', value: Math.round(peak), unit: 'req/s',
        note: `${(peak / boundPerS).toFixed(2)}x the per-request Ed25519 bound, ${(peak / fakePeak).toFixed(2)}x the cheap-signature peak; ${setup}` });
      results.push({ name: 'pbft.peak.deep', value: Math.round(deepPeak), unit: 'req/s',
        note: `${(deepPeak / peak).toFixed(2)}x the peak: ${clients * deep} in flight, batchRequestsMax ${batch * deep} (the saturation peak; latency is measured at the settings above)` });

      const rate = Math.max(1, peak / 2);
      const half = await openLoop(client, rate, seconds * 1000);
      results.push({ name: 'pbft.latency.p50', value: +percentile(half.latencies, 50).toFixed(1), unit: 'ms',
        note: `open loop at ${rate.toFixed(0)} req/s (half the peak), ${half.sent} requests; view changes before the kill: ` +
          `${afterPeak.views} in the peak run, ${spurious() - afterPeak.views} in this one; client retransmissions ${afterPeak.retransmissions}` +
          ` + ${retransmissions() - afterPeak.retransmissions}` });
      results.push({ name: 'pbft.latency.p99', value: +percentile(half.latencies, 99).toFixed(1), unit: 'ms' });
      const light = await openLoop(client, Math.max(1, peak / 10), seconds * 1000);
      results.push({ name: 'pbft.latency.p50-light', value: +percentile(light.latencies, 50).toFixed(1), unit: 'ms',
        note: `open loop at ${(peak / 10).toFixed(0)} req/s (a tenth of the peak); p99 ${percentile(light.latencies, 99).toFixed(1)} ms` });

      // View change: kill -9 the primary a third of the way into an open-loop run at the same rate, from
      // a second client whose request timeout (2 view timeouts) suits this load. Nothing tells the
      // backups that the primary died: they suspect it once they have heard neither a pre-prepare nor a
      // status from it for a view timeout (shared/consensus/suspicion.ts), before any client request
      // times out, so detection is about one view timeout.
      const vcClient = await cluster.client({ ...clientOptions, requestTimeoutTicks: 2 * viewTimeoutTicks }, 'client-2');
      await Promise.all(Array.from({ length: 200 }, () => vcClient.submit(nextOp())));
      const primary = cluster.status(1)!.primary;
      const newPrimary = (primary + 1) % cluster.n;
      const survivors = [0, 1, 2, 3].filter((id) => id !== primary);
      let killedAt = 0;
      let killedPerf = 0;
      let killing: Promise<void> | undefined;
      const { resultTimes } = await openLoop(vcClient, rate, Math.max(6000, seconds * 1000), (elapsed) => {
        if (!killing && elapsed >= 2000) {
          killedAt = Date.now();
          killedPerf = performance.now();
          killing = cluster.kill(primary);
        }
      });
      await killing;
      await until(() => survivors.every((id) => cluster.events.some((e) => e.id === id && e.type === 'new-view' && e.atMs >= killedAt)),
        'every survivor in the new view', 30_000);
      const after = cluster.events.filter((e) => e.atMs >= killedAt && survivors.includes(e.id));
      const started = Math.min(...after.filter((e) => e.type === 'view-change').map((e) => e.atMs));
      const installedAt = (id: number) => after.find((e) => e.id === id && e.type === 'new-view')!.atMs;
      const atPrimary = installedAt(newPrimary);
      const atAll = Math.max(...survivors.map(installedAt));
      let gap = 0;
      for (let i = 1; i < resultTimes.length; i++) {
        if (resultTimes[i]! >= killedPerf - 1000) gap = Math.max(gap, resultTimes[i]! - resultTimes[i - 1]!);
      }
      const inTimeouts = (ms: number) => `${(ms / viewTimeoutMs).toFixed(2)} view timeouts (${viewTimeoutMs} ms)`;
      results.push({ name: 'pbft.view-change.protocol', value: atAll - started, unit: 'ms',
        note: `${inTimeouts(atAll - started)} from the first survivor leaving the view to every survivor in the new one ` +
          `(${atPrimary - started} ms to the new primary, replica ${newPrimary})` });
      results.push({ name: 'pbft.view-change.detection', value: started - killedAt, unit: 'ms',
        note: `${inTimeouts(started - killedAt)} from kill -9 to the first survivor leaving the view (a view timeout of the primary's silence; ` +
          `the client's timeout, ${2 * viewTimeoutMs} ms, plays no part)` });
      results.push({ name: 'pbft.view-change.total', value: atAll - killedAt, unit: 'ms',
        note: `${inTimeouts(atAll - killedAt)} from kill -9 until every survivor is in the new view` });
      results.push({ name: 'pbft.view-change.client-gap', value: Math.round(gap), unit: 'ms',
        note: `${inTimeouts(gap)}: the longest time the client saw no result around the kill` });
    });
  } finally {
    rmSync(pkiDir, { recursive: true, force: true });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name.padEnd(32)} ${String(r.value).padStart(9)} ${r.unit.padEnd(6)} ${r.note ?? ''}`);
}
