/**
 * What edge nodes say to each other besides PBFT frames: the ledger's messages, the hybrid commit's, and
 * two request/answer pairs of this module (registered with the protocol registry like every message):
 *
 *   ShardGet / ShardData      read one committed shard from the member that holds it (restore, check)
 *   EdgeStatusGet / EdgeStatus  a member's view, ledger height and staging (`cluster status`)
 *
 * They travel on the mux's service channel as the canonical MessagePack map `{t: type, b: body}`; the
 * MQTT envelope around them already names and authenticates the sender. Decoding is bounded (sizes,
 * depth) and every body is checked against its type's schema; anything else is dropped.
 */
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../../shared/protocol/codec.ts';
import { defaultRegistry, registerMessageType } from '../../shared/protocol/registry.ts';
import { bytes, object, optional, str, uint, type Schema } from '../../shared/protocol/schema.ts';
import type { CommitMessage } from '../../shared/commit/index.ts';
import type { LedgerMessage } from '../../shared/ledger-service/index.ts';
import '../../shared/commit/index.ts';
import '../../shared/ledger-service/index.ts';

/** Largest shard one ShardData carries (the service frame stays under the envelope's 4 MiB body). */
export const SHARD_DATA_BYTES_MAX = 4 * 1024 * 1024 - 4096;

export interface ShardGet {
  reqId: number;
  shardId: string;
}
export interface ShardData {
  reqId: number;
  shardId: string;
  data?: Uint8Array;
  /** Why there is no data: SHARD_MISSING, SHARD_CORRUPT … */
  code?: string;
}
export interface EdgeStatusGet {
  reqId: number;
}
export interface EdgeStatus {
  reqId: number;
  /** Durable ledger blocks (the height of the last one plus one). */
  blocks: number;
  view: number;
  executed: number;
  stagedTxs: number;
  /** MQTT payload bytes this member published to peers, and the shard bytes among them (PrepareRequests). */
  wireBytes: number;
  shardBytes: number;
  timeMs: number;
}

const shardIdSchema = str({ min: 64, max: 64 });
export const shardGetSchema: Schema<ShardGet> = object({ reqId: uint(), shardId: shardIdSchema });
export const shardDataSchema: Schema<ShardData> = object({
  reqId: uint(),
  shardId: shardIdSchema,
  data: optional(bytes({ max: SHARD_DATA_BYTES_MAX })),
  code: optional(str({ max: 64 })),
});
export const edgeStatusGetSchema: Schema<EdgeStatusGet> = object({ reqId: uint() });
export const edgeStatusSchema: Schema<EdgeStatus> = object({
  reqId: uint(),
  blocks: uint(),
  view: uint(),
  executed: uint(),
  stagedTxs: uint(),
  wireBytes: uint(),
  shardBytes: uint(),
  timeMs: uint(),
});

declare module '../../shared/protocol/messages.ts' {
  interface MessageBodies {
    ShardGet: ShardGet;
    ShardData: ShardData;
    EdgeStatusGet: EdgeStatusGet;
    EdgeStatus: EdgeStatus;
  }
}
registerMessageType('ShardGet', shardGetSchema);
registerMessageType('ShardData', shardDataSchema);
registerMessageType('EdgeStatusGet', edgeStatusGetSchema);
registerMessageType('EdgeStatus', edgeStatusSchema);

export type EdgeMessage =
  | LedgerMessage
  | CommitMessage
  | { type: 'ShardGet'; body: ShardGet }
  | { type: 'ShardData'; body: ShardData }
  | { type: 'EdgeStatusGet'; body: EdgeStatusGet }
  | { type: 'EdgeStatus'; body: EdgeStatus };

const TYPES: ReadonlySet<string> = new Set<EdgeMessage['type']>([
  'BlockSignature', 'LedgerSyncRequest', 'LedgerSyncBlocks',
  'PrepareRequest', 'PrepareResponse', 'TxAbort', 'TxCommitted',
  'ShardGet', 'ShardData', 'EdgeStatusGet', 'EdgeStatus',
]);

const LIMITS: DecodeLimits = Object.freeze({
  inputBytesMax: 4 * 1024 * 1024,
  maxStrLength: 4096,
  maxBinLength: 4 * 1024 * 1024,
  maxArrayLength: 256 * 1024,
  maxMapLength: 64,
  maxExtLength: 0,
  depthMax: 12,
});

export function encodeEdgeMessage(message: EdgeMessage): Uint8Array {
  return encodeCanonical({ t: message.type, b: message.body });
}

/** The message in a service frame, or undefined for bytes that are not one (never throws). */
export function decodeEdgeMessage(frame: Uint8Array): EdgeMessage | undefined {
  try {
    const raw = decodeUntrusted(frame, LIMITS) as { t?: unknown; b?: unknown } | null;
    if (!raw || typeof raw.t !== 'string' || !TYPES.has(raw.t)) return undefined;
    const body = defaultRegistry.schemaOf(raw.t)!.parse(raw.b);
    return { type: raw.t, body } as EdgeMessage;
  } catch {
    return undefined;
  }
}
