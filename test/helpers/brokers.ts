/**
 * Real MQTT brokers for tests: an embedded aedes on a free loopback port, and Debian's mosquitto
 * started as a child process on a free loopback port (CI installs it; the test skips with a clear
 * message where the binary is missing, which `.ci/run` never allows).
 */
import { createServer, type AddressInfo, type Server } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as netConnect } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';

export interface TestBroker {
  kind: 'aedes' | 'mosquitto';
  url: string;
  port: number;
  stop(): Promise<void>;
}

import { freePort } from '../../cli/demo-data.ts';

export { freePort };

/** An aedes broker on `port` (default: a free one; a stopped broker's port to start it again there). */
export async function startAedes(port = 0, options?: AedesOptions): Promise<TestBroker> {
  const broker = await Aedes.createBroker(options);
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    kind: 'aedes',
    url: `mqtt://127.0.0.1:${bound}`,
    port: bound,
    stop: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const MOSQUITTO_BIN = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto'].find((p) => existsSync(p));

/**
 * Whether something accepts TCP connections on the port. Unlike binding the port to see whether it is
 * free, asking this never takes the port from a process that is about to listen on it.
 */
export function accepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = netConnect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}`);
    if (await accepts(port)) return;
    if (Date.now() - started > timeoutMs) throw new Error('mosquitto did not start listening');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startMosquitto(extraConfig = ''): Promise<TestBroker> {
  if (!MOSQUITTO_BIN) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const dir = mkdtempSync(join(tmpdir(), 'baksa-mosquitto-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n${extraConfig}`);
  const child = spawn(MOSQUITTO_BIN, ['-c', conf], { stdio: 'ignore' });
  await waitForPort(port, child);
  return {
    kind: 'mosquitto',
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
