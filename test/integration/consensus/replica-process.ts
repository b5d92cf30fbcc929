/**
 * One PBFT replica as a real process, for the integration tests and the benchmark:
 *   node --import tsx test/integration/consensus/replica-process.ts CONFIG.json
 *
 * It runs a ReplicaNode over a TlsTransport (mutual TLS 1.3 with the certificates in `pkiDir`; client
 * links are any non-replica certificate of the CA, named by their CN) with the ChainApp, and prints
 *   READY {"id":..,"port":..,"pid":..}                  once it listens
 *   EVENT {"id":..,"type":"new-view"|"state-transferred",...,"atMs":..}
 * on stdout. Every `statusIntervalMs` it writes its status (view, executed, app digest, counters) as
 * JSON to `statusFile` (write-temp + rename). It exits when its stdin closes (the parent is gone).
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { identityOf, loadTlsMaterial, roleOf } from '../../../shared/crypto/pki.ts';
import { createLogger } from '../../../shared/log.ts';
import { SERVER_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../../../shared/heap-growth.ts';
import { TlsTransport } from '../../../shared/transport/index.ts';
import { ReplicaNode, linkKeyResolver, type ReplicaNodeOptions } from '../../../shared/replica-node/index.ts';
import { ChainApp } from './chain-app.ts';
import { fakeReplicaSigner, fakeVerifier, linkKey, replicaKey, type CryptoKind } from './keys.ts';

export interface ReplicaProcessConfig {
  n: number;
  id: number;
  names: string[];
  ports: number[];
  pkiDir: string;
  dataDir: string;
  /** Client link names allowed to submit (their Ed25519 keys derive from the name, keys.ts). */
  clientLinks: string[];
  crypto: CryptoKind;
  options: Partial<ReplicaNodeOptions>;
  frameBytesMax: number;
  statusFile: string;
  statusIntervalMs: number;
}

export interface ReplicaProcessStatus {
  id: number;
  pid: number;
  atMs: number;
  view: number;
  viewChanging: boolean;
  primary: number;
  stableSeq: number;
  lastExecuted: number;
  appCount: number;
  appDigest: string;
  executedRequests: number;
  stateTransfers: number;
  viewsInstalled: number;
  viewChangesStarted: number;
  restoredRecords: number;
  framesGarbage: number;
  framesDropped: number;
  framesRefused: number;
  persistBytes: number;
  /** Durable writes of the persist log (group commits). */
  persistWrites: number;
  /** Of those, the ones made from the replica's thread (the rest through the thread pool). */
  persistThreadWrites: number;
  /** Of those, the ones over zero-filled space (the rest appended). */
  persistPreallocatedWrites: number;
  compactions: number;
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ReplicaProcessConfig;
// As an aggregator node's replica runs (`aggregator run`).
setHeapGrowingPercent(SERVER_HEAP_GROWING_PERCENT);
const logger = createLogger(`replica-${config.id}`);
const self = config.names[config.id]!;
const transport = new TlsTransport({
  self,
  listenPort: config.ports[config.id]!,
  peers: config.names.map((id, i) => ({ id, host: '127.0.0.1', port: config.ports[i]! })),
  tls: loadTlsMaterial(config.pkiDir, self),
  frameBytesMax: config.frameBytesMax,
  reconnectDelayMsMax: 1000,
  acceptClient: (cert) => (roleOf(cert) === 'replica' ? undefined : identityOf(cert)),
  logger,
});

const app = new ChainApp();
const crypto =
  config.crypto === 'fake'
    ? { signer: fakeReplicaSigner(config.id), verifier: fakeVerifier() }
    : {
        keys: {
          self: replicaKey(config.id),
          replicas: config.names.map((_, i) => replicaKey(i).publicKey),
          clients: linkKeyResolver(new Map(config.clientLinks.map((link) => [link, linkKey(link).publicKey]))),
        },
      };

const node = await ReplicaNode.start({
  n: config.n,
  id: config.id,
  replicaNames: config.names,
  transport,
  app,
  dataDir: config.dataDir,
  options: config.options,
  logger,
  ...crypto,
  observe: (action) => {
    if (action.type === 'view-change') {
      console.log(`EVENT ${JSON.stringify({ id: config.id, type: action.type, view: action.view, atMs: Date.now() })}`);
    } else if (action.type === 'new-view') {
      console.log(`EVENT ${JSON.stringify({ id: config.id, type: action.type, view: action.view, primary: action.primary, atMs: Date.now() })}`);
    } else if (action.type === 'state-transferred') {
      console.log(`EVENT ${JSON.stringify({ id: config.id, type: action.type, seq: action.seq, atMs: Date.now() })}`);
    }
  },
  onFatal: (error) => {
    console.error(`FATAL replica ${config.id}: ${error.stack ?? error.message}`);
    process.exit(70);
  },
});
await transport.start();

let writing = false;
/** Writes the status file off the event loop (temp + rename, so readers never see half of it). */
async function writeStatus(): Promise<void> {
  if (writing) return;
  writing = true;
  const s = node.status;
  const status: ReplicaProcessStatus = {
    id: config.id, pid: process.pid, atMs: Date.now(), view: s.view, viewChanging: s.viewChanging, primary: s.primary,
    stableSeq: s.stableSeq, lastExecuted: s.lastExecuted, appCount: app.count, appDigest: app.digest(),
    executedRequests: s.executedRequests, stateTransfers: s.stateTransfers, viewsInstalled: s.viewsInstalled,
    viewChangesStarted: s.viewChangesStarted, restoredRecords: s.restoredRecords, framesGarbage: s.framesGarbage, framesDropped: s.framesDropped,
    framesRefused: s.framesRefused, persistBytes: s.persist.bytes, persistWrites: s.persist.batches, persistThreadWrites: s.persist.threadWrites, persistPreallocatedWrites: s.persist.preallocatedWrites, compactions: s.persist.compactions,
  };
  const tmp = `${config.statusFile}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(status));
    await rename(tmp, config.statusFile);
  } finally {
    writing = false;
  }
}
await writeStatus();
setInterval(() => void writeStatus().catch((error: Error) => logger.warn({ err: error.message }, 'status file not written')), config.statusIntervalMs);

process.stdin.on('data', () => {});
process.stdin.on('close', () => process.exit(0));
console.log(`READY ${JSON.stringify({ id: config.id, port: transport.port, pid: process.pid })}`);
