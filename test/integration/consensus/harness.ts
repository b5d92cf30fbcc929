/**
 * A PBFT cluster of real replica processes on loopback TLS (replica-process.ts), for the integration
 * tests and the benchmark: PKI, ports, configs, spawn / kill -9 / SIGSTOP / restart, status files, and
 * a ClientNode in the calling process. Every child is killed when the calling process exits, and a
 * child exits by itself when its stdin (the parent) goes away.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initCa, issueCertificate, loadTlsMaterial } from '../../../shared/crypto/pki.ts';
import { TlsTransport } from '../../../shared/transport/index.ts';
import { ClientNode, type ClientNodeOptions, type ReplicaNodeOptions } from '../../../shared/replica-node/index.ts';
import { fakeLinkSigner, fakeVerifier, linkKey, replicaKey, type CryptoKind } from './keys.ts';
import type { ReplicaProcessConfig, ReplicaProcessStatus } from './replica-process.ts';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('./replica-process.ts', import.meta.url));
const FRAME_BYTES_MAX = 64 * 1024 * 1024;

const live = new Set<ChildProcess>();
let exitHook = false;
function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {}
  }
}

function killAllOnExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

export interface ProcessClusterOptions {
  n?: number;
  crypto?: CryptoKind;
  replica?: Partial<ReplicaNodeOptions>;
  clientLinks?: string[];
  statusIntervalMs?: number;
  /** Shown when a child prints to stderr (BAKSA_LOG_LEVEL of the children). */
  logLevel?: string;
  /** Extra node flags for the replica processes (e.g. --cpu-prof when profiling). */
  nodeArgs?: string[];
}

export interface ReplicaEvent {
  id: number;
  type: 'view-change' | 'new-view' | 'state-transferred';
  view?: number;
  seq?: number;
  atMs: number;
}

export async function until(cond: () => boolean, what: string | (() => string), timeoutMs = 60_000, pollMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** A CA, n replica certificates `replica-<i>` and one certificate per client link (role agent). */
export async function createPki(dir: string, n: number, clientLinks: readonly string[]): Promise<void> {
  if (existsSync(join(dir, 'ca.crt'))) return;
  await initCa(dir, { name: 'pbft-test' });
  for (let i = 0; i < n; i++) await issueCertificate(dir, { name: `replica-${i}`, role: 'replica' });
  for (const link of clientLinks) await issueCertificate(dir, { name: link, role: 'agent' });
}

export class ProcessCluster {
  readonly n: number;
  readonly names: string[];
  readonly events: ReplicaEvent[] = [];
  private readonly children: (ChildProcess | undefined)[] = [];
  private readonly stderr: string[][] = [];
  private readonly clients: { client: ClientNode; transport: TlsTransport }[] = [];

  private constructor(
    readonly dir: string,
    readonly pkiDir: string,
    readonly ports: number[],
    private readonly configs: ReplicaProcessConfig[],
    private readonly crypto: CryptoKind,
    private readonly logLevel: string,
    private readonly nodeArgs: string[],
  ) {
    this.n = configs.length;
    this.names = configs[0]!.names;
  }

  /** Starts n replica processes (fresh data directories) and waits until each is ready. */
  static async start(pkiDir: string, options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    killAllOnExit();
    const n = options.n ?? 4;
    const clientLinks = options.clientLinks ?? ['client-1'];
    await createPki(pkiDir, n, clientLinks);
    const dir = mkdtempSync(join(tmpdir(), 'baksa-pbft-cluster-'));
    const ports = await freePorts(n);
    const names = Array.from({ length: n }, (_, i) => `replica-${i}`);
    const configs = names.map((_, id): ReplicaProcessConfig => ({
      n, id, names, ports, pkiDir, dataDir: join(dir, `data-${id}`), clientLinks, crypto: options.crypto ?? 'ed25519',
      options: options.replica ?? {}, frameBytesMax: FRAME_BYTES_MAX, statusFile: join(dir, `status-${id}.json`),
      statusIntervalMs: options.statusIntervalMs ?? 100,
    }));
    const cluster = new ProcessCluster(dir, pkiDir, ports, configs, options.crypto ?? 'ed25519', options.logLevel ?? 'warn', options.nodeArgs ?? []);
    try {
      await Promise.all(configs.map((_, id) => cluster.spawnReplica(id)));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  private spawnReplica(id: number): Promise<void> {
    const config = this.configs[id]!;
    mkdirSync(config.dataDir, { recursive: true });
    const configPath = join(this.dir, `config-${id}.json`);
    writeFileSync(configPath, JSON.stringify(config));
    const child = spawn(process.execPath, [...this.nodeArgs, '--import', 'tsx', script, configPath], {
      cwd: repoRoot,
      env: { ...process.env, BAKSA_LOG_LEVEL: this.logLevel },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    this.children[id] = child;
    const errors: string[] = (this.stderr[id] = []);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      errors.push(d);
      if (errors.length > 200) errors.shift();
    });
    child.on('exit', () => live.delete(child));
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      let buffered = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        buffered += d;
        let at: number;
        while ((at = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, at);
          buffered = buffered.slice(at + 1);
          if (line.startsWith('READY ')) {
            ready = true;
            resolve();
          } else if (line.startsWith('EVENT ')) {
            this.events.push(JSON.parse(line.slice(6)) as ReplicaEvent);
          }
        }
      });
      child.on('exit', (code, signal) => {
        if (!ready) reject(new Error(`replica ${id} exited (${code ?? signal}) before it was ready:\n${errors.join('')}`));
      });
    });
  }

  /** A ClientNode on its own TLS link (`link` must be one of the cluster's client links). */
  async client(options: Partial<ClientNodeOptions> = {}, link = 'client-1'): Promise<ClientNode> {
    const transport = new TlsTransport({
      self: link,
      listen: false,
      peers: this.names.map((id, i) => ({ id, host: '127.0.0.1', port: this.ports[i]! })),
      tls: loadTlsMaterial(this.pkiDir, link),
      frameBytesMax: FRAME_BYTES_MAX,
      reconnectDelayMsMax: 1000,
    });
    const crypto =
      this.crypto === 'fake'
        ? { signer: fakeLinkSigner(link), verifier: fakeVerifier() }
        : { keys: { self: linkKey(link), replicas: this.names.map((_, i) => replicaKey(i).publicKey) } };
    const client = new ClientNode({ id: link, n: this.n, replicaNames: this.names, transport, options, ...crypto });
    client.start();
    await transport.start();
    this.clients.push({ client, transport });
    return client;
  }

  pid(id: number): number | undefined {
    return this.children[id]?.pid;
  }

  /** Sends a signal to replica `id` (SIGKILL, SIGSTOP, SIGCONT, ...). */
  signal(id: number, signal: NodeJS.Signals): void {
    this.children[id]?.kill(signal);
  }

  /** kill -9, and waits until the process is gone. */
  async kill(id: number): Promise<void> {
    const child = this.children[id];
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    this.children[id] = undefined;
  }

  /** Starts replica `id` again on its port and data directory. */
  async restart(id: number): Promise<void> {
    await this.kill(id);
    try {
      rmSync(this.configs[id]!.statusFile, { force: true });
    } catch {}
    await this.spawnReplica(id);
  }

  status(id: number): ReplicaProcessStatus | undefined {
    try {
      return JSON.parse(readFileSync(this.configs[id]!.statusFile, 'utf8')) as ReplicaProcessStatus;
    } catch {
      return undefined;
    }
  }

  statuses(): (ReplicaProcessStatus | undefined)[] {
    return this.configs.map((_, id) => this.status(id));
  }

  /** Waits until every replica reports `count` executed operations and the same chain; returns that chain. */
  async converged(count: number, timeoutMs = 60_000, ids = this.configs.map((_, id) => id)): Promise<string> {
    let digest = '';
    await until(() => {
      const all = ids.map((id) => this.status(id));
      if (!all.every((s) => s && s.appCount === count && s.appDigest === all[0]!.appDigest)) return false;
      digest = all[0]!.appDigest;
      return true;
    }, () => `replicas ${ids.join(',')} to converge at ${count} executed (now ${JSON.stringify(ids.map((id) => this.status(id)?.appCount))})`, timeoutMs);
    return digest;
  }

  /** The last stderr lines of replica `id` (for failure messages). */
  stderrOf(id: number): string {
    return (this.stderr[id] ?? []).join('').slice(-4000);
  }

  async close(): Promise<void> {
    for (const { client, transport } of this.clients) {
      client.close();
      await transport.close();
    }
    this.clients.length = 0;
    // Closing stdin asks a replica to exit; one that does not within a second is killed.
    await Promise.all(this.children.map(async (child, id) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      const gone = new Promise((r) => child.once('exit', r));
      child.stdin?.end();
      await Promise.race([gone, new Promise((r) => setTimeout(r, 1000))]);
      await this.kill(id);
    }));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function tempPkiDir(): string {
  return mkdtempSync(join(tmpdir(), 'baksa-pbft-pki-'));
}
