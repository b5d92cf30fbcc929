/**
 * The layout of an agent state directory. Everything the agent keeps lives here.
 *
 *   STATE/agent.json        config (validated)
 *   STATE/keys/root.key     root key (0600) — the tenant keys are derived from it
 *   STATE/keys/node.key     Ed25519 node key seed (0600)
 *   STATE/catalog.db        the catalog (sqlite3, WAL)
 *   STATE/shards/           the local shard store volume
 *   STATE/sensors/          default MQTT capture directory (rolling logs)
 *   STATE/backup.lock       pid of the process running a backup
 *   STATE/status.json       last run summary and counters (for `status` and the heartbeat)
 *   STATE/cloud-nodes.json  the aggregator nodes learnt from the cloud (migrate/cloud-client.ts)
 */
import { join, resolve } from 'node:path';

export interface StatePaths {
  root: string;
  config: string;
  keysDir: string;
  rootKey: string;
  nodeKey: string;
  catalog: string;
  shards: string;
  sensors: string;
  lock: string;
  status: string;
  daemonPid: string;
  cloudNodes: string;
}

export function statePaths(stateDir: string): StatePaths {
  const root = resolve(stateDir);
  return {
    root,
    config: join(root, 'agent.json'),
    keysDir: join(root, 'keys'),
    rootKey: join(root, 'keys', 'root.key'),
    nodeKey: join(root, 'keys', 'node.key'),
    catalog: join(root, 'catalog.db'),
    shards: join(root, 'shards'),
    sensors: join(root, 'sensors'),
    lock: join(root, 'backup.lock'),
    status: join(root, 'status.json'),
    daemonPid: join(root, 'daemon.pid'),
    cloudNodes: join(root, 'cloud-nodes.json'),
  };
}
