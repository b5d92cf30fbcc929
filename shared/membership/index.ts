/**
 * shared/membership: who is in the edge cluster (DESIGN §4), Sparkplug B style births and Last Wills
 * with bdSeq on `2baksa/v1/<site>/node/<id>/state`.
 *
 * - tracker.ts        MembershipTracker: the pure core, step(event) → changes (no I/O, no clock)
 * - state-message.ts  the signed NodeState message: schema, seal, open (with trust on first use)
 * - bdseq-store.ts    where a node keeps its bdSeq across restarts (file, memory)
 * - client.ts         MembershipClient: the MQTT shell (will, birth, subscribe, feed the tracker)
 */
export {
  MembershipTracker, defaultMembershipTrackerOptions, type IgnoreReason, type MemberRecord, type MembershipChange, type MembershipEvent,
  type MembershipTrackerOptions, type NodeStatus, type StateEvent, type TickEvent,
} from './tracker.ts';
export {
  NODE_STATE_BYTES_MAX, NODE_STATE_TYPE, VALIDATOR_SET_DIGEST_BYTES, nodeStateSchema, openNodeState, sealNodeState, validatorSetDigest, type NodeCapacity, type NodeStateBody,
  type NodeStateReading, type OpenNodeStateOptions, type OpenedNodeState,
} from './state-message.ts';
export { FileBdSeqStore, MemoryBdSeqStore, type BdSeqStore } from './bdseq-store.ts';
export {
  MembershipClient, defaultMembershipClientOptions, type MembershipClientInput, type MembershipClientOptions, type MembershipClientStats,
} from './client.ts';
