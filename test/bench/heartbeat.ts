/**
 * Heartbeat ingestion and alert latency on one aggregator node.
 *
 * 1. Ingestion: 10,000 simulated gateways (accounts with pinned Ed25519 keys) send signed heartbeats;
 *    each goes through the real path — envelope decode + signature + schema + replay guard, account
 *    lookup, the deadline tracker, the batched store — with the store flushed every `flushEvery`
 *    heartbeats (one transaction of multi-row upserts). Baselines in the same run: decode+verify alone
 *    (the ceiling), and the same path writing one row per heartbeat (no batching).
 * 2. Alert latency: a real MonitorService on an embedded aedes broker; gateways register and heartbeat
 *    once over MQTT with a 1 s interval, then go silent; the latency is alert time − deadline.
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
import { HeartbeatIngest, MonitorService, openTelemetry, sealTelemetry, type HeartbeatBody } from '../../aggregator/monitoring/index.ts';
import { startAedes } from '../helpers/brokers.ts';

interface BenchResult {
  name: string;
  value: number;
  unit: string;
  note?: string;
}

const GATEWAYS = Number(process.env.BENCH_GATEWAYS ?? 10_000);
const ROUNDS = 2;
const FLUSH_EVERY = 2_000;
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

    // The real path with batched writes.
    const ingest = new HeartbeatIngest(db, { cluster: 'c1' }, undefined);
    await ingest.start();
    let t = performance.now();
    let n = 0;
    for (const m of messages) {
      await ingest.handle(m.topic, m.payload, m.ts);
      if (++n % FLUSH_EVERY === 0) await ingest.store.flush();
    }
    await ingest.store.flush();
    const seconds = (performance.now() - t) / 1000;
    const rate = messages.length / seconds;
    const check = await db.get<{ s: number }>('SELECT SUM(heartbeats) AS s FROM hb_state');
    if (check?.s !== messages.length) throw new Error(`stored ${check?.s} heartbeats of ${messages.length}`);

    // Its two halves, on a second node-local ingest (own replay memory): decode + verify, then the rest.
    const second = new HeartbeatIngest(db, { cluster: 'c1' }, undefined);
    await second.start();
    t = performance.now();
    const opened = messages.map((m) => second.open(m.topic, m.payload, m.ts));
    const decodeRate = messages.length / ((performance.now() - t) / 1000);
    t = performance.now();
    n = 0;
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

    return [
      { name: `heartbeat ingest, ${GATEWAYS} gateways, batched (durable db)`, value: Math.round(rate), unit: 'heartbeats/s', note: `${messages.length} heartbeats in ${seconds.toFixed(2)} s; target ≥ 5000` },
      { name: 'part: envelope decode + Ed25519 verify + replay guard', value: Math.round(decodeRate), unit: 'heartbeats/s', note: `full path = ${(rate / decodeRate).toFixed(2)}× of it` },
      { name: 'part: tracker + batched store (after verify)', value: Math.round(acceptRate), unit: 'heartbeats/s' },
      { name: 'baseline: one transaction per heartbeat', value: Math.round(unbatched), unit: 'heartbeats/s', note: `batching = ${(rate / unbatched).toFixed(1)}× faster` },
    ];
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function alertLatency(): Promise<BenchResult[]> {
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
  return [
    { name: `alert latency after the deadline, p50 (${latencies.length}/${count} alerts)`, value: q(0.5), unit: 'ms', note: 'MonitorService on aedes, interval 1 s' },
    { name: 'alert latency after the deadline, p99', value: q(0.99), unit: 'ms' },
    { name: 'alert latency after the deadline, max', value: latencies[latencies.length - 1] ?? NaN, unit: 'ms' },
  ];
}

export async function run(): Promise<BenchResult[]> {
  return [...(await ingestion()), ...(await alertLatency())];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) process.stdout.write(`${r.name.padEnd(60)} ${String(r.value).padStart(10)} ${r.unit}${r.note ? `  (${r.note})` : ''}\n`);
}
