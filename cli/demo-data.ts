/**
 * Realistic gateway data for the demo (the shape of ../shared/tools/gen-sensor-logs.py, so the demo
 * needs no Python): per-sensor CSV logs, JSON-lines event logs, a few binary blobs and each sensor's
 * small calibration file, deterministic for a seed. `appendLogs` grows every log by a share, as a
 * gateway does between backups.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
  await Promise.all(['sensors', 'events', 'blobs', 'config'].map((d) => mkdir(join(dir, d), { recursive: true })));
  const t0 = 1_790_000_000;
  for (let i = 0; i < SENSORS; i++) {
    const text = 'ts,sensor,value,status\n' + sensorLines(rng, i, t0, (totalBytes * 0.6) / SENSORS);
    await writeFile(join(dir, 'sensors', `line${Math.floor(i / 10)}-sensor${String(i).padStart(3, '0')}.csv`), text);
  }
  for (let i = 0; i < EVENT_LOGS; i++) await writeFile(join(dir, 'events', `gateway-${i}.jsonl`), eventLines(rng, i, t0, (totalBytes * 0.25) / EVENT_LOGS));
  for (let i = 0; i < BLOBS; i++) await writeFile(join(dir, 'blobs', `image-${i}.bin`), rng.bytes(Math.floor((totalBytes * 0.15) / BLOBS)));
  // Each sensor's calibration: a small file, kept inside the snapshot's manifest (agent/manifest/model.ts).
  for (let i = 0; i < SENSORS; i++) {
    const calibration = { sensor: `s${String(i).padStart(3, '0')}`, offset: Number(((rng.next() - 0.5) * 0.2).toFixed(4)), gain: Number((1 + (rng.next() - 0.5) * 0.02).toFixed(5)), unit: 'degC' };
    await writeFile(join(dir, 'config', `sensor${String(i).padStart(3, '0')}.json`), `${JSON.stringify(calibration)}\n`);
  }
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

/** Whether a TCP listen on `host:port` succeeds now (it is closed again at once). */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const BASE_FIRST = 20_000;
const BASE_STEP = 300;
const BASES = 40;
const defaultClaimsDir = () => join(tmpdir(), '2baksa-port-claims');
const ownClaims = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `base` for this process: a file named after it holding our pid, made only if absent. A claim
 * whose process is gone is taken over. Two processes (two test files, a demo and a test) checking the
 * same free ports at once would otherwise both start clusters on them.
 */
function claim(claimsDir: string, base: number): boolean {
  const file = join(claimsDir, String(base));
  mkdirSync(claimsDir, { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      if (ownClaims.size === 0) process.once('exit', () => ownClaims.forEach((f) => rmSync(f, { force: true })));
      ownClaims.add(file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder = 0;
    try {
      holder = Number(readFileSync(file, 'utf8'));
    } catch {
      continue;
    }
    if (holder > 0 && alive(holder)) return false;
    rmSync(file, { force: true });
  }
  return false;
}

/**
 * A base port for a 4-node cluster on this machine (base + 0..3 replicas, + 100..103 API, + 200..203 MQTT):
 * all of them free, and claimed so that no other 2baksa process picks the same range meanwhile. Bases
 * are 300 apart, so two claimed ranges never overlap, and below Linux's ephemeral range (32768 and
 * up), so no outgoing connection takes one as its source port before the nodes listen. Claims are
 * files in `claimsDir`, removed when this process exits.
 */
export async function freeBasePort(claimsDir = defaultClaimsDir()): Promise<number> {
  const first = Math.floor(Math.random() * BASES);
  for (let k = 0; k < BASES; k++) {
    const base = BASE_FIRST + ((first + k) % BASES) * BASE_STEP;
    if (!claim(claimsDir, base)) continue;
    const ports = [0, 1, 2, 3, 100, 101, 102, 103, 200, 201, 202, 203].map((d) => base + d);
    if ((await Promise.all(ports.map((p) => portFree(p)))).every(Boolean)) return base;
    // A port of it is held by another program (or by a cluster claimed elsewhere): let it go.
    const file = join(claimsDir, String(base));
    rmSync(file, { force: true });
    ownClaims.delete(file);
  }
  throw new Error(`no free range of loopback ports for a demo cluster (${BASES} ranges from ${BASE_FIRST}, ${BASE_STEP} apart, all in use or claimed in ${claimsDir})`);
}
