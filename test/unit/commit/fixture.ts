/**
 * Shared fixture of the commit unit tests: deterministic Ed25519 keys per node, a spec builder with real
 * shard hashes, and helpers to pick actions out of a step's output.
 */
import { createHash } from 'node:crypto';
import { sign, signingKeyFromSeed, verify, type SigningKeyPair } from '../../../shared/crypto/sign.ts';
import { sha256 } from '../../../shared/protocol/digest.ts';
import type { ShardPut } from '../../../shared/protocol/messages.ts';
import type { CommitOptions, TxSpec } from '../../../shared/commit/index.ts';

const keys = new Map<string, SigningKeyPair>();
export function keyOf(node: string): SigningKeyPair {
  let k = keys.get(node);
  if (!k) keys.set(node, (k = signingKeyFromSeed(new Uint8Array(createHash('sha256').update(`unit-key:${node}`).digest()))));
  return k;
}
export const verifyTx = (signer: string, digest: Uint8Array, signature: Uint8Array): boolean => verify(keyOf(signer).publicKey, digest, signature);
export const signerFor = (node: string) => (digest: Uint8Array): Uint8Array => sign(keyOf(node).privateKey, digest);

export const nodes = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i}`);

export const testOptions: Partial<CommitOptions> = {
  txLifetimeMs: 10_000,
  clockSkewMsMax: 500,
  prepareTimeoutTicks: 5,
  prepareAttemptsMax: 2,
  replaceRoundsMax: 2,
  orderingRetryTicks: 10,
  orderingSubmitsMax: 3,
  ledgerQueryIntervalTicks: 10,
  stagedTimeoutTicks: 50,
};

export function txIdOf(label: string): Uint8Array {
  return sha256(Buffer.from(`tx:${label}`));
}

export function shardsFor(chunkLabel: string, n: number): ShardPut[] {
  const chunk = sha256(Buffer.from(`chunk:${chunkLabel}`));
  return Array.from({ length: n }, (_, index) => {
    const data = new Uint8Array(Buffer.from(`${chunkLabel}/${index}/payload`));
    return { chunk, index, hash: sha256(data), data };
  });
}

export function spec(label: string, k: number, m: number, chunks = 1, ts = 1_000_000): TxSpec {
  const shards = Array.from({ length: chunks }, (_, c) => shardsFor(`${label}-c${c}`, k + m)).flat();
  return { txId: txIdOf(label), ts, account: 'acct-1', snapshotId: `snap-${label}`, manifestRoot: sha256(Buffer.from(label)), dataShards: k, parityShards: m, shards };
}

export function ofKind<A extends { kind: string }, K extends A['kind']>(actions: readonly A[], kind: K): Extract<A, { kind: K }>[] {
  return actions.filter((a): a is Extract<A, { kind: K }> => a.kind === kind);
}
