/**
 * Heartbeat ingestion and alert latency on one aggregator node.
 *
 * 1. Ingestion: 10,000 simulated gateways (accounts with pinned Ed25519 keys) send signed heartbeats;
 *    each goes through the real path — envelope decode + schema, Ed25519 signature, replay guard, account
 *    lookup, the deadline tracker, the batched store — with the store flushed every `flushEvery`
 *    heartbeats (one transaction of multi-row upserts). Messages arrive as the service hands them over:
 *    batches of `BATCH` (`handleBatch`), up to `IN_FLIGHT` batches at once. Compared in the same run:
 *    signatures verified on the main thread (the baseline) and on a VerifyPool of 1 and 2 workers.
 *    Also: decode+verify alone on the main thread (its ceiling), tracker+store alone, and the same path
 *    writing one row per heartbeat (no batching).
 * 2. Alert latency: a real MonitorService on an embedded aedes broker; gateways register and heartbeat
 *    once over MQTT with a 1 s interval, then go silent; the latency is alert time − deadline. Measured
 *    with signatures verified on the main thread and on the service's default VerifyPool.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { generateSigningKey, type SigningKeyPair } from '../../shared/crypto/sign.ts';
import type { Database } from '../../shared/db/index.ts';
import { silentLogger } from '../../shared/log.ts';
import { topics } from '../../shared/protocol/index.ts';
import { openAccountDb } from '../../aggregator/accounts/index.ts';
import { HeartbeatIngest, MonitorService, sealTelemetry, type HeartbeatBody } from '../../aggregator/monitoring/index.ts';
import type { BatchOutcome } from '../../aggregator/monitoring/ingest.ts';
import { VerifyPool, defaultVerifyPoolSize, syncVerifier, type BatchVerifier } from '../../shared/crypto/verify-pool.ts';
import { startAedes } from '../helpers/brokers.ts';
import type { BenchResult } from './_tools.ts';

const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 10_000);
const ROUNDS = 2;
const FLUSH_EVERY = 2_000;
const BATCH = 512;
const MEASURE_ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = 4;
const POOL_SIZES = (process.env.BENCH_POOL_SIZES ?? '1,2').split(',').map(Number);
const SITE = 'site-a';

function body(account: string, i: number): HeartbeatBody {
  return {
    account,
    host: `gw${i}`,
    agentVersion: '0.1.0',
    backupType: 'lazy',
    uptimeS: 3600,
    lastConnectionMs: 1,
    lastSyncMs: 2,
    lastSyncDurationMs: 1500,
    bytesSynced: 4096,
    bytesRestored: 0,
    errors: [],
    metrics: { cpuLoadPct: 12, memUsedBytes: 300 << 20, memTotalBytes: 1 << 30, diskUsedBytes: 5e9, diskTotalBytes: 3.2e10 },
  };
}

/** Accounts and pinned keys inserted directly (setup, not measured). */
async function seed(db: Database, keys: SigningKeyPair[], intervalS: number): Promise<void> {
  await db.transaction(async () => {
    for (let i = 0; i < keys.length; i += 400) {
      const slice = keys.slice(i, i + 400);
      await db.run(
        `INSERT INTO accounts(number, name, created_ms, heartbeat_interval_s) VALUES ${slice.map(() => '(?, ?, 0, ?)').join(',')}`,
        slice.flatMap((_, j) => [i + j + 1, `gw${i + j}.example`, intervalS]),
      );
      await db.run(
        `INSERT INTO hb_state(account, node_id, pubkey, registered) VALUES ${slice.map(() => '(?, ?, ?, 1)').join(',')}`,
        slice.flatMap((k, j) => [i + j + 1, `gw${i + j}`, Buffer.from(k.publicKey)]),
      );
    }
  });
}

async function ingestion(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'baksa-bench-hb-'));
  const keys = Array.from({ length: GATEWAYS }, () => generateSigningKey());
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: true });
  try {
    await seed(db, keys, 900);
    const t0 = Date.now();
    const messages: { topic: string; payload: Uint8Array; ts: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < GATEWAYS; i++) {
        const ts = t0 + r * 1000 + (i % 1000);
        messages.push({ topic: topics.heartbeat(SITE, `gw${i}.example`), payload: sealTelemetry('Heartbeat', body(`gw${i}.example`, i), `gw${i}`, ts, keys[i]!.privateKey), ts });
      }
    }

    // The real path with batched writes: main-thread verify, then each pool size, on the same messages.
    const fullPath = async (verifier: BatchVerifier): Promise<number> => {
      const ingest = new HeartbeatIngest(db, { cluster: 'c1' }, undefined, verifier);
      await ingest.start();
      const before = (await db.get<{ s: number }>('SELECT SUM(heartbeats) AS s FROM hb_state'))?.s ?? 0;
      const t = performance.now();
      const inFlight: Promise<BatchOutcome>[] = [];
      // Flushes run beside ingestion, one at a time, as the service's flush timer runs them.
      let flushing: Promise<unknown> = Promise.resolve();
      let sinceFlush = 0;
      for (let i = 0; i < messages.length; i += BATCH) {
        inFlight.push(ingest.handleBatch(messages.slice(i, i + BATCH).map((m) => ({ topic: m.topic, payload: m.payload, receivedMs: m.ts }))));
        if (inFlight.length >= IN_FLIGHT) await inFlight.shift();
        if ((sinceFlush += BATCH) >= FLUSH_EVERY) {
          sinceFlush = 0;
          flushing = flushing.then(() => ingest.store.flush());
        }
      }
      await Promise.all(inFlight);
      await flushing;
      await ingest.store.flush();
      const rate = messages.length / ((performance.now() - t) / 1000);
      const after = (await db.get<{ s: number }>('SELECT SUM(heartbeats) AS s FROM hb_state'))?.s ?? 0;
      if (after - before !== messages.length) throw new Error(`stored ${after - before} heartbeats of ${messages.length}`);
      return rate;
    };
    // Interleaved rounds (the load on a shared machine drifts): best and spread per configuration.
    const configs: { name: string; size: number; verifier: BatchVerifier; pool?: VerifyPool }[] = [
      { name: 'main-thread verify (baseline)', size: 0, verifier: syncVerifier },
      ...POOL_SIZES.map((size) => {
        const pool = new VerifyPool({ size });
        return { name: `verify pool of ${size} worker${size === 1 ? '' : 's'}`, size, verifier: pool, pool };
      }),
    ];
    const rates = configs.map(() => [] as number[]);
    try {
      await new Promise((r) => setTimeout(r, 200)); // the workers start
      // Round 0 warms each verifier's key cache (one KeyObject per gateway) and is not counted.
      for (let round = 0; round <= MEASURE_ROUNDS; round++) {
        for (const [i, c] of configs.entries()) {
          const r = await fullPath(c.verifier);
          if (round > 0) rates[i]!.push(r);
        }
      }
      for (const c of configs) if (c.pool && c.pool.stats().workerFailures > 0) throw new Error(`a verify worker failed: ${JSON.stringify(c.pool.stats())}`);
    } finally {
      for (const c of configs) await c.pool?.close();
    }
    const bestOf = (xs: number[]) => Math.max(...xs);
    const spread = (xs: number[]) => `best of ${xs.length}: ${xs.map((x) => Math.round(x)).join(', ')}`;
    const rate = bestOf(rates[0]!);
    const ingest = new HeartbeatIngest(db, { cluster: 'c1' }, undefined);
    await ingest.start();

    // Its two halves, on a second node-local ingest (own replay memory): decode + verify, then the rest.
    const second = new HeartbeatIngest(db, { cluster: 'c1' }, undefined);
    await second.start();
    let t = performance.now();
    const opened = messages.map((m) => second.open(m.topic, m.payload, m.ts));
    const decodeRate = messages.length / ((performance.now() - t) / 1000);
    t = performance.now();
    let n = 0;
    for (const o of opened) {
      if ('rejected' in o) throw new Error(`rejected: ${o.rejected}`);
      await second.accept(o.topic, o.message);
      if (++n % FLUSH_EVERY === 0) await second.store.flush();
    }
    await second.store.flush();
    const acceptRate = messages.length / ((performance.now() - t) / 1000);

    // Baseline 2: the same path, one transaction per heartbeat (no batching), on a sample.
    const sample = Math.min(2_000, GATEWAYS);
    const fresh = Array.from({ length: sample }, (_, i) => ({
      topic: topics.heartbeat(SITE, `gw${i}.example`),
      payload: sealTelemetry('Heartbeat', body(`gw${i}.example`, i), `gw${i}`, t0 + 5000 + i, keys[i]!.privateKey),
      ts: t0 + 5000 + i,
    }));
    t = performance.now();
    for (const m of fresh) {
      await ingest.handle(m.topic, m.payload, m.ts);
      await ingest.store.flush();
    }
    const unbatched = sample / ((performance.now() - t) / 1000);

    const best = Math.max(...rates.map(bestOf));
    return [
      ...configs.map((c, i) => ({
        name: `heartbeat ingest, ${GATEWAYS} gateways, ${c.name}`,
        value: Math.round(bestOf(rates[i]!)),
        unit: 'heartbeats/s',
        note: `${i === 0 ? `${messages.length} heartbeats, batches of ${BATCH}, durable db` : `${(bestOf(rates[i]!) / rate).toFixed(2)}× the main-thread path, target ≥ 5000`}; ${spread(rates[i]!)}`,
      })),
      { name: 'part: envelope decode + Ed25519 verify + replay guard (main thread)', value: Math.round(decodeRate), unit: 'heartbeats/s', note: `best full path = ${(best / decodeRate).toFixed(2)}× of it` },
      { name: 'part: tracker + batched store (after verify)', value: Math.round(acceptRate), unit: 'heartbeats/s' },
      { name: 'baseline: one transaction per heartbeat', value: Math.round(unbatched), unit: 'heartbeats/s', note: `batching = ${(rate / unbatched).toFixed(1)}× faster` },
    ];
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function alertLatency(verifyWorkers?: number): Promise<BenchResult[]> {
  const count = Math.min(1_000, GATEWAYS);
  const dir = mkdtempSync(join(tmpdir(), 'baksa-bench-alert-'));
  const broker = await startAedes();
  const db = await openAccountDb(join(dir, 'accounts.db'), { durable: false });
  const keys = Array.from({ length: count }, () => generateSigningKey());
  const latencies: number[] = [];
  let monitor: MonitorService | undefined;
  const pub = await mqtt.connectAsync(broker.url, { clientId: 'bench-publisher' });
  try {
    await seed(db, keys, 1);
    await db.run('UPDATE hb_state SET registered = NULL');
    monitor = await MonitorService.start({
      db,
      mqttUrl: broker.url,
      cluster: 'c1',
      nodeId: 'n1',
      signer: generateSigningKey(),
      adminContact: 'root@dc.example',
      logger: silentLogger,
      ...(verifyWorkers === undefined ? {} : { verifyWorkers }),
      onAlert: (a) => latencies.push(Date.now() - a.atMs),
    });
    for (let i = 0; i < count; i++) {
      const payload = sealTelemetry('Heartbeat', body(`gw${i}.example`, i), `gw${i}`, Date.now(), keys[i]!.privateKey);
      pub.publish(topics.heartbeat(SITE, `gw${i}.example`), Buffer.from(payload), { qos: 0 });
    }
    const start = Date.now();
    while (latencies.length < count && Date.now() - start < 20_000) await new Promise((r) => setTimeout(r, 50));
  } finally {
    await pub.endAsync();
    await monitor?.stop();
    await db.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const how = verifyWorkers === 0 ? 'main-thread verify' : `verify pool of ${verifyWorkers ?? defaultVerifyPoolSize()}`;
  return [
    { name: `alert latency after the deadline, ${how}, p50 (${latencies.length}/${count} alerts)`, value: q(0.5), unit: 'ms', note: 'MonitorService on aedes, interval 1 s' },
    { name: `alert latency after the deadline, ${how}, p99`, value: q(0.99), unit: 'ms' },
    { name: `alert latency after the deadline, ${how}, max`, value: latencies[latencies.length - 1] ?? NaN, unit: 'ms' },
  ];
}

export async function run(): Promise<BenchResult[]> {
  return [...(await ingestion()), ...(await alertLatency(0)), ...(await alertLatency())];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) process.stdout.write(`${r.name.padEnd(60)} ${String(r.value).padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
}
