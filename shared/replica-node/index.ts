/**
 * shared/replica-node: the thin shell that runs the pure PBFT core (shared/consensus) as a real
 * replica process — transport in and out, a durable persist log with group commit and compaction, a
 * tick timer — and the client side that submits operations over one link with many in flight.
 *
 *   const node = await ReplicaNode.start({ n: 4, id, replicaNames, transport, app, keys, dataDir });
 *   const client = new ClientNode({ id: 'agent-1', n: 4, replicaNames, transport, keys }); client.start();
 *   const result = await client.submit(op);
 */
export { ReplicaNode, type ObservedAction, type ReplicaNodeConfig, type ReplicaNodeStatus } from './replica-node.ts';
export { ClientNode, type ClientNodeConfig, type ClientNodeStats } from './client-node.ts';
export {
  PersistLog,
  PERSIST_LOG_FILE,
  PERSIST_LOG_MAGIC,
  encodePersistBatch,
  defaultPersistLogOptions,
  foldedRecords,
  type PersistLogOpenReport,
  type PersistLogOptions,
  type PersistLogStats,
} from './persist-log.ts';
export {
  clientNodeOptions,
  defaultClientNodeOptions,
  defaultReplicaNodeOptions,
  replicaNodeOptions,
  type ClientNodeOptions,
  type ReplicaNodeOptions,
  type ReplyAuth,
} from './options.ts';
export { LOGICAL_CLIENT_SEPARATOR, clientLinkOf, linkKeyResolver, logicalClientId, replicaIdsByName } from './addressing.ts';
