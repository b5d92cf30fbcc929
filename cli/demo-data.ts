/**
 * Realistic gateway data for the demo (the shape of ../shared/tools/gen-sensor-logs.py, so the demo
 * needs no Python): per-sensor CSV logs, JSON-lines event logs and a few binary blobs, deterministic
 * for a seed. `appendLogs` grows every log by a share, as a gateway does between backups.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';

class Rng {
  constructor(private state: number) {}
  next(): number {
    this.state = (Math.imul(this.state, 1664525) + 1013904223) >>> 0;
    return this.state / 2 ** 32;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.next() * 256) | 0;
    return out;
  }
}

const SENSORS = 40;
const EVENT_LOGS = 8;
const BLOBS = 6;
const KINDS = ['door', 'motion', 'alarm', 'plc', 'modbus'];
const MESSAGES = ['cycle complete', 'threshold exceeded', 'link up', 'link down', 'value out of range', 'heartbeat'];

function sensorLines(rng: Rng, sensor: number, t0: number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let t = t0; size < bytes; t++) {
    const value = 20 + sensor + 3 * Math.sin(t / 600) + (rng.next() - 0.5) * 0.4;
    const line = `${t},s${String(sensor).padStart(3, '0')},${value.toFixed(3)},${rng.next() < 0.8 ? 'ok' : 'warn'}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

function eventLines(rng: Rng, gateway: number, t0: number, bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  for (let t = t0; size < bytes; t += 1 + Math.floor(rng.next() * 30)) {
    const line =
      JSON.stringify({ ts: t, gw: gateway, kind: KINDS[Math.floor(rng.next() * KINDS.length)], code: Math.floor(rng.next() * 1000), msg: MESSAGES[Math.floor(rng.next() * MESSAGES.length)] }) + '\n';
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

export async function generateGatewayData(dir: string, totalBytes: number, seed = 1): Promise<void> {
  const rng = new Rng(seed);
  await Promise.all(['sensors', 'events', 'blobs'].map((d) => mkdir(join(dir, d), { recursive: true })));
  const t0 = 1_790_000_000;
  for (let i = 0; i < SENSORS; i++) {
    const text = 'ts,sensor,value,status\n' + sensorLines(rng, i, t0, (totalBytes * 0.6) / SENSORS);
    await writeFile(join(dir, 'sensors', `line${Math.floor(i / 10)}-sensor${String(i).padStart(3, '0')}.csv`), text);
  }
  for (let i = 0; i < EVENT_LOGS; i++) await writeFile(join(dir, 'events', `gateway-${i}.jsonl`), eventLines(rng, i, t0, (totalBytes * 0.25) / EVENT_LOGS));
  for (let i = 0; i < BLOBS; i++) await writeFile(join(dir, 'blobs', `image-${i}.bin`), rng.bytes(Math.floor((totalBytes * 0.15) / BLOBS)));
}

/** Appends `share` (0.05 = 5 %) more lines to every log. */
export async function appendLogs(dir: string, totalBytes: number, share: number, seed = 2): Promise<void> {
  const rng = new Rng(seed);
  const t0 = 1_800_000_000;
  for (let i = 0; i < SENSORS; i++) {
    await appendFile(join(dir, 'sensors', `line${Math.floor(i / 10)}-sensor${String(i).padStart(3, '0')}.csv`), sensorLines(rng, i, t0, (totalBytes * 0.6 * share) / SENSORS));
  }
  for (let i = 0; i < EVENT_LOGS; i++) await appendFile(join(dir, 'events', `gateway-${i}.jsonl`), eventLines(rng, i, t0, (totalBytes * 0.25 * share) / EVENT_LOGS));
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose cluster ports (base + 0..3 replicas, + 100..103 API, + 200 MQTT) are all free. */
/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function freeBasePort(): Promise<number> {
  // Bases stay below Linux's ephemeral range (32768 and up), so no outgoing connection can take one of
  // these ports as its source port between this check and the nodes' listen.
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 120) * 100;
    const ports = [0, 1, 2, 3, 100, 101, 102, 103, 200].map((d) => base + d);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error('no free range of loopback ports for the demo cluster');
}
