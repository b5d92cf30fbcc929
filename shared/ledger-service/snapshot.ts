/**
 * The ledger machine's snapshot: the chain tip it builds on and the recent transactions (recent-txs.ts),
 * as canonical MessagePack, so equal states give equal bytes on every replica (the PBFT checkpoint digest
 * covers them):
 *
 *   {v: 1, tip?: {height, hash, time}, txs: [{id, ts, h}, …], members?: [{node, key, h, i}, …]}
 *
 * txs in admission order; `members`, the admitted storage members (ledger/members.ts) in admission order,
 * is left out while there are none, so a cluster that never admitted one snapshots the same bytes as
 * before storage members existed.
 *
 * There is no pending batch in it: the machine seals its batch before snapshotting (checkpoints are taken
 * only after a whole batch ran). Blocks themselves live in the LedgerStore, not in the snapshot.
 */
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../protocol/codec.ts';
import type { AdmittedMember } from '../ledger/members.ts';
import { hash32, nodeIdSchema, txIdSchema } from '../protocol/messages.ts';
import { array, literal, object, optional, parseWith, uint } from '../protocol/schema.ts';
import type { ChainTip } from '../ledger/verify.ts';
import type { RecentTx } from './recent-txs.ts';

export const SNAPSHOT_FORMAT_VERSION = 1;

export interface MachineState {
  tip: ChainTip | undefined;
  txs: [txId: Uint8Array, tx: RecentTx][];
  members: AdmittedMember[];
}

/** Storage members a snapshot holds at most (far above any site: they are gateways of one site). */
const MEMBERS_MAX = 4096;

function schemaFor(txsMax: number) {
  return object({
    v: literal(SNAPSHOT_FORMAT_VERSION),
    tip: optional(object({ height: uint(), hash: hash32, time: uint() })),
    txs: array(object({ id: txIdSchema, ts: uint(), h: uint() }), { max: txsMax }),
    members: optional(array(object({ node: nodeIdSchema, key: hash32, h: uint(), i: uint() }), { max: MEMBERS_MAX })),
  });
}

function limitsFor(txsMax: number): DecodeLimits {
  return {
    inputBytesMax: 256 + txsMax * 96 + MEMBERS_MAX * 320,
    maxStrLength: 255,
    maxBinLength: 64,
    maxArrayLength: Math.max(txsMax, MEMBERS_MAX),
    maxMapLength: 8,
    maxExtLength: 0,
    depthMax: 4,
  };
}

export function encodeMachineState(state: MachineState): Uint8Array {
  return encodeCanonical({
    v: SNAPSHOT_FORMAT_VERSION,
    tip: state.tip && { height: state.tip.height, hash: state.tip.hash, time: state.tip.time },
    txs: state.txs.map(([id, tx]) => ({ id, ts: tx.ts, h: tx.height })),
    ...(state.members.length > 0 ? { members: state.members.map((m) => ({ node: m.node, key: m.publicKey, h: m.height ?? 0, i: m.index ?? 0 })) } : {}),
  });
}

/** Throws ProtocolError on bytes that are not a snapshot of this format (the caller's invariant). */
export function decodeMachineState(bytes: Uint8Array, txsMax: number): MachineState {
  const raw = parseWith(schemaFor(txsMax), decodeUntrusted(bytes, limitsFor(txsMax)), 'ledgerSnapshot');
  return {
    tip: raw.tip,
    txs: raw.txs.map((t) => [t.id, { ts: t.ts, height: t.h }]),
    members: (raw.members ?? []).map((m) => ({ node: m.node, publicKey: m.key, height: m.h, index: m.i })),
  };
}
