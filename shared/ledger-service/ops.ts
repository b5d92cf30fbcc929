/**
 * What goes through consensus to the ledger machine, and what comes back.
 *
 * An op is the canonical MessagePack map of one of:
 *   {op: 'commit', request: CommitRequest}   admit this record into the next block (commit/deadline.ts rule)
 *   {op: 'cut', pastMs}                      make sure the chain has a block with time > pastMs, cutting an
 *                                            empty one if needed (the 2PC shells' `wantLedgerPast`)
 * The result of every op is the canonical map of a LedgerResult: admitted (or cut) into block `height`, or
 * refused with a stable reason code and a sentence. Results are deterministic, so f+1 replicas agree on them.
 */
import { AdmissionReason } from '../commit/deadline.ts';
import { decodeUntrusted, encodeCanonical, type DecodeLimits } from '../protocol/codec.ts';
import { commitRequestSchema, type CommitRequest } from '../protocol/messages.ts';
import { bool, literal, object, oneOf, optional, parseWith, str, uint, type Schema } from '../protocol/schema.ts';

export type LedgerOp = { op: 'commit'; request: CommitRequest } | { op: 'cut'; pastMs: number };

export const LedgerRefusal = {
  ...AdmissionReason,
  /** The op bytes are not a ledger op. */
  malformedOp: 'MALFORMED_OP',
  /** A cut op whose time has not come: the block time (the primary's clock) is not past it yet. */
  tooEarly: 'TOO_EARLY',
  /** Too many transactions inside their deadline window (LedgerMachineOptions.recentTxsMax). */
  ledgerFull: 'LEDGER_FULL',
  /** A storage member's admission record that its rule refuses (ledger/members.ts). */
  badAdmission: 'BAD_ADMISSION',
} as const;
export type LedgerRefusal = (typeof LedgerRefusal)[keyof typeof LedgerRefusal];

export type LedgerResult =
  /** `height`: the block that holds the record (commit), or a block past the asked time (cut). */
  | { ok: true; height: number }
  | { ok: false; reason: LedgerRefusal; message: string };

const commitOpSchema = object({ op: literal('commit'), request: commitRequestSchema });
const cutOpSchema = object({ op: literal('cut'), pastMs: uint() });

const resultSchema: Schema<LedgerResult> = object(
  {
    ok: bool(),
    height: optional(uint()),
    reason: optional(oneOf(Object.values(LedgerRefusal))),
    message: optional(str({ max: 1024 })),
  },
  {
    check: (r) =>
      r.ok && r.height === undefined
        ? ['height', 'a height when ok is true']
        : !r.ok && (r.reason === undefined || r.message === undefined)
          ? ['reason', 'a reason and a message when ok is false']
          : undefined,
  },
) as Schema<LedgerResult>;

export function opDecodeLimits(opBytesMax: number): DecodeLimits {
  return { inputBytesMax: opBytesMax, maxStrLength: 1024, maxBinLength: 64, maxArrayLength: 256 * 1024, maxMapLength: 16, maxExtLength: 0, depthMax: 8 };
}

export function encodeLedgerOp(op: LedgerOp): Uint8Array {
  return encodeCanonical(op);
}

/** Decodes an op from untrusted bytes. Throws ProtocolError (MALFORMED, SCHEMA, OVERSIZE …) only. */
export function decodeLedgerOp(bytes: Uint8Array, limits: DecodeLimits = opDecodeLimits(1024 * 1024)): LedgerOp {
  const raw = decodeUntrusted(bytes, limits);
  const kind = (raw as { op?: unknown } | null)?.op;
  return kind === 'cut' ? parseWith(cutOpSchema, raw, 'op') : parseWith(commitOpSchema, raw, 'op');
}

export function encodeLedgerResult(result: LedgerResult): Uint8Array {
  return encodeCanonical(result);
}

/** Decodes a replica's result bytes (a PBFT reply). Throws ProtocolError on bad bytes. */
export function decodeLedgerResult(bytes: Uint8Array): LedgerResult {
  return parseWith(resultSchema, decodeUntrusted(bytes, opDecodeLimits(4096)), 'result');
}
