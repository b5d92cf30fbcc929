/**
 * The aggregator node's configuration file (`2baksa aggregator run --config FILE`), as written by
 * `2baksa aggregator init`. Relative paths are relative to the file's own directory. A bad field is
 * refused with its path in the file and what to do.
 *
 *   cluster, node, rack          names (node: the CN of its replica certificate)
 *   region                       where the cluster keeps its data (data residency; the same on every
 *                                node): an account that lists regions is stored only by a cluster in
 *                                one of them (aggregator/accounts/residency.ts). Optional.
 *   dataDir                      persist log (pbft/), account database (accounts.db), objects (objects/)
 *   pkiDir                       the cluster CA and the certificates named by node and submitter
 *   keys.replica|submitter|monitor   Ed25519 key files (32-byte seeds, `2baksa` key-file format)
 *   replicas[]                   every replica: name, host, port, Ed25519 public key (hex); the order is the id
 *   submitters[]                 the client links allowed to submit account commands: name, public key
 *   submitter                    this node's own client link (one of submitters)
 *   mqtt.url                     the broker agents heartbeat into, or the cluster's endpoints separated
 *                                by commas (the monitor listens on each; mqtts:// : it shows them this
 *                                node's certificate)
 *   mqtt.embedded                run that broker in this node; with tls: true mqtts with mutual
 *                                certificates and per-account topic rules (broker.ts), else plain MQTT
 *                                for a trusted network (the telemetry is signed end to end, not encrypted)
 *   api.host, api.port           the REST API (mutual TLS 1.3); replicas[].apiPort is how other nodes
 *                                reach it for shards, replicas[].rack the failure domain of placement,
 *                                replicas[].agentUrl how gateways reach it (default https://host:apiPort),
 *                                as GET /v1/cluster/nodes tells them
 *   storage.*                    shard volumes, the cluster's erasure geometry (k + m over the nodes),
 *                                object segment size, scrub schedule and share
 *   monitor.*                    alert contacts and hook, silence factor
 *   housekeepingIntervalS        how often requested housekeeping runs (default 60)
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { BaksaError, ExitCode, configError } from '../../shared/errors.ts';
import { hostNameProblem } from '../../shared/crypto/pki.ts';

/** The `kind` of each key file (shared/crypto/key-file.ts). */
export const KEY_KINDS = { replica: 'replica-ed25519', submitter: 'submitter-ed25519', monitor: 'monitor-ed25519' } as const;

const hostName = z.string().superRefine((v, ctx) => {
  const problem = hostNameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `"${v.slice(0, 80)}" ${problem}` });
});
const label = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'use 1 to 63 letters, digits, ".", "_" or "-"');
const port = z.number().int().min(0).max(65535);
const hexKey = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (an Ed25519 public key)');
const path = z.string().min(1).max(4096);

export const nodeConfigSchema = z.strictObject({
  cluster: label,
  node: hostName,
  rack: label,
  region: label.optional(),
  dataDir: path,
  pkiDir: path,
  keys: z.strictObject({ replica: path, submitter: path, monitor: path }),
  replicas: z
    .array(
      z.strictObject({
        name: hostName,
        host: z.string().min(1).max(255),
        port,
        publicKey: hexKey,
        apiPort: port.optional(),
        // How gateways reach this node's API, when not as the other nodes do (host:apiPort): NAT, a load balancer.
        agentUrl: z.string().regex(/^https:\/\/[^\s,]{1,300}$/, 'an https URL (https://HOST:PORT)').optional(),
        rack: label.optional(),
      }),
    )
    .min(1)
    .max(64),
  submitters: z.array(z.strictObject({ name: hostName, publicKey: hexKey })).min(1).max(256),
  submitter: hostName,
  mqtt: z.strictObject({
    url: z.string().regex(/^(mqtts?|tcp|tls):\/\/[^\s,]+(,(mqtts?|tcp|tls):\/\/[^\s,]+)*$/, 'must be an mqtt:// or mqtts:// URL, or several separated by commas'),
    /** tls: mqtts with client certificates from the cluster CA (`aggregator init` writes true); false or absent: plain MQTT. */
    embedded: z.strictObject({ host: z.string().min(1).max(255), port, tls: z.boolean().default(false) }).nullable().default(null),
  }),
  api: z.strictObject({ host: z.string().min(1).max(255), port }),
  storage: z
    .strictObject({
      volumes: z.array(path).min(1).max(64),
      dataShards: z.number().int().min(1).max(64),
      parityShards: z.number().int().min(0).max(64),
      segmentBytes: z.number().int().min(64 * 1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      /** Cron expression (node-cron) of the scrub; null: no scheduled scrub. */
      scrubCron: z.string().min(1).max(100).nullable().default('*/10 * * * *'),
      /** Share of the stored objects each scrub run reads in full (0 < share ≤ 1). */
      scrubShare: z.number().gt(0).max(1).default(0.1),
    })
    .optional(),
  monitor: z
    .strictObject({
      adminContact: z.string().min(1).max(255),
      hookPath: path.nullable().default(null),
      silenceFactor: z.number().min(1).max(100).default(2),
      verifyWorkers: z.number().int().min(0).max(64).default(1),
    }),
  /** How often the node runs the housekeeping that crossed soft limits requested (aggregator/node/housekeeper.ts). */
  housekeepingIntervalS: z.number().int().min(1).max(86_400).default(60),
  /** Overrides of the replica shell's options (shared/replica-node/options.ts), e.g. persistFsync. */
  replicaNode: z.record(z.string(), z.unknown()).default({}),
});

export type NodeConfig = z.infer<typeof nodeConfigSchema>;

/** How the other nodes reach a replica's API (undefined without `apiPort`). */
export function peerApiUrl(r: NodeConfig['replicas'][number]): string | undefined {
  return r.apiPort === undefined ? undefined : `https://${r.host.includes(':') ? `[${r.host}]` : r.host}:${r.apiPort}`;
}

/** The config with every path made absolute and the node's own id. */
export interface LoadedNodeConfig extends NodeConfig {
  file: string;
  id: number;
}

export function parseNodeConfig(value: unknown, file: string): LoadedNodeConfig {
  const parsed = nodeConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(top level)';
    throw configError(field, `${issue.message} (in ${file})`, 'fix the field, or write a fresh config with `2baksa aggregator init`');
  }
  const c = parsed.data;
  const base = dirname(file);
  const abs = (p: string) => resolve(base, p);
  const id = c.replicas.findIndex((r) => r.name === c.node);
  if (id < 0) throw configError('node', `"${c.node}" is not one of replicas[].name (in ${file})`, 'list this node in replicas, or fix its name');
  const names = new Set<string>();
  for (const [i, r] of c.replicas.entries()) {
    if (names.has(r.name)) throw configError(`replicas.${i}.name`, `"${r.name}" appears twice (in ${file})`);
    names.add(r.name);
  }
  if (!c.submitters.some((s) => s.name === c.submitter)) {
    throw configError('submitter', `"${c.submitter}" is not one of submitters[].name (in ${file})`);
  }
  for (const [i, s] of c.submitters.entries()) {
    if (names.has(s.name)) throw configError(`submitters.${i}.name`, `"${s.name}" is also a replica name (in ${file})`, 'a client link needs a name of its own');
  }
  if (c.storage) {
    const n = c.replicas.length;
    if (c.storage.dataShards + c.storage.parityShards > n) {
      throw configError('storage.dataShards', `${c.storage.dataShards} + ${c.storage.parityShards} shards need that many nodes, the cluster has ${n} (in ${file})`, 'every shard of a chunk goes to a different node: lower dataShards or parityShards');
    }
    for (const [i, r] of c.replicas.entries()) {
      if (r.apiPort === undefined) throw configError(`replicas.${i}.apiPort`, `is needed with storage (other nodes fetch shards through it) (in ${file})`);
    }
  }
  return {
    ...c,
    file,
    id,
    dataDir: abs(c.dataDir),
    pkiDir: abs(c.pkiDir),
    keys: { replica: abs(c.keys.replica), submitter: abs(c.keys.submitter), monitor: abs(c.keys.monitor) },
    monitor: { ...c.monitor, hookPath: c.monitor.hookPath === null ? null : abs(c.monitor.hookPath) },
    ...(c.storage ? { storage: { ...c.storage, volumes: c.storage.volumes.map(abs) } } : {}),
  };
}

export async function loadNodeConfig(file: string): Promise<LoadedNodeConfig> {
  const full = resolve(file);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (error) {
    throw new BaksaError('CONFIG_NOT_FOUND', `cannot read the node config ${full}: ${(error as Error).message}`, {
      hint: 'write one with `2baksa aggregator init --dir DIR --nodes 4`, then pass DIR/<node>/node.json',
      exitCode: ExitCode.config,
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw configError('(file)', `${full} is not valid JSON: ${(error as Error).message}`);
  }
  return parseNodeConfig(value, full);
}
