/**
 * The deterministic application of the consensus integration tests and the PBFT benchmark: a counter
 * and a hash chain over every executed operation. The result of an operation is its position in the
 * global order (1-based, 8 bytes) and the first 8 bytes of SHA-256(op), so a client can check
 * exactly-once (positions are distinct and dense) and order (recomputing the chain from its own
 * results must give the replicas' chain).
 */
import { createHash, hash } from 'node:crypto';
import type { Application } from '../../../shared/consensus/index.ts';

const CHAIN_BYTES = 32;

export class ChainApp implements Application {
  count = 0;
  chain: Uint8Array = new Uint8Array(CHAIN_BYTES);

  execute(op: Uint8Array): Uint8Array {
    this.count += 1;
    this.chain = nextChain(this.chain, op);
    const result = new Uint8Array(16);
    const view = new DataView(result.buffer); // the count as 8 bytes big-endian
    view.setUint32(0, Math.floor(this.count / 2 ** 32));
    view.setUint32(4, this.count >>> 0);
    result.set(hash('sha256', op, 'buffer').subarray(0, 8), 8);
    return result;
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(8 + CHAIN_BYTES);
    new DataView(out.buffer).setBigUint64(0, BigInt(this.count));
    out.set(this.chain, 8);
    return out;
  }

  restore(snapshot: Uint8Array): void {
    if (snapshot.length !== 8 + CHAIN_BYTES) throw new Error(`invariant violated: chain snapshot of ${snapshot.length} bytes`);
    this.count = Number(new DataView(snapshot.buffer, snapshot.byteOffset, 8).getBigUint64(0));
    this.chain = snapshot.slice(8);
  }

  digest(): string {
    return Buffer.from(this.chain).toString('hex');
  }
}

export function nextChain(chain: Uint8Array, op: Uint8Array): Uint8Array {
  return createHash('sha256').update(chain).update(op).digest();
}

/** The chain after executing `ops` in order from the initial state, as hex. */
export function chainOf(ops: readonly Uint8Array[]): string {
  let chain: Uint8Array = new Uint8Array(CHAIN_BYTES);
  for (const op of ops) chain = nextChain(chain, op);
  return Buffer.from(chain).toString('hex');
}

export interface ChainResult {
  /** 1-based position in the global order. */
  readonly index: number;
  readonly opHashHex: string;
}

export function decodeChainResult(result: Uint8Array): ChainResult {
  if (result.length !== 16) throw new Error(`a chain result is 16 bytes, got ${result.length}`);
  const view = new DataView(result.buffer, result.byteOffset, result.byteLength);
  return { index: Number(view.getBigUint64(0)), opHashHex: Buffer.from(result.subarray(8)).toString('hex') };
}

export function opHashHex(op: Uint8Array): string {
  return createHash('sha256').update(op).digest().subarray(0, 8).toString('hex');
}

/**
 * Checks a set of (op, result) pairs against exactly-once and order: every result echoes its op,
 * positions are distinct, and, when they are 1..count, returns the chain those ops give in that order.
 */
export function checkResults(pairs: readonly { op: Uint8Array; result: Uint8Array }[]): { problems: string[]; chain: string | undefined } {
  const problems: string[] = [];
  const byIndex = new Map<number, Uint8Array>();
  for (const { op, result } of pairs) {
    const r = decodeChainResult(result);
    if (r.opHashHex !== opHashHex(op)) problems.push(`result at ${r.index} does not echo its op`);
    if (byIndex.has(r.index)) problems.push(`two requests got position ${r.index}`);
    byIndex.set(r.index, op);
  }
  const ordered: Uint8Array[] = [];
  for (let i = 1; i <= byIndex.size; i++) {
    const op = byIndex.get(i);
    if (!op) return { problems, chain: undefined };
    ordered.push(op);
  }
  return { problems, chain: chainOf(ordered) };
}
