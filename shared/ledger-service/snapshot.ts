/**
 * The ledger machine's snapshot: the chain tip it builds on and the recent transactions (recent-txs.ts),
 * as canonical MessagePack, so equal states give equal bytes on every replica (the PBFT checkpoint digest
 * covers them):
 *
 *   {v: 1, tip?: {height, hash, time}, txs: [{id, ts, h}, …]}   (txs in admission order)
 *
 * There is no pending batch in it: the machine seals its batch before snapshotting (checkpoints are taken
 * only after a whole batch ran). Blocks themselves live in the LedgerStore, not in the snapshot.
 */
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../protocol/codec.ts';
import { hash32, txIdSchema } from '../protocol/messages.ts';
import { array, literal, object, optional, parseWith, uint } from '../protocol/schema.ts';
import type { ChainTip } from '../ledger/verify.ts';
import type { RecentTx } from './recent-txs.ts';

export const SNAPSHOT_FORMAT_VERSION = 1;

export interface MachineState {
  tip: ChainTip | undefined;
  txs: [txId: Uint8Array, tx: RecentTx][];
}

function schemaFor(txsMax: number) {
  return object({
    v: literal(SNAPSHOT_FORMAT_VERSION),
    tip: optional(object({ height: uint(), hash: hash32, time: uint() })),
    txs: array(object({ id: txIdSchema, ts: uint(), h: uint() }), { max: txsMax }),
  });
}

function limitsFor(txsMax: number): DecodeLimits {
  return { inputBytesMax: 256 + txsMax * 96, maxStrLength: 16, maxBinLength: 64, maxArrayLength: txsMax, maxMapLength: 8, maxExtLength: 0, depthMax: 4 };
}

export function encodeMachineState(state: MachineState): Uint8Array {
  return encodeCanonical({
    v: SNAPSHOT_FORMAT_VERSION,
    tip: state.tip && { height: state.tip.height, hash: state.tip.hash, time: state.tip.time },
    txs: state.txs.map(([id, tx]) => ({ id, ts: tx.ts, h: tx.height })),
  });
}

/** Throws ProtocolError on bytes that are not a snapshot of this format (the caller's invariant). */
export function decodeMachineState(bytes: Uint8Array, txsMax: number): MachineState {
  const raw = parseWith(schemaFor(txsMax), decodeUntrusted(bytes, limitsFor(txsMax)), 'ledgerSnapshot');
  return {
    tip: raw.tip,
    txs: raw.txs.map((t) => [t.id, { ts: t.ts, height: t.h }]),
  };
}
