/**
 * What the requester hears (CommitResponse). Only two answers are final, and both are ledger facts:
 * ok (the record is in a committed block) and ok:false with reason "EXPIRED: …" (the ledger passed the
 * deadline without it). Every other ok:false ("BUSY: …", "INVALID: …", "PLACEMENT_IMPOSSIBLE: …",
 * "RESIDENCY_VIOLATION: …") means "not started": the requester may fix the request or retry.
 */
import type { CommitResponse } from '../protocol/messages.ts';

export const OutcomeCode = {
  expired: 'EXPIRED',
  busy: 'BUSY',
  invalid: 'INVALID',
} as const;

export function isFinalResponse(response: CommitResponse): boolean {
  return response.ok || (response.reason ?? '').startsWith(`${OutcomeCode.expired}:`);
}

export function committedResponse(txId: Uint8Array, height: number, blockHash: Uint8Array): CommitResponse {
  return { txId, ok: true, height, blockHash };
}

export function failedResponse(txId: Uint8Array, code: string, text: string): CommitResponse {
  return { txId, ok: false, reason: `${code}: ${text}`.slice(0, 1024) };
}
