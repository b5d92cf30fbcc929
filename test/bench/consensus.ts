/**
 * Consensus benchmarks: requests ordered per second by an in-process cluster of 4 (no network cost,
 * so this is the core's own cost), with the simulator's fake signatures and with real Ed25519; the
 * codec's MB/s on pre-prepares; and simulator seeds per second.
 *   node --import tsx test/bench/consensus.ts
 */
import { decodeMessage, encodeMessage, type Message } from '../../shared/consensus/index.ts';
import { Cluster } from '../sim/cluster.ts';
import { perfectNetwork } from '../sim/network.ts';
import { runSeed } from '../sim/run.ts';
import type { BenchResult } from './_tools.ts';

function ordered(ed25519: boolean, requests: number): { perS: number } {
  const clients = 32;
  const cluster = new Cluster({
    seed: 1, n: 4, clients, network: perfectNetwork, ed25519, wire: 'objects',
    replicaOptions: { batchRequestsMax: 16, checkpointInterval: 64, logWindow: 128 },
  });
  const started = performance.now();
  let submitted = 0;
  let done = 0;
  while (done < requests) {
    for (let i = 0; i < clients; i++) {
      if (cluster.clients[i]!.client.inFlight === 0 && submitted < requests) {
        cluster.submit(i, new Uint8Array(256).fill(i));
        submitted += 1;
      }
    }
    cluster.tick();
    done = cluster.clients.reduce((sum, c) => sum + c.results.size, 0);
  }
  return { perS: requests / ((performance.now() - started) / 1000) };
}

function codecMBps(): { encode: number; decode: number } {
  const batch = Array.from({ length: 16 }, (_, i) => ({
    type: 'request' as const, client: `client${i}`, requestId: i + 1, op: new Uint8Array(1024).fill(i), sig: new Uint8Array(64),
  }));
  const pp: Message = {
    type: 'pre-prepare', view: 3, seq: 1234, digest: new Uint8Array(32), timeMs: Date.now(), replica: 3, sig: new Uint8Array(64), batch,
  };
  const bytes = encodeMessage(pp);
  const rounds = 3000;
  let t = performance.now();
  for (let i = 0; i < rounds; i++) encodeMessage(pp);
  const encodeS = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < rounds; i++) if (!decodeMessage(bytes).ok) throw new Error('decode failed');
  const decodeS = (performance.now() - t) / 1000;
  const mb = (bytes.length * rounds) / 1e6;
  return { encode: mb / encodeS, decode: mb / decodeS };
}

export async function run(): Promise<BenchResult[]> {
  const fake = ordered(false, 3000);
  const ed = ordered(true, 600);
  const codec = codecMBps();
  const seeds = 30;
  const t = performance.now();
  for (let s = 1; s <= seeds; s++) runSeed(s);
  const seedsPerS = seeds / ((performance.now() - t) / 1000);
  return [
    { name: 'consensus n=4, fake signatures', value: Math.round(fake.perS), unit: 'requests/s', note: 'batch 16, 32 clients, in-process' },
    { name: 'consensus n=4, Ed25519', value: Math.round(ed.perS), unit: 'requests/s', note: `${(ed.perS / fake.perS).toFixed(2)}x of fake signatures` },
    { name: 'codec encode pre-prepare (16 x 1 KiB)', value: Math.round(codec.encode), unit: 'MB/s' },
    { name: 'codec decode pre-prepare (16 x 1 KiB)', value: Math.round(codec.decode), unit: 'MB/s', note: `${(codec.decode / codec.encode).toFixed(2)}x of encode` },
    { name: 'simulator', value: Number(seedsPerS.toFixed(1)), unit: 'seeds/s', note: 'seeds 1..30, mixed scenarios' },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await run()) console.log(`${r.name}: ${r.value} ${r.unit}${r.note ? ` (${r.note})` : ''}`);
}
