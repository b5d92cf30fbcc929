/**
 * `2baksa aggregator init --dir DIR --nodes N`: everything a local N-node cluster needs, in one
 * directory:
 *
 *   DIR/pki/                 the cluster CA; per node a replica certificate (node name) and a submitter
 *                            certificate (its client link); admin, auditor and operator certificates
 *   DIR/monitor.key          the cluster's monitor signing key (agents pin its public key: `agent init
 *                            --monitor-key HEX`); every node signs MonitorConfig and alerts with it
 *   DIR/<node>/node.json     the node's config (aggregator/node/config.ts), replica.key, submitter.key
 *
 * Node i listens for replicas on basePort + i, for the API on basePort + 100 + i and for agents' MQTT
 * on basePort + 200 + i (mqtts with client certificates from the cluster CA); every node's monitor
 * listens on every node's endpoint, and agents are given the list. Racks are
 * assigned round-robin over `racks`. Refuses to write into a directory that already has a cluster.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { initCa, issueCertificate, validateHostName } from '../../shared/crypto/pki.ts';
import { writeKeyFile } from '../../shared/crypto/key-file.ts';
import { generateSigningKey, seedOf } from '../../shared/crypto/sign.ts';
import { writeFileDurable } from '../../shared/crypto/durable-file.ts';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { KEY_KINDS, type NodeConfig } from './config.ts';

export interface InitClusterOptions {
  dir: string;
  nodes: number;
  cluster: string;
  /** Domain of the node names: node i is agg<i+1>.<domain>. */
  domain: string;
  host: string;
  basePort: number;
  racks: number;
  adminContact: string;
  /** Where the cluster keeps its data (data residency), written into every node's config. */
  region?: string;
  /** persist log fsync (false only for throwaway test clusters). */
  persistFsync: boolean;
  onProgress?: (what: string) => void;
}

export const defaultInitClusterOptions = {
  nodes: 4,
  cluster: 'dc1',
  domain: 'dc1.internal',
  host: '127.0.0.1',
  basePort: 7400,
  racks: 2,
  adminContact: 'root@localhost',
  persistFsync: true,
} satisfies Partial<InitClusterOptions>;

export interface InitClusterResult {
  dir: string;
  cluster: string;
  nodes: Array<{ name: string; config: string; replicaPort: number; apiUrl: string; mqttUrl: string; rack: string }>;
  mqttUrl: string;
  pkiDir: string;
  monitorPublicKey: string;
  certificates: { admin: string; auditor: string; operator: string };
}

export async function initCluster(input: Partial<InitClusterOptions> & { dir: string }): Promise<InitClusterResult> {
  const o: InitClusterOptions = { ...defaultInitClusterOptions, ...input };
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 64) throw configError('nodes', `${o.nodes} is not a node count from 1 to 64`, 'PBFT needs 3f+1 nodes: 4 tolerate one fault, 7 tolerate two');
  if (!Number.isInteger(o.racks) || o.racks < 1 || o.racks > 64) throw configError('racks', `${o.racks} is not a rack count from 1 to 64`);
  if (!Number.isInteger(o.basePort) || o.basePort < 1024 || o.basePort + 200 + o.nodes > 65535) throw configError('base-port', `${o.basePort} leaves no room for the ports (base to base + 200 + nodes)`);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(o.cluster)) throw configError('cluster', `"${o.cluster}" is not a cluster name`, 'use 1 to 63 letters, digits, ".", "_" or "-"');
  if (o.region !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(o.region)) throw configError('region', `"${o.region}" is not a region name`, 'use 1 to 63 letters, digits, ".", "_" or "-" (for example eu-west)');
  validateHostName('domain', `agg1.${o.domain}`);
  if (existsSync(join(o.dir, 'pki', 'ca.crt'))) {
    throw new BaksaError('CLUSTER_EXISTS', `${o.dir} already holds a cluster (pki/ca.crt)`, {
      hint: 'choose an empty directory; every certificate and key of that cluster depends on its CA',
      exitCode: ExitCode.config,
    });
  }
  const say = o.onProgress ?? (() => {});
  const pkiDir = join(o.dir, 'pki');
  await mkdir(pkiDir, { recursive: true, mode: 0o700 });
  say('cluster CA');
  await initCa(pkiDir, { name: `2baksa ${o.cluster} CA` });

  const monitor = generateSigningKey();
  await writeKeyFile(join(o.dir, 'monitor.key'), KEY_KINDS.monitor, seedOf(monitor));

  const names = Array.from({ length: o.nodes }, (_, i) => `agg${i + 1}.${o.domain}`);
  const submitterNames = names.map((n) => n.replace(/^agg(\d+)\./, 'agg$1-submit.'));
  const replicaKeys = names.map(() => generateSigningKey());
  const submitterKeys = names.map(() => generateSigningKey());
  const hex = (k: Uint8Array) => Buffer.from(k).toString('hex');
  const ipAddresses = o.host === '127.0.0.1' || /^\d+\.\d+\.\d+\.\d+$/.test(o.host) ? [o.host] : [];
  const dnsNames = ['localhost'];

  for (const [i, name] of names.entries()) {
    say(`certificates for ${name}`);
    await issueCertificate(pkiDir, { name, role: 'replica', dnsNames, ipAddresses });
    await issueCertificate(pkiDir, { name: submitterNames[i]!, role: 'operator' });
  }
  const people = { admin: `admin.${o.domain}`, auditor: `auditor.${o.domain}`, operator: `operator.${o.domain}` };
  await issueCertificate(pkiDir, { name: people.admin, role: 'admin' });
  await issueCertificate(pkiDir, { name: people.auditor, role: 'auditor' });
  await issueCertificate(pkiDir, { name: people.operator, role: 'operator' });

  // Every node is an MQTT endpoint for agents; each monitor listens on all of them, and an agent given
  // the list heartbeats through whichever is up (monitoring/service.ts, telemetry/publisher.ts).
  const mqttPort = (i: number) => o.basePort + 200 + i;
  const mqttUrl = Array.from({ length: o.nodes }, (_, i) => `mqtts://${o.host}:${mqttPort(i)}`).join(',');
  const rackOf = (i: number) => `rack${(i % o.racks) + 1}`;
  const replicas = names.map((name, i) => ({ name, host: o.host, port: o.basePort + i, apiPort: o.basePort + 100 + i, rack: rackOf(i), publicKey: hex(replicaKeys[i]!.publicKey) }));
  // The cloud geometry: m = 2 parity shards from 4 nodes on (a rack of two nodes may be lost), k = the rest.
  const parityShards = o.nodes >= 4 ? 2 : o.nodes >= 2 ? 1 : 0;
  const dataShards = o.nodes - parityShards;
  const submitters = submitterNames.map((name, i) => ({ name, publicKey: hex(submitterKeys[i]!.publicKey) }));
  const nodes: InitClusterResult['nodes'] = [];
  for (const [i, name] of names.entries()) {
    const nodeDir = join(o.dir, name);
    await mkdir(nodeDir, { recursive: true, mode: 0o700 });
    await writeKeyFile(join(nodeDir, 'replica.key'), KEY_KINDS.replica, seedOf(replicaKeys[i]!));
    await writeKeyFile(join(nodeDir, 'submitter.key'), KEY_KINDS.submitter, seedOf(submitterKeys[i]!));
    const rack = rackOf(i);
    const config: NodeConfig = {
      cluster: o.cluster,
      node: name,
      rack,
      ...(o.region ? { region: o.region } : {}),
      dataDir: 'data',
      pkiDir: relative(nodeDir, pkiDir),
      keys: { replica: 'replica.key', submitter: 'submitter.key', monitor: relative(nodeDir, join(o.dir, 'monitor.key')) },
      replicas,
      submitters,
      submitter: submitterNames[i]!,
      mqtt: { url: mqttUrl, embedded: { host: o.host, port: mqttPort(i), tls: true } },
      api: { host: o.host, port: o.basePort + 100 + i },
      storage: { volumes: ['data/volume1'], dataShards, parityShards, segmentBytes: 4 * 1024 * 1024, scrubCron: '*/10 * * * *', scrubShare: 0.1 },
      monitor: { adminContact: o.adminContact, hookPath: null, silenceFactor: 2, verifyWorkers: 1 },
      housekeepingIntervalS: 60,
      replicaNode: o.persistFsync ? {} : { persistFsync: false },
    };
    const file = join(nodeDir, 'node.json');
    await writeFileDurable(file, `${JSON.stringify(config, null, 2)}\n`);
    nodes.push({ name, config: file, replicaPort: o.basePort + i, apiUrl: `https://${o.host}:${o.basePort + 100 + i}`, mqttUrl: `mqtts://${o.host}:${mqttPort(i)}`, rack });
  }
  const result: InitClusterResult = { dir: o.dir, cluster: o.cluster, nodes, mqttUrl, pkiDir, monitorPublicKey: hex(monitor.publicKey), certificates: people };
  await writeFile(join(o.dir, 'cluster.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}
